"""The repository's shared webhook on Bitbucket Cloud (the story of test_shared_hooks.py, on the Bitbucket fake)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.functional.test_bitbucket_flow import TEAM, bb  # noqa: F401 - fixture, reused
from tests.functional.test_shared_hooks import share_one_hook
from tests.support.fake_bitbucket import FakeBitbucket
from tests.support.fake_gitlab import fake_sha
from tests.support.inprocess import System


def test_bitbucket_repository_hook_is_shared(bb: tuple[System, FakeBitbucket, dict[str, Any]]) -> None:  # noqa: F811
    system, fake, world = bb
    admin = system.token({TEAM: "admin"})
    connection = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin, body={
        "provider": "bitbucket", "workspace": "acme", "username": "alice@example.com",
        "api_token": fake.api_token(world["alice"])}).json()
    repo = fake.add_repo(world["acme"], f"shared-{uuid.uuid4().hex[:6]}", branches={"main": fake_sha("b-main")})
    repository = f"acme/{repo.slug}"

    def push_file(content: str) -> list[int]:
        before = repo.branches["main"]
        after = fake.put_file(repo, "main", "deploy.json", content.encode())
        return [status for _, status in fake.send_push(repo, [{"branch": "main", "old": before, "new": after}])]

    share_one_hook(system, TEAM, admin, connection["id"], repository, lambda: len(repo.hooks), push_file)

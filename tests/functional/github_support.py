"""GitHub test plumbing: a fake GitHub wired into the in-process system, and real octokit example payloads
re-addressed to the fake's installation and repository, signed at test time."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.functional.conftest import system_with
from tests.support.fake_github import FakeGitHub, FakeRepo, rsa_key_pair
from tests.support.inprocess import Reply, System
from tests.support.registry import github_webhook_examples

WEBHOOK_SECRET = "It's a Secret to Everybody"
DASHBOARD = "https://dashboard.example.test/git"


@contextmanager
def github_system() -> Iterator[tuple[System, FakeGitHub]]:
    private_pem, public_pem = rsa_key_pair()
    with FakeGitHub(public_key_pem=public_pem) as fake:
        env = {
            "GITHUB_APP_ID": fake.app_id, "GITHUB_APP_SLUG": fake.app_slug, "GITHUB_CLIENT_ID": fake.client_id,
            "GITHUB_CLIENT_SECRET": fake.client_secret, "GITHUB_APP_PRIVATE_KEY": private_pem,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET, "GITHUB_API_URL": fake.api_url, "GITHUB_WEB_URL": fake.web_url,
            "GITCONNECT_DASHBOARD_URL": DASHBOARD,
        }
        with system_with(env) as system:
            yield system, fake


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(system: System, event: str, payload: Any, *, delivery_id: str | None = None,
            secret: str = WEBHOOK_SECRET, raw: bytes | None = None) -> Reply:
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"x-github-event": event, "x-github-delivery": delivery_id or str(uuid.uuid4()),
               "x-hub-signature-256": sign(body, secret), "user-agent": "GitHub-Hookshot/test"}
    return system.call("POST", "/v1/webhooks/github", raw_body=body, headers=headers)


def example(event: str, *, action: str | None = None, where: Any = None) -> dict[str, Any]:
    """A real example payload of `event` (with `action`, and for which `where(payload)` holds), deep-copied."""
    for payload in github_webhook_examples()[event]:
        if action is not None and payload.get("action") != action:
            continue
        if where is not None and not where(payload):
            continue
        return copy.deepcopy(payload)
    raise LookupError(f"no {event} example with action={action}")


def readdress(payload: dict[str, Any], installation_id: int, repo: FakeRepo) -> dict[str, Any]:
    """Point a real payload at the fake's installation and repository (ids, names, owner)."""
    payload["installation"] = {**(payload.get("installation") or {}), "id": installation_id}
    repository = payload.get("repository")
    if isinstance(repository, dict):
        repository.update({"id": repo.id, "name": repo.name, "full_name": repo.full_name,
                           "clone_url": f"https://github.example/{repo.full_name}.git"})
        repository["owner"] = {**(repository.get("owner") or {}), "login": repo.owner}
    pr = payload.get("pull_request")
    if isinstance(pr, dict):
        head_repo, base_repo = pr["head"].get("repo"), pr["base"].get("repo") or {}
        same_repo = bool(head_repo) and head_repo.get("id") == base_repo.get("id")
        pr["base"]["repo"] = {**base_repo, "id": repo.id, "full_name": repo.full_name}
        if same_repo:
            pr["head"]["repo"] = {**head_repo, "id": repo.id, "full_name": repo.full_name}
    return payload

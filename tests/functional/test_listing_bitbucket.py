"""Browsing a Bitbucket workspace of 310 repositories through the real handlers and the faithful fake: every
repository once through the cursors (Bitbucket's `next` links, pagelen 100), ⌈n/100⌉ provider calls cold and none
warm, `confirmed: false` until an admin answers PUT …/restrictions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.conftest import system_with
from tests.functional.listing_support import TEAM, refused, walk
from tests.support.fake_bitbucket import FakeBitbucket

# -- Bitbucket: 310 repositories in one workspace ------------------------------------------------------------------


@pytest.fixture(scope="module")
def bucket() -> Iterator[dict[str, Any]]:
    with FakeBitbucket() as fake, system_with({"BITBUCKET_API_URL": fake.api_url,
                                             "BITBUCKET_WEB_URL": fake.web_url}) as system:
        alice = fake.add_user("alice", email="alice@example.com")
        acme = fake.add_workspace("acme", members=[alice])
        for n in range(310):
            fake.add_repo(acme, f"repo-{n:03d}")
        admin = system.token({TEAM: "admin"})
        reply = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin, body={
            "provider": "bitbucket", "workspace": "acme", "username": "alice@example.com",
            "api_token": fake.api_token(alice)})
        assert reply.status == 201, reply.body
        yield {"system": system, "fake": fake, "admin": admin, "connection": reply.json(),
               "base": f"/v1/teams/{TEAM}/connections/{reply.json()['id']}"}


def test_bitbucket_every_repository_once_cold_then_warm(bucket: dict[str, Any]) -> None:
    system, fake, admin = bucket["system"], bucket["fake"], bucket["admin"]
    fake.clear_log()
    items, pages = walk(system, admin, f"{bucket['base']}/repositories", limit=100)
    names = [r["full_name"] for r in items]
    assert names == [f"acme/repo-{n:03d}" for n in range(310)] and pages == 4
    calls = [c for c in fake.requests("GET", "/repositories/acme") if c.path == "/repositories/acme"]
    assert len(calls) == 4  # ⌈310/100⌉, following `next`
    assert calls[0].query["pagelen"] == ["100"]
    assert [r["full_name"] for r in walk(system, admin, f"{bucket['base']}/repositories?search=-30")[0]] == [
        f"acme/repo-{n:03d}" for n in range(300, 310)]
    assert len([c for c in fake.requests("GET", "/repositories/acme") if c.path == "/repositories/acme"]) == 4


def test_bitbucket_asks_for_restrictions_until_an_admin_answers(bucket: dict[str, Any]) -> None:
    system, admin, base = bucket["system"], bucket["admin"], bucket["base"]
    assert bucket["connection"]["restrictions"] == {"mode": "unrestricted", "confirmed": False}
    refused(system.call("PUT", f"{base}/restrictions", token=admin,
                        body={"mode": "restricted", "namespaces": ["nowhere"]}), 422)
    assert system.call("GET", base, token=admin).json()["restrictions"]["confirmed"] is False
    put = system.call("PUT", f"{base}/restrictions", token=admin, body={"mode": "unrestricted"})
    assert put.json()["restrictions"] == {"mode": "unrestricted", "confirmed": True}
    assert system.call("GET", base, token=admin).json()["restrictions"]["confirmed"] is True

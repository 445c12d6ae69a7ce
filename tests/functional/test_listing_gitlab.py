"""Browsing a GitLab account of 320 projects (two groups and a subgroup) through the real handlers and the faithful
fake: every project once through the cursors, ⌈n/100⌉ provider calls cold and none warm, `confirmed: false` until an
admin answers PUT …/restrictions, unreachable namespaces refused, namespaces marked allowed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.conftest import system_with
from tests.functional.listing_support import TEAM, refused, walk
from tests.support.fake_gitlab import FakeGitLab

# -- GitLab: 320 projects in two groups and a subgroup -------------------------------------------------------------


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, Any]]:
    with FakeGitLab() as fake, system_with({"GITLAB_URL": fake.base_url}) as system:
        alice = fake.add_user("alice")
        acme, tools = fake.add_group("acme"), fake.add_group("tools")
        platform = fake.add_group("platform", parent=acme)
        for group in (acme, tools, platform):
            fake.add_member(alice, group)
        fake.add_group("strangers")  # exists, alice is no member
        for n in range(320):
            fake.add_project((acme, tools, platform)[n % 3], f"{'Svc' if n % 2 else 'svc'}-{n:03d}")
        admin = system.token({TEAM: "admin"})
        reply = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin,
                            body={"provider": "gitlab", "token": fake.personal_token(alice)})
        assert reply.status == 201, reply.body
        yield {"system": system, "fake": fake, "admin": admin, "connection": reply.json(),
               "base": f"/v1/teams/{TEAM}/connections/{reply.json()['id']}"}


def test_gitlab_every_project_once_cold_then_warm(lab: dict[str, Any]) -> None:
    system, fake, admin = lab["system"], lab["fake"], lab["admin"]
    fake.clear_log()
    items, pages = walk(system, admin, f"{lab['base']}/repositories", limit=30)
    names = [r["full_name"] for r in items]
    assert len(names) == 320 == len(set(names)) and pages == 11
    assert names == sorted(names, key=str.casefold)
    calls = [c for c in fake.requests("GET", "/projects") if c.path == "/projects"]
    assert len(calls) == 4 and all(c.query["per_page"] == ["100"] for c in calls)  # ⌈320/100⌉
    assert len(walk(system, admin, f"{lab['base']}/repositories?search=SVC-31")[0]) == 10  # 310-319, all pages
    assert len([c for c in fake.requests("GET", "/projects") if c.path == "/projects"]) == 4


def test_gitlab_asks_for_restrictions_until_an_admin_answers(lab: dict[str, Any]) -> None:
    system, admin, base = lab["system"], lab["admin"], lab["base"]
    assert lab["connection"]["restrictions"] == {"mode": "unrestricted", "confirmed": False}
    assert system.call("GET", base, token=admin).json()["restrictions"]["confirmed"] is False
    problem = refused(system.call("PUT", f"{base}/restrictions", token=admin,
                                  body={"mode": "restricted", "namespaces": ["acme", "strangers"]}), 422)
    assert problem["unreachable"] == ["strangers"]
    assert system.call("GET", base, token=admin).json()["restrictions"]["confirmed"] is False  # nothing stored
    put = system.call("PUT", f"{base}/restrictions", token=admin, body={"mode": "restricted", "namespaces": ["acme"]})
    assert put.status == 200, put.body
    assert put.json()["restrictions"] == {"mode": "restricted", "namespaces": ["acme"], "confirmed": True}
    namespaces = system.call("GET", f"{base}/namespaces", token=admin).json()["items"]
    assert {n["name"]: n["allowed"] for n in namespaces} == {"alice": False, "acme": True, "acme/platform": True,
                                                             "tools": False}
    allowed = [r["full_name"] for r in walk(system, admin, f"{base}/repositories", limit=45)[0]]
    assert len(allowed) == 213 and all(n.startswith("acme/") for n in allowed)  # acme and acme/platform
    answered = system.call("PUT", f"{base}/restrictions", token=admin, body={"mode": "unrestricted"}).json()
    assert answered["restrictions"] == {"mode": "unrestricted", "confirmed": True}
    assert len(walk(system, admin, f"{base}/repositories")[0]) == 320

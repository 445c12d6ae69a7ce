"""Browsing a GitHub installation of 5 000 repositories (one with 1 200 branches) through the real handlers and the
faithful fake: every item listed exactly once through the cursors, `search` over all of them, provider calls counted
cold (⌈n/100⌉) and warm (none), the cache dropped when restrictions change and when GitHub says the installation's
repositories changed, bad cursors and limits refused (400, nothing stored), unreachable restrictions refused (422)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.functional.github_support import deliver, example, github_system
from tests.functional.listing_support import TEAM, refused, reissued, walk
from tests.functional.test_github_flow import install
from tests.support.fake_github import FakeGitHub, fake_sha

OTHER_TEAM = "scale-other"
GITHUB_REPOS = 5_000
BRANCHES = 1_200


def github_name(n: int) -> str:
    """Mixed case, so that the order is case-insensitive (`App-0003` sorts between `app-0002` and `app-0004`)."""
    return f"octo-org/{'App' if n % 3 == 0 else 'app'}-{n:04d}"


# -- GitHub: 5 000 repositories, 1 200 branches ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gh() -> Iterator[dict[str, Any]]:
    with github_system() as (system, fake):
        admin = system.token({TEAM: "admin"}, sub="octocat")
        installation = fake.add_installation("octo-org")
        for n in range(GITHUB_REPOS):
            fake.add_repo(installation, github_name(n))
        big = fake.add_repo(installation, "octo-org/monorepo",
                            branches={f"topic/{n:04d}": fake_sha(f"topic {n}") for n in range(BRANCHES)})
        outcome = install(system, fake, admin, installation, user_installs=[installation], team=TEAM)
        assert outcome["outcome"] == ["linked"], outcome
        yield {"system": system, "fake": fake, "admin": admin, "installation": installation, "big": big,
               "connection_id": outcome["connection_id"][0],
               "base": f"/v1/teams/{TEAM}/connections/{outcome['connection_id'][0]}"}


def listing_calls(fake: FakeGitHub) -> int:
    return len(fake.requests("GET", "/installation/repositories"))


def test_every_repository_once_in_order_cold_then_warm(gh: dict[str, Any]) -> None:
    system, fake, admin = gh["system"], gh["fake"], gh["admin"]
    system.call("PUT", f"{gh['base']}/restrictions", token=admin, body={"mode": "unrestricted"})  # a cold start
    fake.clear_log()
    first = system.call("GET", f"{gh['base']}/repositories?limit=100", token=admin).json()
    assert len(first["items"]) == 100 and first["next_cursor"]
    cold = listing_calls(fake)
    assert cold == -(-(GITHUB_REPOS + 1) // 100)  # ⌈5 001/100⌉ = 51: every page, 100 at a time
    assert all(r.query["per_page"] == ["100"] for r in fake.requests("GET", "/installation/repositories"))
    items, pages = walk(system, admin, f"{gh['base']}/repositories")
    assert listing_calls(fake) == cold  # the next pages and a whole second listing: warm, no provider call
    names = [r["full_name"] for r in items]
    assert len(names) == GITHUB_REPOS + 1 == len(set(names)) and pages == 51
    assert names == sorted(names, key=str.casefold)
    assert set(names) == {github_name(n) for n in range(GITHUB_REPOS)} | {"octo-org/monorepo"}
    assert items[0] == {**items[0], "full_name": github_name(0), "namespace": "octo-org", "default_branch": "main"}
    # The default page is 50
    assert len(system.call("GET", f"{gh['base']}/repositories", token=admin).json()["items"]) == 50
    assert listing_calls(fake) == cold


def test_search_matches_across_every_repository(gh: dict[str, Any]) -> None:
    system, admin = gh["system"], gh["admin"]
    # app-4000 to app-4999 (either case): 1 000 matches, far beyond the first page of the listing
    found, pages = walk(system, admin, f"{gh['base']}/repositories?search=P-4", limit=100)
    expected = sorted((github_name(n) for n in range(GITHUB_REPOS) if github_name(n).lower().startswith(
        "octo-org/app-4")), key=str.casefold)
    assert [r["full_name"] for r in found] == expected and len(expected) == 1_000 and pages == 10
    assert [r["full_name"] for r in walk(system, admin, f"{gh['base']}/repositories?search=-4999")[0]] == [
        github_name(4999)]
    assert walk(system, admin, f"{gh['base']}/repositories?search=nothing-like-this")[0] == []


def test_branches_page_the_same_way(gh: dict[str, Any]) -> None:
    system, fake, admin = gh["system"], gh["fake"], gh["admin"]
    fake.clear_log()
    url = f"{gh['base']}/branches?repository=octo-org/monorepo"
    branches, pages = walk(system, admin, url)
    names = [b["name"] for b in branches]
    assert len(names) == BRANCHES == len(set(names)) and pages == 12
    assert names == sorted(names) and branches[7] == {"name": "topic/0007", "sha": fake_sha("topic 7")}
    cold = len(fake.requests("GET", "/repos/octo-org/monorepo/branches")) + len(
        fake.requests("GET", f"/repositories/{gh['big'].id}/branches"))
    assert cold == BRANCHES // 100
    assert walk(system, admin, url, limit=37)[0] == branches
    warm = len(fake.requests("GET", "/repos/octo-org/monorepo/branches")) + len(
        fake.requests("GET", f"/repositories/{gh['big'].id}/branches"))
    assert warm == cold
    # A branches cursor is bound to its repository
    cursor = system.call("GET", f"{url}&limit=10", token=admin).json()["next_cursor"]
    other = system.call("GET", f"{gh['base']}/branches?repository={github_name(1)}&cursor={cursor}", token=admin)
    assert "list again from the first page" in refused(other)["detail"]


def test_an_installation_repositories_delivery_drops_the_cache(gh: dict[str, Any]) -> None:
    system, fake, admin = gh["system"], gh["fake"], gh["admin"]
    walk(system, admin, f"{gh['base']}/repositories")
    fake.clear_log()
    fake.add_repo(gh["installation"], "octo-org/0-newcomer")
    assert walk(system, admin, f"{gh['base']}/repositories?search=newcomer")[0] == []  # cached: not yet seen
    assert listing_calls(fake) == 0
    changed = example("installation_repositories", action="added")
    changed["installation"] = {**changed["installation"], "id": gh["installation"]}
    assert deliver(system, "installation_repositories", changed).status == 202
    system.drain("EventRouterFunction")
    first = system.call("GET", f"{gh['base']}/repositories?limit=1", token=admin).json()
    assert [r["full_name"] for r in first["items"]] == ["octo-org/0-newcomer"]
    assert listing_calls(fake) == 51


def test_a_restrictions_change_drops_the_cache(gh: dict[str, Any]) -> None:
    system, fake, admin = gh["system"], gh["fake"], gh["admin"]
    walk(system, admin, f"{gh['base']}/repositories?search=monorepo")
    fake.clear_log()
    walk(system, admin, f"{gh['base']}/repositories?search=monorepo")
    assert listing_calls(fake) == 0
    put = system.call("PUT", f"{gh['base']}/restrictions", token=admin,
                      body={"mode": "restricted", "namespaces": ["Octo-Org"]})
    assert put.status == 200 and put.json()["restrictions"]["confirmed"] is True
    assert walk(system, admin, f"{gh['base']}/repositories?search=monorepo")[0][0]["full_name"] == "octo-org/monorepo"
    # The PUT read the namespaces (the installation's account: one call, not a listing), and bumped the listing
    # epoch: the listing after it is cold again
    assert listing_calls(fake) == 51
    assert len(fake.requests("GET", f"/app/installations/{gh['installation']}")) == 1
    namespaces = system.call("GET", f"{gh['base']}/namespaces", token=admin).json()
    assert namespaces == {"items": [{"name": "octo-org", "allowed": True}]}
    system.call("PUT", f"{gh['base']}/restrictions", token=admin, body={"mode": "unrestricted"})


def test_bad_cursors_and_limits_are_400s_and_store_nothing(gh: dict[str, Any]) -> None:
    system, fake, admin = gh["system"], gh["fake"], gh["admin"]
    base = gh["base"]
    before = system.call("GET", base, token=admin).json()
    cursor = system.call("GET", f"{base}/repositories?limit=5", token=admin).json()["next_cursor"]
    assert system.call("GET", f"{base}/repositories?limit=5&cursor={cursor}", token=admin).status == 200
    # Another connection of the same team, and the same installation linked by another team
    second = fake.add_installation("octo-two")
    fake.add_repo(second, "octo-two/one")
    linked = install(system, fake, admin, second, user_installs=[second], team=TEAM)
    other_admin = system.token({OTHER_TEAM: "admin"}, sub="octocat")
    elsewhere = install(system, fake, other_admin, gh["installation"], user_installs=[gh["installation"]],
                        team=OTHER_TEAM)
    garbled = ["!!!", "bm90IGpzb24", base64.urlsafe_b64encode(b'{"t": 1}').decode(), cursor[:-3],
               reissued(cursor, at="yesterday"), reissued(cursor, after=[]), reissued(cursor, after=[1, 2]),
               reissued(cursor, at=9_999_999_999)]
    for bad in garbled:
        problem = refused(system.call("GET", f"{base}/repositories?cursor={quote(bad)}", token=admin))
        assert "list again from the first page" in problem["detail"], (bad, problem)
    for foreign in (f"/v1/teams/{TEAM}/connections/{linked['connection_id'][0]}",
                    f"/v1/teams/{OTHER_TEAM}/connections/{elsewhere['connection_id'][0]}"):
        token = other_admin if OTHER_TEAM in foreign else admin
        assert system.call("GET", f"{foreign}/repositories", token=token).status == 200
        problem = refused(system.call("GET", f"{foreign}/repositories?cursor={cursor}", token=token))
        assert "not valid for this listing" in problem["detail"]
    stale = reissued(cursor, at=json.loads(base64.urlsafe_b64decode(cursor + "==="))["k"]["at"] - 301)
    problem = refused(system.call("GET", f"{base}/repositories?cursor={stale}", token=admin))
    assert "older than the listing's cache lifetime (300 s)" in problem["detail"]
    for limit in ("0", "101", "-1", "fifty"):
        refused(system.call("GET", f"{base}/repositories?limit={limit}", token=admin))
        refused(system.call("GET", f"{base}/branches?repository=octo-org/monorepo&limit={limit}", token=admin))
    refused(system.call("GET", f"{base}/repositories?cursor={'x' * 2049}", token=admin))
    assert system.call("GET", base, token=admin).json() == before


def test_github_restrictions_are_confirmed_and_unreachable_ones_refused(gh: dict[str, Any]) -> None:
    system, admin, base = gh["system"], gh["admin"], gh["base"]
    assert system.call("GET", base, token=admin).json()["restrictions"]["confirmed"] is True
    problem = refused(system.call("PUT", f"{base}/restrictions", token=admin,
                                  body={"mode": "restricted", "namespaces": ["octo-org", "elsewhere"]}), 422)
    assert problem["unreachable"] == ["elsewhere"] and "elsewhere" in problem["detail"]
    assert system.call("GET", base, token=admin).json()["restrictions"] == {"mode": "unrestricted", "confirmed": True}

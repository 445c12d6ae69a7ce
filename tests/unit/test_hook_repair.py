"""HookRepair on the in-memory ports, with a stub provider whose webhooks gitconnect manages: a hook deleted or
disabled on the provider's side is recreated with the same URL and secret, and what was pushed meanwhile is built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

import pytest

from gitconnect.domain.errors import RemoteUnreachableError
from gitconnect.domain.events import RepoRef
from gitconnect.domain.ids import stable_id
from gitconnect.domain.models import Connection, Hook, Source
from gitconnect.providers.base import Access, Branch, Provider
from gitconnect.services.builds import new_build
from gitconnect.services.hooks import HookService
from gitconnect.services.repair import HookRepair
from gitconnect.services.secrets import ConnectionSecrets
from tests.support.memory import MemoryBuilds, MemoryConnections, MemoryHooks, MemorySources, PlainCipher, Recorder

OLD, NEW = "1" * 40, "2" * 40
PUBLIC_URL = "https://gitconnect.example.com"
NOW = 1_800_000_000.0
CONNECTION = Connection(team_id="t1", id="con_1", provider="gitlab", name="acme", account="acme", base_url=None,
                        status="active", created_at="t", account_key="gitlab#1")
SOURCE = Source(team_id="t1", id="src_1", name="app", connection_id="con_1", provider="gitlab",
                repository="acme/app", clone_url="https://gitlab.example.com/acme/app.git", branches=("main",),
                created_at="t", updated_at="t", repository_id="5")


@dataclass
class StubHooks:
    """The provider's side: its webhooks (id -> {url, secret, health}) and branch heads."""

    hooks: dict[str, dict[str, str]] = field(default_factory=dict)
    heads: dict[str, str] = field(default_factory=lambda: {"main": NEW, "feature": NEW})
    calls: list[str] = field(default_factory=list)
    down: bool = False

    def create_webhook(self, access: Access, repo: RepoRef, url: str, secret: str) -> str:
        remote_id = str(100 + len(self.hooks))
        self.calls.append(f"create {remote_id}")
        self.hooks[remote_id] = {"url": url, "secret": secret, "health": "ok"}
        return remote_id

    def update_webhook(self, access: Access, repo: RepoRef, hook_id: str, url: str, secret: str) -> bool:
        raise AssertionError("the repair never updates a hook")

    def delete_webhook(self, access: Access, repo: RepoRef, hook_id: str) -> bool:
        self.calls.append(f"delete {hook_id}")
        return self.hooks.pop(hook_id, None) is not None

    def webhook_health(self, access: Access, repo: RepoRef, hook_id: str) -> str:
        self.calls.append(f"health {hook_id}")
        if self.down:
            raise RemoteUnreachableError("the provider could not be reached")
        return self.hooks[hook_id]["health"] if hook_id in self.hooks else "missing"

    def branches(self, access: Access, repository: str) -> list[Branch]:
        return [Branch(name, sha) for name, sha in sorted(self.heads.items())]


class NoManagedHooks:
    """The registry's other providers: no webhooks of gitconnect's own."""


@dataclass
class Given:
    repair: HookRepair
    hooks: MemoryHooks
    queue: Recorder
    provider: StubHooks
    secret_of: Callable[[], str]


def given(*, health: str = "ok", status: str = "active", checked_at: float | None = None,
          last_built: str | None = OLD) -> Given:
    provider, cipher = StubHooks(), PlainCipher()
    secrets = ConnectionSecrets(cipher)
    hook = Hook(id="hook_1", team_id="t1", connection_id="con_1", source_id="src_1", provider="gitlab",
                repository_id="5", repository="acme/app", provider_hook_id="9",
                secret=secrets.seal_hook_secret("t1", "hook_1", "s3cret"), secret_version=1, created_at="t",
                checked_at=checked_at)
    if health != "missing":
        provider.hooks["9"] = {"url": f"{PUBLIC_URL}/v1/webhooks/gitlab/hook_1", "secret": "s3cret", "health": health}
    builds = MemoryBuilds()
    if last_built is not None:
        builds.put_if_absent(new_build(SOURCE, ref="refs/heads/main", sha=last_built, trigger="push",
                                       requested_by=None, build_id="bld_last"))
    hooks, queue = MemoryHooks(hook), Recorder()
    providers = cast(Callable[[str], Provider], lambda pid: provider if pid == "gitlab" else NoManagedHooks())
    service = HookService(hooks, secrets, providers, PUBLIC_URL)
    repair = HookRepair(hooks, service, MemoryConnections(replace(CONNECTION, status=status)), MemorySources(SOURCE),
                        builds, secrets, providers, queue, interval_seconds=600, clock=lambda: NOW)
    return Given(repair, hooks, queue, provider, lambda: secrets.open_hook_secret(hooks.items["hook_1"]))


@pytest.mark.parametrize(("health", "calls"), [
    ("missing", ["health 9", "create 100"]),  # deleted on the provider's side
    ("disabled", ["health 9", "delete 9", "create 100"]),  # disabled after failed deliveries: replaced
])
def test_a_broken_hook_is_recreated_with_its_url_and_secret(health: str, calls: list[str]) -> None:
    # Given a hook the provider lost or disabled
    g = given(health=health)
    # When the scheduled sync runs the repair
    report = g.repair.check("hook_1")
    # Then the provider has a new hook with the same URL and secret, and the record points at it
    assert g.provider.calls == calls
    assert g.provider.hooks == {"100": {"url": f"{PUBLIC_URL}/v1/webhooks/gitlab/hook_1", "secret": "s3cret",
                                        "health": "ok"}}
    assert g.hooks.items["hook_1"].provider_hook_id == "100" and g.secret_of() == "s3cret"
    assert (report.checked, report.recreated, report.failed) == (1, ["hook_1"], {})
    assert g.hooks.items["hook_1"].checked_at == NOW


@pytest.mark.parametrize(("last_built", "missed"), [
    (OLD, [("refs/heads/main", NEW, OLD)]),  # main moved since its last build; feature is not watched
    (NEW, []),  # the last build is the head: nothing was missed
    (None, []),  # never built and never polled: nothing to compare with
])
def test_what_was_pushed_while_the_hook_was_gone_is_built(last_built: str | None,
                                                          missed: list[tuple[str, str, str]]) -> None:
    g = given(health="missing", last_built=last_built)
    report = g.repair.check("hook_1")
    assert [(b.ref, b.sha, b.trigger) for b in g.queue.sent] == [(ref, sha, "push") for ref, sha, _ in missed]
    # the router's id for that push: if the delivery turns up after all, it requests this same build
    assert [b.id for b in g.queue.sent] == [stable_id("bld", "src_1", "push", ref, sha, before)
                                            for ref, sha, before in missed]
    assert report.builds == [b.id for b in g.queue.sent]


@pytest.mark.parametrize(("changes", "checked", "calls"), [
    ({"health": "ok"}, 1, ["health 9"]),  # healthy: left alone
    ({"health": "missing", "checked_at": NOW - 60}, 0, []),  # checked a minute ago: not yet again
    ({"health": "missing", "status": "suspended"}, 0, []),  # the connection waits to be linked again
])
def test_hooks_left_alone(changes: dict[str, Any], checked: int, calls: list[str]) -> None:
    g = given(**changes)
    report = g.repair.check("hook_1")
    assert (report.checked, report.recreated, g.provider.calls, g.queue.sent) == (checked, [], calls, [])


def test_a_provider_outage_is_reported_and_the_hook_tried_again_next_interval() -> None:
    g = given(health="missing")
    g.provider.down = True
    report = g.repair.check("hook_1")
    assert report.failed == {"hook_1": "the provider could not be reached"} and report.recreated == []
    assert g.hooks.items["hook_1"].checked_at == NOW

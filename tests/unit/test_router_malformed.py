"""The router and a delivery it cannot normalize (issue 17): logged `rejected` with the reason for the teams it
concerns, and acknowledged (returned, not raised) so that it never ends in the events DLQ. Our own failures (tables,
queue, provider API) still raise, so that the delivery is retried. In-memory fakes: no AWS, no network."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import pytest

from gitconnect.domain.deliveries import QueuedDelivery, decode
from gitconnect.domain.errors import MalformedPayloadError, RemoteUnreachableError
from gitconnect.domain.events import RepoRef, WebhookEvent
from gitconnect.domain.models import Build, Connection, Delivery, Hook, Source
from gitconnect.providers.base import Access
from gitconnect.providers.base import Provider as BaseProvider
from gitconnect.providers.github import webhooks as github
from gitconnect.providers.gitlab import webhooks as gitlab
from gitconnect.services.router import REGENERATED_SINCE, EventRouter
from gitconnect.services.secrets import ConnectionSecrets

SHA_A, SHA_B = "a" * 40, "b" * 40
REPO = {"id": 7, "full_name": "octo-org/app", "owner": {"login": "octo-org"}}
PUSH = {"ref": "refs/heads/main", "before": SHA_A, "after": SHA_B, "created": False, "deleted": False,
        "commits": [], "head_commit": None, "repository": REPO, "installation": {"id": 42}}


def connection(team: str, cid: str, provider: str = "github", key: str = "github#42") -> Connection:
    return Connection(team_id=team, id=cid, provider=provider, name="octo-org", account="octo-org", base_url=None,
                      status="active", created_at="t", account_key=key)


HOOK = Hook(id="hook_1", team_id="lab-team", connection_id="con_lab", source_id="src_lab", provider="gitlab",
            repository_id="5", repository="acme/app", provider_hook_id="9", secret=b"", secret_version=2,
            created_at="t")


class Connections:
    def __init__(self, *items: Connection) -> None:
        self.items = list(items)

    def get(self, team_id: str, connection_id: str) -> Connection | None:
        return next((c for c in self.items if (c.team_id, c.id) == (team_id, connection_id)), None)

    def by_account(self, account_key: str) -> list[Connection]:
        return [c for c in self.items if c.account_key == account_key]

    def update_status(self, team_id: str, connection_id: str, status: str) -> bool:
        return True


class NoSources:
    def for_repository(self, provider: str, repository_id: str) -> list[Source]:
        return []


class Hooks:
    def __init__(self, *hooks: Hook, fail: Exception | None = None) -> None:
        self.hooks, self.fail = {h.id: h for h in hooks}, fail

    def get(self, hook_id: str) -> Hook | None:
        if self.fail:
            raise self.fail
        return self.hooks.get(hook_id)


class Log:
    def __init__(self, fail: Exception | None = None) -> None:
        self.entries: list[Delivery] = []
        self.fail = fail

    def put_many(self, deliveries: Sequence[Delivery]) -> None:
        if self.fail:
            raise self.fail
        self.entries.extend(deliveries)


class Queue:
    def __init__(self) -> None:
        self.sent: list[Build] = []

    def send(self, builds: Sequence[Build]) -> None:
        self.sent.extend(builds)


class Provider:
    """A provider whose `normalize` is the given function (the real normalizers, or one that fails)."""

    def __init__(self, normalize: Callable[[str, Any], Any]) -> None:
        self._normalize = normalize
        self.calls = 0

    def normalize(self, event: str, payload: Mapping[str, Any]) -> WebhookEvent | tuple[WebhookEvent, ...]:
        self.calls += 1
        result: WebhookEvent | tuple[WebhookEvent, ...] = self._normalize(event, payload)
        return result

    def changed_files(self, access: Access, repo: RepoRef, before: str | None, after: str) -> list[str] | None:
        raise AssertionError("no API call expected")

    def tag_commit(self, access: Access, repo: RepoRef, tag: str) -> str | None:
        raise AssertionError("no API call expected")


class NoCipher:
    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> bytes:
        raise AssertionError("no secret expected")

    def decrypt(self, blob: bytes, context: dict[str, str]) -> bytes:
        raise AssertionError("no secret expected")


def router(provider: Provider, *, connections: Connections | None = None, hooks: Hooks | None = None,
           log: Log | None = None) -> tuple[EventRouter, Log]:
    log = log or Log()
    providers = cast(Callable[[str], BaseProvider], lambda _: provider)  # the router needs only its webhooks
    made = EventRouter(connections or Connections(), NoSources(), log, Queue(), providers,
                       ConnectionSecrets(NoCipher()), hooks or Hooks())
    return made, log


def message(payload: Any, *, provider: str = "github", event: str = "push", hook_id: str | None = None,
            secret_version: int | None = None) -> QueuedDelivery:
    """The delivery as the router reads it off the queue."""
    return decode(json.dumps({"provider": provider, "event": event, "delivery_id": "d-1", "hook_id": hook_id,
                              "secret_version": secret_version, "received_at": "2024-01-02T03:04:05Z",
                              "payload": payload}))


def with_value(payload: dict[str, Any], value: object, *path: str) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def test_a_malformed_github_delivery_is_rejected_for_the_installations_teams() -> None:
    teams = Connections(connection("t1", "c1"), connection("t2", "c2"), connection("t3", "c3", provider="gitlab"),
                        connection("t4", "c4", key="github#43"))
    route, log = router(Provider(github.normalize), connections=teams)
    report = route.route(message(with_value(PUSH, {"sha": SHA_B}, "ref")))
    assert report.outcome == "rejected" and report.builds == []
    assert [(d.team_id, d.connection_id, d.outcome, d.repository) for d in log.entries] == [
        ("t1", "c1", "rejected", "octo-org/app"), ("t2", "c2", "rejected", "octo-org/app")]
    assert {d.reason for d in log.entries} == {"malformed push payload: ref is not a string (got object)"}
    assert report.deliveries == log.entries
    assert report.summary()["teams"] == 2


@pytest.mark.parametrize(("installation", "logged"), [
    ({"id": 42}, True), ({"id": "42"}, True), ({"id": True}, False), ({"id": [42]}, False), ({"id": "x"}, False),
    ([42], False), (None, False), ("42", False)])
def test_who_is_told_depends_on_whether_the_installation_can_be_read(installation: object, logged: bool) -> None:
    route, log = router(Provider(github.normalize), connections=Connections(connection("t1", "c1")))
    payload = with_value(with_value(PUSH, installation, "installation"), None, "after")
    report = route.route(message(payload))
    assert report.outcome == "rejected"
    assert [d.team_id for d in log.entries] == (["t1"] if logged else [])
    assert all(d.reason.startswith("malformed push payload: ") for d in log.entries)


def test_the_repository_is_logged_only_when_readable() -> None:
    route, log = router(Provider(github.normalize), connections=Connections(connection("t1", "c1")))
    route.route(message(with_value(PUSH, ["octo-org/app"], "repository", "full_name")))
    assert [(d.repository, d.reason) for d in log.entries] == [
        (None, "malformed push payload: repository.full_name is not a string (got array)")]


def test_a_malformed_per_hook_delivery_is_rejected_for_the_hooks_team() -> None:
    provider = Provider(gitlab.normalize)
    route, log = router(provider, hooks=Hooks(HOOK))  # the connection is not even read
    report = route.route(message({"ref": 7, "project": {"id": 5, "path_with_namespace": "acme/app"}}, provider="gitlab",
                                 event="Push Hook", hook_id="hook_1", secret_version=2))
    assert report.outcome == "rejected"
    reason = "malformed Push Hook payload: ref is not a string (got integer)"
    assert [(d.team_id, d.connection_id, d.repository, d.outcome, d.reason) for d in log.entries] == [
        ("lab-team", "con_lab", "acme/app", "rejected", reason)]


def test_a_stale_secret_is_rejected_before_the_payload_is_read() -> None:
    provider = Provider(gitlab.normalize)
    route, log = router(provider, hooks=Hooks(HOOK))
    report = route.route(message([], provider="gitlab", event="Push Hook", hook_id="hook_1", secret_version=1))
    assert report.outcome == "rejected" and provider.calls == 0
    assert [(d.team_id, d.reason) for d in log.entries] == [("lab-team", REGENERATED_SINCE)]
    removed = router(provider, hooks=Hooks())[0].route(message([], provider="gitlab", hook_id="gone"))
    assert removed.outcome == "ignored" and provider.calls == 0


def test_any_other_error_of_a_normalizer_is_a_malformed_payload_too() -> None:
    def broken(event: str, payload: Any) -> Any:
        return payload["nope"]

    route, log = router(Provider(broken), connections=Connections(connection("t1", "c1")))
    report = route.route(message(PUSH))
    assert report.outcome == "rejected"
    assert [d.reason for d in log.entries] == ["malformed push payload: it could not be read (KeyError)"]


def test_our_own_failures_still_raise_and_are_retried() -> None:
    def unreachable(event: str, payload: Any) -> Any:
        raise RemoteUnreachableError("the provider is down")

    with pytest.raises(RemoteUnreachableError):
        router(Provider(unreachable))[0].route(message(PUSH))
    table_down = OSError("DynamoDB throttled")
    bad = with_value(PUSH, None, "ref")
    with pytest.raises(OSError, match="throttled"):
        router(Provider(github.normalize), connections=Connections(connection("t1", "c1")),
               log=Log(fail=table_down))[0].route(message(bad))
    with pytest.raises(OSError, match="throttled"):
        router(Provider(gitlab.normalize), hooks=Hooks(fail=table_down))[0].route(
            message(bad, provider="gitlab", hook_id="hook_1"))

    class FailingConnections(Connections):
        def by_account(self, account_key: str) -> list[Connection]:
            raise table_down

    with pytest.raises(OSError, match="throttled"):
        router(Provider(github.normalize), connections=FailingConnections())[0].route(message(bad))


def test_a_valid_delivery_is_routed_as_before() -> None:
    route, log = router(Provider(github.normalize), connections=Connections(connection("t1", "c1")))
    report = route.route(message(PUSH))
    assert report.outcome == "ignored"
    assert [(d.team_id, d.outcome, d.reason) for d in log.entries] == [
        ("t1", "ignored", "no source watches octo-org/app")]
    with pytest.raises(MalformedPayloadError):
        github.normalize("push", with_value(PUSH, None, "ref"))

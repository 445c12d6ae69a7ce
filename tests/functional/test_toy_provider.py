"""A provider that exists only in this module: a tiny provider class, its webhook SPEC (an HMAC header of its own),
its link body and its declaration, registered for the module and driven link -> source -> signed webhook ->
`BuildRequested` through the real handlers in-process. Nothing else names it: settings, wiring, the API, the webhook
intake and the router find it through the registry.

One thing the registry cannot do: template.yaml routes each declared webhook provider's URL statically (SAM routes
are), so the module adds an in-process route for `/v1/webhooks/toy` to the same intake function."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from gitconnect import wiring
from gitconnect.domain.errors import NotFoundError, UnprocessableError
from gitconnect.domain.events import ChangedCommit, Ignored, PushEvent, RepoRef, WebhookEvent
from gitconnect.providers import REGISTRY, register, unregister
from gitconnect.providers.base import (
    Access,
    Branch,
    LinkedAccount,
    ProviderPorts,
    Repository,
    RepositoryRef,
    WebhookSpec,
)
from gitconnect.providers.declaration import Declaration, Setting, Webhook
from infra.local import apigw
from tests.functional.conftest import system_with
from tests.support.inprocess import System

TOY = "toy"
TEAM = "toy-team"
WEBHOOK_SECRET = "toy-webhook-secret-of-some-length"
HEAD, NEXT = "1" * 40, "2" * 40


@dataclass(frozen=True)
class ToyRepository:
    id: str
    branches: dict[str, str]


# The toy Git service: its accounts (by token) and its repositories.
ACCOUNTS = {"toy-token-acme": "acme"}
REPOSITORIES = {"acme/app": ToyRepository("4242", {"main": HEAD})}

# ------------------------------------------------------------------------------------------------ its webhooks
EVENT_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER = "x-toy-event", "x-toy-delivery", "x-toy-signature"


def signature(secret: str, body: bytes) -> str:
    return "hmac-sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, secrets: Iterable[str]) -> bool:
    given = headers.get(SIGNATURE_HEADER, "")
    valid = False
    for secret in secrets:
        if secret:
            valid |= hmac.compare_digest(signature(secret, body), given)
    return valid


SPEC = WebhookSpec(TOY, EVENT_HEADER, DELIVERY_HEADER, verify)


# ------------------------------------------------------------------------------------------------ its link body
class ToyLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: Literal["toy"]
    token: str = Field(min_length=1)
    name: str | None = None


# ------------------------------------------------------------------------------------------------ the provider
class ToyProvider:
    """The Provider protocol and the Webhooks capability over the in-memory toy service."""

    id: ClassVar[str] = TOY

    def __init__(self, ports: ProviderPorts) -> None:
        self.base_url = ports.config["TOY_URL"]

    @staticmethod
    def _account(access: Access) -> str:
        """The account the connection's sealed credentials name (opened by the caller)."""
        account = ACCOUNTS.get((access.credentials or {}).get("token", ""))
        if account is None:
            raise UnprocessableError("the toy token names no account")
        return account

    def link(self, request: dict[str, Any]) -> LinkedAccount:
        account = ACCOUNTS.get(request["token"])
        if account is None:
            raise UnprocessableError("the toy token names no account")
        return LinkedAccount(name=request.get("name") or f"{account}@toy", account=account, base_url=self.base_url,
                             credentials={"token": request["token"]}, account_key=f"{TOY}#{account}")

    def repository(self, access: Access, requested: str | None) -> RepositoryRef:
        account = self._account(access)
        repo = REPOSITORIES.get(requested or "")
        if repo is None or not str(requested).startswith(f"{account}/"):
            raise NotFoundError(f"no toy repository {requested!r}")
        return RepositoryRef(str(requested), f"{self.base_url}/{requested}.git", repo.id)

    def repositories(self, access: Access) -> list[Repository]:
        account = self._account(access)
        return [Repository(r.id, name, account, "main", False, f"{self.base_url}/{name}.git", None)
                for name, r in REPOSITORIES.items() if name.startswith(f"{account}/")]

    def namespaces(self, access: Access) -> list[str]:
        return [self._account(access)]

    def branches(self, access: Access, repository: str) -> list[Branch]:
        self._account(access)
        return [Branch(name, sha) for name, sha in REPOSITORIES[repository].branches.items()]

    def resolve_branch(self, access: Access, repository: str, branch: str) -> str | None:
        return {b.name: b.sha for b in self.branches(access, repository)}.get(branch)

    def normalize(self, event: str, payload: Mapping[str, Any]) -> WebhookEvent:
        if event != "push":
            return Ignored(f"toy {event} events do not build")
        name = str(payload["repository"])
        repo = RepoRef(id=str(payload["repository_id"]), full_name=name, owner=name.split("/")[0],
                       clone_url=f"{self.base_url}/{name}.git")
        commit = ChangedCommit(str(payload["after"]), str(payload["message"]), None)
        return PushEvent(account_key=f"{TOY}#{payload['account']}", repository=repo, ref=str(payload["ref"]),
                         before=str(payload["before"]), after=str(payload["after"]), created=False, deleted=False,
                         commits=(commit,), commits_complete=True, head_message=commit.message)

    def changed_files(self, access: Access, repo: RepoRef, before: str | None, after: str) -> list[str] | None:
        return None  # the toy cannot say

    def tag_commit(self, access: Access, repo: RepoRef, tag: str) -> str | None:
        return None


# ------------------------------------------------------------------------------------------------ its declaration
WEBHOOK = Webhook(spec=f"{__name__}:SPEC", per_hook=False, secrets=("TOY_WEBHOOK_SECRET",))
DECLARATION = Declaration(
    id=TOY,
    title="Toy Git",
    provider=f"{__name__}:ToyProvider",
    settings=(Setting("TOY_URL", "https://toy.example/", url=True),),
    http=False,
    links=("credentials",),
    link_request=f"{__name__}:ToyLink",
    webhook=WEBHOOK,
)


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    """The system with the toy registered (before settings are parsed) and its webhook secret in the environment."""
    register(DECLARATION)
    try:
        with system_with({"TOY_WEBHOOK_SECRET": WEBHOOK_SECRET}) as running:
            # template.yaml routes the declared webhook URLs; the toy's goes to the same intake function in-process.
            running.routes.append(apigw.Route("WebhookIntakeFunction", "POST", WEBHOOK.path(TOY)))
            yield running
    finally:
        unregister(TOY)
        wiring.reset()  # no cached toy provider, spec or settings outlives the module
        assert TOY not in REGISTRY


@pytest.fixture(scope="module")
def admin(system: System) -> str:
    return system.token({TEAM: "admin"})


@pytest.fixture(scope="module")
def linked(system: System, admin: str) -> dict[str, Any]:
    reply = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin,
                        body={"provider": TOY, "token": "toy-token-acme"})
    assert reply.status == 201, reply.body
    connection = reply.json()
    source = system.call("POST", f"/v1/teams/{TEAM}/sources", token=admin,
                         body={"connection_id": connection["id"], "repository": "acme/app", "branches": ["main"]})
    assert source.status == 201, source.body
    return {"connection": connection, "source": source.json()}


def deliver(system: System, payload: dict[str, Any], *, secret: str = WEBHOOK_SECRET,
            event: str = "push") -> int:
    body = json.dumps(payload).encode()
    headers = {EVENT_HEADER: event, DELIVERY_HEADER: str(uuid.uuid4()), SIGNATURE_HEADER: signature(secret, body)}
    return system.call("POST", f"/v1/webhooks/{TOY}", raw_body=body, headers=headers).status


def push(after: str) -> dict[str, Any]:
    return {"account": "acme", "repository": "acme/app", "repository_id": 4242, "ref": "refs/heads/main",
            "before": HEAD, "after": after, "message": "change"}


def test_link_with_a_token_is_the_toys_own(system: System, admin: str, linked: dict[str, Any]) -> None:
    connection = linked["connection"]
    # Given the declared setting's default (its trailing slash dropped, like every declared URL)
    assert (connection["provider"], connection["account"], connection["base_url"]) == (TOY, "acme",
                                                                                      "https://toy.example")
    assert "toy-token" not in json.dumps(connection)
    assert wiring.settings().provider(TOY) == {"TOY_URL": "https://toy.example"}
    # The toy's own body model validates its link; its provider refuses a token it does not know.
    missing = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin, body={"provider": TOY})
    assert missing.status == 400 and "token" in missing.json()["detail"]
    refused = system.call("POST", f"/v1/teams/{TEAM}/connections", token=admin,
                          body={"provider": TOY, "token": "nope"})
    assert refused.status == 422 and refused.json()["detail"] == "the toy token names no account"
    repos = system.call("GET", f"/v1/teams/{TEAM}/connections/{connection['id']}/repositories", token=admin)
    assert [r["full_name"] for r in repos.json()["items"]] == ["acme/app"]


def test_a_signed_push_becomes_a_build(system: System, admin: str, linked: dict[str, Any]) -> None:
    # When the toy service signs a push with the declared webhook secret
    assert deliver(system, push(NEXT), secret="not-the-secret") == 401
    assert deliver(system, push(NEXT)) == 202
    # Then the router builds the watched branch: BuildRequested on the bus
    system.drain("EventRouterFunction")
    system.drain("BuildTriggerFunction")
    details = [e["detail"] for e in system.bus_events()]
    assert [(d["provider"], d["repository"], d["ref"], d["sha"], d["trigger"], d["source_id"]) for d in details] == [
        (TOY, "acme/app", "refs/heads/main", NEXT, "push", linked["source"]["id"])]
    assert details[0]["clone_url"] == "https://toy.example/acme/app.git"
    log = system.call("GET", f"/v1/teams/{TEAM}/deliveries", token=admin).json()["items"]
    assert [(d["provider"], d["outcome"]) for d in log] == [(TOY, "built")]


def test_what_the_toy_does_not_declare(system: System, admin: str, linked: dict[str, Any]) -> None:
    """No browser flow, one repository per push URL: the generic answers."""
    authorize = system.call("POST", f"/v1/teams/{TEAM}/connections/{TOY}/authorize", token=admin)
    assert authorize.status == 422 and "not linked in the browser" in authorize.json()["detail"]
    assert system.call("GET", f"/v1/oauth/{TOY}/callback?state=x").status == 404
    # A delivery the toy ignores is acknowledged and builds nothing.
    assert deliver(system, push(NEXT), event="ping-ish") == 202
    system.drain("EventRouterFunction")
    system.drain("BuildTriggerFunction")
    assert system.bus_events() == []
    # And the API document describes only the declared providers: it is built once per container.
    paths = system.call("GET", "/v1/openapi.json").json()["paths"]
    assert "/v1/webhooks/github" in paths and f"/v1/webhooks/{TOY}" not in paths

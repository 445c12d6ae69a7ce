"""What a provider declares about itself, in one place of its own (`providers/<id>/__init__.py`): its settings and
secrets, how a team links it, its webhooks. Settings, wiring, the API, the OAuth service, the webhook intake and the
API document read these instead of naming providers.

Declarations are data and import nothing but this module: the registry loads every one of them, and the webhook
intake loads the registry on its cold path. Code is named by reference (`"package.module:attribute"`) and imported
only by the part that uses it, so the intake never loads an API client, pydantic or a browser flow. The records are
NamedTuples, not dataclasses: building three dataclasses costs the intake's cold start ~2 ms, these a fifth of it.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

LinkMethod = Literal["credentials", "oauth", "app_install"]
LINK_METHODS: tuple[LinkMethod, ...] = ("credentials", "oauth", "app_install")
BROWSER_LINK_METHODS: frozenset[str] = frozenset({"oauth", "app_install"})
_ID = re.compile(r"[a-z][a-z0-9-]{0,31}")  # one URL path segment, the same string in records and fixtures


class Setting(NamedTuple):
    """One environment variable of a provider (DESIGN.md §5 names it); a template parameter in AWS."""

    name: str  # e.g. GITHUB_API_URL; `Settings` answers it as `github_api_url` too
    default: str = ""  # used when the variable is unset or blank
    url: bool = False  # a base URL: a trailing `/` is dropped


class Webhook(NamedTuple):
    """How the provider's deliveries reach the intake."""

    spec: str  # "module:SPEC": the intake's WebhookSpec; the module must import no API client (it is the hot path)
    # True: one URL per hook gitconnect registers, `/v1/webhooks/<id>/{hook_id}`, each with its own secret (kept in
    # the hooks table). False: one URL for the whole provider, `/v1/webhooks/<id>`, signed with `secrets`.
    per_hook: bool
    secrets: tuple[str, ...] = ()  # provider-wide signing secrets, the current one first (rotation: the previous)
    openapi: Mapping[str, Any] = MappingProxyType({})  # the URL's OpenAPI operation (the intake is no app)

    def path(self, provider_id: str) -> str:
        return f"/v1/webhooks/{provider_id}" + ("/{hook_id}" if self.per_hook else "")


_INTAKE_RESPONSES = {"202": "queued for routing", "400": "malformed delivery", "413": "body over the limit"}


def webhook(
    spec: str,
    *,
    per_hook: bool,
    secrets: tuple[str, ...] = (),
    summary: str,
    description: str,
    headers: tuple[str, ...],
    responses: Mapping[str, str],
) -> Webhook:
    """A Webhook whose OpenAPI operation is laid out as the intake serves every provider's URL: the `hook_id` path
    parameter of a per-hook URL, then the required `headers`; a JSON object body; the intake's own answers (202, 400,
    413) with the provider's `responses` (status: description), in status order."""
    names = [("hook_id", "path")] if per_hook else []
    names += [(header, "header") for header in headers]
    answers = dict(sorted({**_INTAKE_RESPONSES, **responses}.items()))
    openapi = {
        "summary": summary,
        "tags": ["webhooks"],
        "description": description,
        "parameters": [{"name": n, "in": where, "required": True, "schema": {"type": "string"}} for n, where in names],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {status: {"description": text} for status, text in answers.items()},
    }
    return Webhook(spec, per_hook, secrets, openapi)


class Declaration(NamedTuple):
    """Checked by `check` when the registry is built or `register` adds one."""

    id: str  # in URLs (`/v1/webhooks/<id>`, `…/connections/<id>/authorize`), records, fixtures
    title: str  # for people: "GitLab", "Custom Git"
    provider: str  # "module:Class" implementing providers/base.py's Provider protocol
    settings: tuple[Setting, ...] = ()
    secrets: tuple[str, ...] = ()  # given to the provider: from the environment, else the ProviderSecrets document
    shared_settings: tuple[str, ...] = ()  # deployment-wide settings the provider is given too (settings.SHARED)
    http: bool = True  # the provider gets the SSRF-guarded HTTP client (an API provider), not only the Git client
    links: tuple[LinkMethod, ...] = ("credentials",)
    # "module:Model": the pydantic body of `POST …/connections` with `"provider": "<id>"` (a provider linked only in
    # the browser may name one that answers why not); None: no such body is accepted.
    link_request: str | None = None
    # "module:factory": factory(services.oauth.FlowPorts) -> the flow behind `…/connections/<id>/authorize` and
    # `/v1/oauth/<id>/callback`; required with an `oauth` or `app_install` link.
    browser_flow: str | None = None
    refuses_authorize_body: str | None = None  # the 400's detail when `…/authorize` must come without a body
    webhook: Webhook | None = None
    namespaces: bool = True  # False: a connection is one repository (no namespace restrictions)
    # True: a new connection reads `restrictions.confirmed: false` until an admin answers `PUT …/restrictions` (its
    # credentials reach every namespace of their user; a GitHub installation already chose its repositories).
    asks_restrictions: bool = False
    releases: bool = False  # the provider publishes releases a source may build (`"releases": true`)
    pull_requests: bool = True  # the provider has pull requests a source may build (`pull_requests.enabled`)

    def secret_names(self) -> tuple[str, ...]:
        """Every secret the provider names: its own and its webhooks' (the only names read as secrets)."""
        return self.secrets + (self.webhook.secrets if self.webhook else ())


def check(declaration: Declaration) -> Declaration:
    """The declaration, if it is consistent (ValueError otherwise)."""
    d = declaration
    if _ID.fullmatch(d.id) is None:
        raise ValueError(f"a provider id is 1 to 32 of a-z, 0-9 and -, starting with a letter: {d.id!r}")
    unknown = set(d.links) - set(LINK_METHODS)
    if unknown:
        raise ValueError(f"{d.id}: unknown link methods {sorted(unknown)}")
    if (d.browser_flow is None) == bool(BROWSER_LINK_METHODS & set(d.links)):
        raise ValueError(f"{d.id}: a browser flow goes with an oauth or app_install link, and only with one")
    if d.refuses_authorize_body and d.browser_flow is None:
        raise ValueError(f"{d.id}: refuses_authorize_body goes with a browser flow")
    if d.webhook is not None and d.webhook.per_hook and d.webhook.secrets:
        raise ValueError(f"{d.id}: per-hook webhooks are signed with each hook's own secret, not with secrets")
    return d


def load(reference: str) -> Any:
    """The object a `"package.module:attribute"` reference names, imported now."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)

"""The declarative provider registry (providers/__init__.py, providers/declaration.py): what the declarations say, and
that settings, secrets and the template follow them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitconnect import settings as settings_module
from gitconnect import wiring
from gitconnect.providers import REGISTRY, declared, provider_class, register, registered
from gitconnect.providers.declaration import Declaration, Setting, Webhook, check
from infra.local import template as tpl

# DESIGN.md §5, README: these names are the deployment's interface and never change.
SETTINGS = {
    "github": {"GITHUB_APP_ID": "", "GITHUB_APP_SLUG": "", "GITHUB_CLIENT_ID": "",
               "GITHUB_API_URL": "https://api.github.com", "GITHUB_WEB_URL": "https://github.com"},
    "gitlab": {"GITLAB_URL": "https://gitlab.com", "GITLAB_CLIENT_ID": ""},
    "bitbucket": {"BITBUCKET_CLIENT_ID": "", "BITBUCKET_API_URL": "https://api.bitbucket.org",
                  "BITBUCKET_WEB_URL": "https://bitbucket.org"},
    "custom": {},
}
SECRETS = {"GITHUB_APP_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET_PREVIOUS", "GITHUB_CLIENT_SECRET",
           "GITLAB_CLIENT_SECRET", "BITBUCKET_CLIENT_SECRET"}
ALL_NAMES = {name for values in SETTINGS.values() for name in values} | SECRETS


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ALL_NAMES | {"GITCONNECT_PROVIDER_SECRETS_ARN", "GITCONNECT_PUBLIC_URL"}:
        monkeypatch.delenv(name, raising=False)
    wiring.reset()
    yield monkeypatch
    wiring.reset()


def test_the_registry_declares_the_four_providers_in_order() -> None:
    assert list(REGISTRY) == ["custom", "github", "gitlab", "bitbucket"] == [d.id for d in declared()]
    for provider_id, declaration in REGISTRY.items():
        assert provider_class(provider_id).id == provider_id == declaration.id


@pytest.mark.usefixtures("clean_env")
def test_settings_defaults_come_from_the_declarations() -> None:
    assert dict(wiring.settings().providers) == SETTINGS
    assert settings_module.secret_names() == SECRETS


def test_settings_read_the_declared_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GITHUB_API_URL", " https://ghe.example/api/v3/ ")
    clean_env.setenv("GITLAB_CLIENT_ID", "app-id/")  # not a URL: kept as given (stripped of blanks)
    clean_env.setenv("GITHUB_WEBHOOK_SECRET", "s3cret")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "never-a-provider-secret")
    s = wiring.settings()
    assert s.provider("github")["GITHUB_API_URL"] == "https://ghe.example/api/v3"
    assert s.provider("gitlab")["GITLAB_CLIENT_ID"] == "app-id/"
    assert s.provider("nope") == {}
    # The attribute names code used before the registry still answer.
    assert (s.github_api_url, s.gitlab_url, s.bitbucket_web_url) == (  # type: ignore[attr-defined]  # runtime only
        "https://ghe.example/api/v3", "https://gitlab.com", "https://bitbucket.org")
    with pytest.raises(AttributeError):
        _ = s.gitlab_nothing  # type: ignore[attr-defined]  # the point: no such setting
    assert settings_module.secret_from_env("GITHUB_WEBHOOK_SECRET") == "s3cret"
    assert settings_module.secret_from_env("AWS_SECRET_ACCESS_KEY") == ""


def test_a_provider_is_configured_as_declared(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BITBUCKET_CLIENT_SECRET", "bb-secret")
    clean_env.setenv("GITCONNECT_PUBLIC_URL", "https://gitconnect.example")
    assert wiring.provider_config("bitbucket") == {
        "BITBUCKET_CLIENT_ID": "", "BITBUCKET_API_URL": "https://api.bitbucket.org",
        "BITBUCKET_WEB_URL": "https://bitbucket.org", "GITCONNECT_PUBLIC_URL": "https://gitconnect.example",
        "BITBUCKET_CLIENT_SECRET": "bb-secret"}
    # Webhook signing secrets are the intake's, never a provider's.
    assert "GITHUB_WEBHOOK_SECRET" not in wiring.provider_config("github")
    assert wiring.provider_config("custom") == {} == wiring.provider_config("nope")


def test_template_routes_every_declared_webhook_and_passes_every_setting() -> None:
    """SAM routes are static: a provider with webhooks needs its route in template.yaml (the only place besides its
    declaration), and its settings as function variables."""
    template = tpl.load_template()
    intake = {r.path for r in tpl.http_routes(template) if r.function_id == "WebhookIntakeFunction"}
    assert intake == {d.webhook.path(d.id) for d in REGISTRY.values() if d.webhook}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert {s.name for d in REGISTRY.values() for s in d.settings} <= set(variables)


def test_register_adds_and_removes() -> None:
    toy = Declaration(id="toy-git", title="Toy", provider="nowhere:Toy")
    with registered(toy):
        assert REGISTRY["toy-git"] is toy and toy not in declared()
        with pytest.raises(ValueError, match="already registered"):
            register(toy)
    assert "toy-git" not in REGISTRY


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": "Toy"}, "a provider id"),
        ({"id": "toy/x"}, "a provider id"),
        ({"links": ("carrier-pigeon",)}, "unknown link methods"),
        ({"links": ("oauth",)}, "browser flow"),
        ({"browser_flow": "m:f"}, "browser flow"),
        ({"refuses_authorize_body": "no"}, "refuses_authorize_body"),
        ({"webhook": Webhook("m:SPEC", per_hook=True, secrets=("X",))}, "per-hook"),
    ],
)
def test_inconsistent_declarations_are_refused(fields: dict[str, object], message: str) -> None:
    declaration = Declaration(**{"id": "toy", "title": "Toy", "provider": "m:C", **fields})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        check(declaration)
    with pytest.raises(ValueError, match=message):
        register(declaration)
    assert "toy" not in REGISTRY


def test_webhook_paths_and_secret_names() -> None:
    assert Webhook("m:SPEC", per_hook=True).path("lab") == "/v1/webhooks/lab/{hook_id}"
    app = Declaration(id="toy", title="Toy", provider="m:C", secrets=("TOY_KEY",), settings=(Setting("TOY_URL"),),
                      webhook=Webhook("m:SPEC", per_hook=False, secrets=("TOY_HOOK", "TOY_HOOK_OLD")))
    assert app.webhook is not None and app.webhook.path("toy") == "/v1/webhooks/toy"
    assert app.secret_names() == ("TOY_KEY", "TOY_HOOK", "TOY_HOOK_OLD")

"""The intake's secret policy (services/webhook_secrets.py) with fakes and a hand-moved clock."""

from __future__ import annotations

from gitconnect.domain.models import Hook
from gitconnect.services.intake import Secrets
from gitconnect.services.ttl_cache import TtlCache
from gitconnect.services.webhook_secrets import WebhookSecrets


def hook(sealed: bytes, version: int) -> Hook:
    return Hook("hook_1", "team-a", "con_1", "src_1", "gitlab", "42", "group/repo", "7", sealed, version, "t0")


class Hooks:
    def __init__(self) -> None:
        self.hooks = {"hook_1": hook(b"sealed-1", 3)}
        self.reads: list[str] = []

    def get(self, hook_id: str) -> Hook | None:
        self.reads.append(hook_id)
        return self.hooks.get(hook_id)


class Opener:
    def open_hook_secret(self, hook: Hook) -> str:
        return hook.secret.decode().replace("sealed", "open")


def policy(env: dict[str, str], hooks: Hooks, built: list[str], refresh: float = 60.0) -> WebhookSecrets:
    def hook_factory() -> Hooks:
        built.append("hooks")
        return hooks

    def opener_factory() -> Opener:
        built.append("opener")
        return Opener()

    return WebhookSecrets(lambda name: env.get(name, ""), hook_factory, opener_factory, hook_refresh_seconds=refresh)


def test_app_deliveries_may_carry_the_current_or_the_previous_secret_and_touch_no_table() -> None:
    env = {"GITHUB_WEBHOOK_SECRET": "new", "GITHUB_WEBHOOK_SECRET_PREVIOUS": "old"}
    built: list[str] = []
    secrets = policy(env, Hooks(), built)
    assert secrets.lookup("github", None, False) == Secrets(["new", "old"])
    env.pop("GITHUB_WEBHOOK_SECRET_PREVIOUS")
    assert secrets.lookup("github", None, True) == Secrets(["new", "old"])  # remembered for a minute
    assert policy(env, Hooks(), built).lookup("github", None, False) == Secrets(["new"])  # an unset name is left out
    assert policy(env, Hooks(), built).lookup("gitlab", None, False) == Secrets([])  # no app secret: per-hook only
    assert built == []


def test_a_hook_delivery_opens_its_hooks_secret_and_an_unknown_hook_has_none() -> None:
    hooks, built = Hooks(), list[str]()
    secrets = policy({}, hooks, built)
    assert secrets.lookup("gitlab", "hook_1", False) == Secrets(["open-1"], 3)
    assert secrets.lookup("gitlab", "hook_1", False) == Secrets(["open-1"], 3)
    assert secrets.lookup("gitlab", "hook_2", False) is None
    assert hooks.reads == ["hook_1", "hook_2"] and built.count("hooks") == 2


def test_a_fresh_lookup_rereads_only_when_the_remembered_secret_is_old_enough() -> None:
    hooks, built = Hooks(), list[str]()
    secrets = policy({}, hooks, built, refresh=0.0)
    secrets.lookup("gitlab", "hook_1", False)
    hooks.hooks["hook_1"] = hook(b"sealed-2", 4)  # regenerated
    assert secrets.lookup("gitlab", "hook_1", False) == Secrets(["open-1"], 3)
    assert secrets.lookup("gitlab", "hook_1", True) == Secrets(["open-2"], 4)
    bounded = policy({}, Hooks(), [], refresh=3600.0)
    bounded.lookup("gitlab", "hook_1", False)
    assert bounded.lookup("gitlab", "hook_1", True) == Secrets(["open-1"], 3)  # read moments ago: not again


def test_ttl_cache_expires_refreshes_and_stays_bounded() -> None:
    now = [0.0]
    reads: list[str] = []

    def read(key: str) -> str:
        reads.append(key)
        return f"{key}-{len(reads)}"

    cache = TtlCache(read, seconds=10, size=2, min_refresh_seconds=5, clock=lambda: now[0])
    assert cache("a") == "a-1" and cache("a") == "a-1"
    now[0] = 4.0
    assert cache.refresh("a") == "a-1"  # younger than min_refresh
    now[0] = 6.0
    assert cache.refresh("a") == "a-2"
    now[0] = 16.5
    assert cache("a") == "a-3"  # expired ten seconds after the refresh
    cache("b")
    cache("c")  # full: the least recently used (a) forgotten, then c remembered
    assert cache("a") == "a-6" and reads == ["a", "a", "a", "b", "c", "a"]

"""The install flow's state handling with in-memory stores: one-time, expiring, bound to its flow."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from gitconnect.services.oauth import GitHubInstallFlow


class MemoryStates:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def put(self, state_id: str, team_id: str, user_id: str, provider: str, data: dict[str, Any],
            expires_at: int) -> None:
        self.items[state_id] = {"team_id": team_id, "user_id": user_id, "provider": provider, "data": data,
                                "expires_at": expires_at}

    def take(self, state_id: str) -> dict[str, Any] | None:
        return self.items.pop(state_id, None)


class NoGitHub:
    web_url = "https://github.example"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"GitHub must not be called for a refused state ({name})")


def flow(now: list[float], states: MemoryStates) -> GitHubInstallFlow:
    return GitHubInstallFlow(states, None, None, NoGitHub(), {"GITHUB_APP_SLUG": "app"},  # type: ignore[arg-type]
                             "https://dash.example/git", clock=lambda: now[0])


def outcome(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


def test_expired_state_is_refused_without_calling_github() -> None:
    now, states = [1000.0], MemoryStates()
    url = flow(now, states).authorize("team-1", "user-1")
    assert url.startswith("https://github.example/apps/app/installations/new?state=")
    state = parse_qs(urlsplit(url).query)["state"][0]
    assert state not in str(states.items)  # only its hash is stored
    now[0] += 601
    result = outcome(flow(now, states).callback({"state": state, "installation_id": "1", "code": "c"}))
    assert result["outcome"] == ["error"] and "expired" in result["reason"][0]
    again = outcome(flow(now, states).callback({"state": state, "installation_id": "1", "code": "c"}))
    assert "already used" in again["reason"][0]


def test_missing_state_and_bad_installation_id() -> None:
    now, states = [0.0], MemoryStates()
    assert outcome(flow(now, states).callback({"installation_id": "1"}))["outcome"] == ["error"]
    state = parse_qs(urlsplit(flow(now, states).authorize("t", "u")).query)["state"][0]
    result = outcome(flow(now, states).callback({"state": state, "installation_id": "1; drop", "code": "c"}))
    assert result["outcome"] == ["error"] and "installation" in result["reason"][0]

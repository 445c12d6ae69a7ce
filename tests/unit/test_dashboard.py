"""The dashboard's static files as DashboardFunction serves them: the page, its assets, nothing else."""

from __future__ import annotations

import re

import pytest

from gitconnect.api import dashboard


def test_root_redirects_to_the_page_keeping_the_callbacks_outcome() -> None:
    answer = dashboard.serve("/", "outcome=linked&connection_id=c1")
    assert answer["statusCode"] == 302
    assert answer["headers"]["location"] == "/dashboard?outcome=linked&connection_id=c1"
    assert dashboard.serve("/")["headers"]["location"] == "/dashboard"


def test_the_page_is_served_with_a_policy_that_allows_only_its_own_files() -> None:
    answer = dashboard.serve("/dashboard", "outcome=error&reason=x")
    assert answer["statusCode"] == 200
    assert answer["headers"]["content-type"] == "text/html; charset=utf-8"
    assert answer["headers"]["cache-control"] == "no-cache"
    policy = answer["headers"]["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer["headers"]["referrer-policy"] == "no-referrer"
    assert '<script type="module" src="/dashboard/main.js">' in answer["body"]


@pytest.mark.parametrize(("name", "content_type"), [("main.js", "text/javascript; charset=utf-8"),
                                                    ("style.css", "text/css; charset=utf-8")])
def test_assets_have_their_types(name: str, content_type: str) -> None:
    answer = dashboard.serve(f"/dashboard/{name}")
    assert (answer["statusCode"], answer["headers"]["content-type"]) == (200, content_type)


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard/nope.js", "/dashboard/../settings.py",
                                  "/dashboard/%2e%2e/x.js", "/dashboard/a/main.js", "/dashboard/__init__.py",
                                  "/other"])
def test_anything_else_is_a_404_problem(path: str) -> None:
    answer = dashboard.serve(path)
    assert answer["statusCode"] == 404
    assert answer["headers"]["content-type"] == "application/problem+json"


def test_every_file_the_page_and_its_modules_name_is_shipped() -> None:
    """No CDN and no build step: every script, stylesheet and module import is one of the files served here."""
    files = dashboard.assets()
    page = files["index.html"].decode()
    named = set(re.findall(r'(?:src|href)="/dashboard/([^"]+)"', page))
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', page)
    for name, data in files.items():
        if not name.endswith(".js"):
            continue
        # import/export statements (their `from` may be on a continuation line) and dynamic import(): not a string
        # that happens to hold the word "from"
        specifiers = re.findall(r'(?m)(?:^(?:import|export)\b[^"]*?\bfrom|\bimport\()\s*"([^"]+)"', data.decode())
        assert all(s.startswith("./") for s in specifiers), (name, specifiers)
        named |= {s[2:] for s in specifiers}
    assert {"main.js", "api.js", "ui.js", "gitops.js", "style.css"} <= named
    assert named <= set(files), named - set(files)


def test_the_handler_reads_the_raw_path_and_query() -> None:
    event = {"rawPath": "/", "rawQueryString": "outcome=updated&installation_id=7"}
    assert dashboard.handler(event, None)["headers"]["location"] == "/dashboard?outcome=updated&installation_id=7"


def test_the_callbacks_default_destination_is_the_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """GITCONNECT_DASHBOARD_URL when set, else the dashboard on the public URL (as wiring resolves it)."""
    from gitconnect import settings, wiring

    def fresh() -> str:
        settings.get_settings.cache_clear()
        wiring.public_url.cache_clear()
        return wiring.dashboard_url()

    monkeypatch.setenv("GITCONNECT_PUBLIC_URL", "https://git.example.com/")
    monkeypatch.delenv("GITCONNECT_DASHBOARD_URL", raising=False)
    try:
        assert fresh() == "https://git.example.com/dashboard"
        monkeypatch.setenv("GITCONNECT_DASHBOARD_URL", "https://app.example.com/git")
        assert fresh() == "https://app.example.com/git"
    finally:
        settings.get_settings.cache_clear()
        wiring.public_url.cache_clear()

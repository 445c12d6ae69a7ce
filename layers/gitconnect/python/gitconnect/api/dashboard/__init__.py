"""The team dashboard: static files (``static/``) served through the HttpApi, so the page and the API share one
origin (no CORS, no CDN). The page takes the team's token from the URL fragment (``#token=…``, never sent to a
server) and keeps it in sessionStorage; every call it makes is the public API with that bearer token.

``GET /dashboard`` is the page (``index.html``; it names its files by absolute path), ``GET /`` redirects there, and
``GET /dashboard/{file}`` answers one of the files shipped in ``static/`` (a fixed set, read once per container) and
404 for anything else.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

PAGE = "/dashboard"
PREFIX = PAGE + "/"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything the page loads is its own: no inline script, no other origin (the token lives in this page).
_SECURITY = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@cache
def assets() -> dict[str, bytes]:
    """File name -> bytes of every file in ``static/`` (flat: the page has no folders)."""
    folder = resources.files(__name__).joinpath("static")
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file() and _content_type(f.name)}


def _content_type(name: str) -> str | None:
    dot = name.rfind(".")
    return _TYPES.get(name[dot:]) if dot > 0 else None


def _redirect(location: str) -> dict[str, Any]:
    return {"statusCode": 302, "headers": {"location": location, "cache-control": "no-store"}, "body": ""}


def _not_found() -> dict[str, Any]:
    body = '{"type":"about:blank","title":"Not Found","status":404,"detail":"no such dashboard file"}'
    return {"statusCode": 404, "headers": {"content-type": "application/problem+json"}, "body": body}


def serve(path: str, query: str = "") -> dict[str, Any]:
    """The response for a GET of ``path`` (the raw path; ``query`` is kept on redirects: the callback's outcome)."""
    if path == "/":
        return _redirect(PAGE + (f"?{query}" if query else ""))
    if path == PAGE:
        name = "index.html"
    elif path.startswith(PREFIX) and "/" not in path[len(PREFIX):]:
        name = path[len(PREFIX):]
    else:
        return _not_found()
    data = assets().get(name)
    content_type = _content_type(name)
    if data is None or content_type is None:
        return _not_found()
    # index.html names the other files, so it is never cached; they are cached briefly (no build step, no hashes).
    cache_control = "no-cache" if name == "index.html" else "public, max-age=300"
    return {"statusCode": 200, "headers": {"content-type": content_type, "cache-control": cache_control, **_SECURITY},
            "body": data.decode("utf-8")}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return serve(str(event.get("rawPath") or "/"), str(event.get("rawQueryString") or ""))

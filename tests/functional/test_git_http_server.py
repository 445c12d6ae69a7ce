"""The test Git smart-HTTP server, exercised with the real git CLI over 127.0.0.1."""

from __future__ import annotations

import base64
import gzip
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.git_server import GitCommandError, GitHttpServer, WorkingCopy, init_bare, ls_remote


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "repos").mkdir()
    return tmp_path / "repos"


@pytest.fixture
def server(root: Path) -> Iterator[GitHttpServer]:
    with GitHttpServer(root) as srv:
        yield srv


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str | None]:
    """(status, WWW-Authenticate header) of a GET."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as resp:
            return resp.status, resp.headers["WWW-Authenticate"]
    except urllib.error.HTTPError as err:
        return err.code, err.headers["WWW-Authenticate"]


def test_clone_empty_commit_push_main(server: GitHttpServer, root: Path, tmp_path: Path) -> None:
    init_bare(root, "app")
    wc = WorkingCopy.clone(server.url_for("app"), tmp_path / "wc")
    wc.write("README.md", "hello\n")
    sha = wc.commit("first")

    wc.push()

    refs = ls_remote(server.url_for("app"))
    assert refs["refs/heads/main"] == sha
    assert refs["HEAD"] == sha
    assert ("POST", "/app.git/git-receive-pack") in server.requests


def test_second_branch_and_pull(server: GitHttpServer, root: Path, tmp_path: Path) -> None:
    init_bare(root, "app")
    url = server.url_for("app")
    wc = WorkingCopy.clone(url, tmp_path / "wc")
    wc.write("a.txt", "a\n")
    main_sha = wc.commit("on main")
    wc.push()
    other = WorkingCopy.clone(url, tmp_path / "other")

    wc.checkout_new("feature")
    wc.write("b.txt", "b\n")
    feature_sha = wc.commit("on feature")
    wc.push("feature")

    refs = ls_remote(url)
    assert refs["refs/heads/main"] == main_sha
    assert refs["refs/heads/feature"] == feature_sha
    assert main_sha != feature_sha
    assert other.head() == main_sha
    other.pull()  # fetches the new branch over HTTP; main itself has not moved
    assert other.head("origin/feature") == feature_sha


def test_request_body_gzip_is_passed_through(server: GitHttpServer, root: Path, tmp_path: Path) -> None:
    init_bare(root, "app")
    wc = WorkingCopy.clone(server.url_for("app"), tmp_path / "wc")
    wc.write("a.txt", "a\n")
    sha = wc.commit("c")
    wc.push()
    # A protocol v0 upload-pack request as git sends it for large negotiations: gzip-encoded.
    pkt = f"want {sha}\n"
    body = f"{len(pkt) + 4:04x}{pkt}0000" + "0009done\n"
    request = urllib.request.Request(
        server.url_for("app") + "/git-upload-pack",
        data=gzip.compress(body.encode()),
        headers={"Content-Type": "application/x-git-upload-pack-request", "Content-Encoding": "gzip"},
    )

    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/x-git-upload-pack-result"
        assert resp.read().startswith(b"0008NAK\n")


def test_git_protocol_header_selects_v2(server: GitHttpServer, root: Path) -> None:
    init_bare(root, "app")
    request = urllib.request.Request(
        server.url_for("app") + "/info/refs?service=git-upload-pack", headers={"Git-Protocol": "version=2"}
    )

    with urllib.request.urlopen(request, timeout=30) as resp:
        assert b"version 2\n" in resp.read()


def test_basic_auth(root: Path, tmp_path: Path) -> None:
    bare = init_bare(root, "private")
    # Records REMOTE_USER as the CGI (and so receive-pack's hooks) saw it.
    hook = bare / "hooks" / "post-receive"
    hook.write_text('#!/bin/sh\nprintf %s "$REMOTE_USER" > "$GIT_DIR/remote_user"\n')
    hook.chmod(0o755)

    with GitHttpServer(root, username="alice", password="s3cr:et") as server:
        info_refs = server.url_for("private") + "/info/refs?service=git-upload-pack"
        challenge = (401, 'Basic realm="git"')
        assert _get(info_refs) == challenge
        wrong = base64.b64encode(b"alice:nope").decode()
        assert _get(info_refs, {"Authorization": f"Basic {wrong}"}) == challenge
        right = base64.b64encode(b"alice:s3cr:et").decode()
        assert _get(info_refs, {"Authorization": f"Basic {right}"}) == (200, None)

        with pytest.raises(GitCommandError, match="could not read Username"):
            ls_remote(server.url_for("private"))
        with pytest.raises(GitCommandError, match="Authentication failed"):
            ls_remote(server.url_for("private", username="alice", password="nope"))

        url = server.url_for("private", username="alice", password="s3cr:et")
        wc = WorkingCopy.clone(url, tmp_path / "wc")
        wc.write("a.txt", "a\n")
        sha = wc.commit("c")
        wc.push()
        assert ls_remote(url)["refs/heads/main"] == sha
    assert (bare / "remote_user").read_text() == "alice"


def test_large_push_is_chunked(server: GitHttpServer, root: Path, tmp_path: Path) -> None:
    init_bare(root, "big")
    url = server.url_for("big")
    wc = WorkingCopy.clone(url, tmp_path / "wc")
    blob = os.urandom(3 * 1024 * 1024)  # incompressible, so the pack exceeds git's 1 MiB http.postBuffer
    wc.write("blob.bin", blob)
    sha = wc.commit("big file")

    wc.push()

    assert server.chunked_requests >= 1
    assert ls_remote(url)["refs/heads/main"] == sha
    copy = WorkingCopy.clone(url, tmp_path / "copy")
    assert (copy.path / "blob.bin").read_bytes() == blob


def test_stop_frees_the_port(root: Path) -> None:
    server = GitHttpServer(root)
    port = server.port
    assert _get(server.url_for("missing") + "/info/refs") == (404, None)

    server.stop()
    server.stop()  # idempotent

    # Two listening sockets can't share a port even with SO_REUSEADDR, so this fails if ours still listens.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()

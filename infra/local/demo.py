"""The demo remote of ``make run``: a bare repository ``demo.git`` (one commit on ``main``) served over smart HTTP,
so the banner's example works with nothing else set up.

Environment: GITCONNECT_LOCAL_DEMO=0 turns it off; GITCONNECT_LOCAL_GIT_PORT is its port (default: 3001, or a free
port when 3001 is taken; an explicit port that is taken is an error); GITCONNECT_LOCAL_DEMO_DIR is where the
repository lives (default ``.local/remotes`` in the repository root, kept across runs).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shlex
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.local import git_server
from infra.local.git_server import GitCommandError, GitHttpServer, WorkingCopy, git
from infra.local.template import REPO_ROOT

__all__ = ["DEFAULT_PORT", "DemoError", "DemoRemote", "example_commands", "start_demo"]

log = logging.getLogger("infra.local")

DEFAULT_PORT = 3001
DEFAULT_DIR = REPO_ROOT / ".local" / "remotes"
REPO_NAME = "demo"
TEAM = "demo"


class DemoError(RuntimeError):
    pass


@dataclass
class DemoRemote:
    server: GitHttpServer
    url: str
    path: Path  # the bare repository

    def stop(self) -> None:
        self.server.stop()


def start_demo(environ: Mapping[str, str]) -> DemoRemote | None:
    """Create (or reuse) the demo repository and serve it; None when turned off or git is missing."""
    if environ.get("GITCONNECT_LOCAL_DEMO", "1").strip().lower() in {"0", "false", "no", "off"}:
        return None
    if shutil.which("git") is None:
        log.info("git is not installed: no demo remote (install git and restart to get one)")
        return None
    root = Path(environ.get("GITCONNECT_LOCAL_DEMO_DIR") or DEFAULT_DIR)
    path = ensure_repository(root)
    explicit = environ.get("GITCONNECT_LOCAL_GIT_PORT")
    if explicit:
        if not explicit.isdigit() or not 0 < int(explicit) < 65536:
            raise DemoError(f"GITCONNECT_LOCAL_GIT_PORT={explicit!r} is not a port number")
        try:
            server = GitHttpServer(root, port=int(explicit))
        except OSError as exc:
            raise DemoError(f"the demo Git server cannot listen on 127.0.0.1:{explicit} "
                            f"(GITCONNECT_LOCAL_GIT_PORT): {exc.strerror or exc}") from exc
    else:
        try:
            server = GitHttpServer(root, port=DEFAULT_PORT)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            server = GitHttpServer(root)
    return DemoRemote(server, server.url_for(REPO_NAME), path)


def ensure_repository(root: Path) -> Path:
    """``root/demo.git`` with at least one commit on main: reused if it has one, else (re)created atomically."""
    path = root / f"{REPO_NAME}.git"
    if _has_main(path):
        return path
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".demo-", dir=root) as tmp:
        bare = git_server.init_bare(Path(tmp), REPO_NAME)
        work = Path(tmp) / "work"
        git("init", "--quiet", "--initial-branch=main", str(work))
        copy = WorkingCopy(work)
        copy.write("README.md", "hello\n")
        copy.commit("Initial commit", author="demo <demo@example.com>")
        copy.git("push", "--quiet", str(bare), "main:main")
        if path.exists():  # left broken by an earlier run
            shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):  # another stack starting at the same time made it first
            bare.rename(path)
    if not _has_main(path):
        raise DemoError(f"{path} is not a usable demo repository: remove it and start again")
    return path


def _has_main(path: Path) -> bool:
    if not path.is_dir():
        return False
    try:
        git("rev-parse", "--verify", "--quiet", "refs/heads/main^{commit}", cwd=path)
    except GitCommandError:
        return False
    return True


def example_commands(api: str, token: str, remote: str) -> list[str]:
    """The banner's copy-paste example, one shell line each (``#`` lines are comments), for bash/zsh with curl,
    git and python3. In order: link the demo remote, list its branches, create a polled source on main, build it
    by hand, list builds; push a commit; list builds again after the next scheduled sync (a "poll" build)."""
    link = shlex.quote(f'{{"provider":"custom","url":"{remote}"}}')
    get_id = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])'"
    commit = "git -c user.name=demo -c user.email=demo@example.com commit -qam change"
    return [
        f"export API={api} TOKEN={token}",
        'AUTH="Authorization: Bearer $TOKEN"; JSON="Content-Type: application/json"',
        "# link the demo remote, list its branches",
        f'CONN=$(curl -sS -H "$AUTH" -H "$JSON" -d {link} $API/v1/teams/{TEAM}/connections | {get_id})',
        f'curl -sS -w "\\n" -H "$AUTH" $API/v1/teams/{TEAM}/connections/$CONN/branches',
        "# watch main (polled), build it by hand, list the builds",
        f'SRC=$(curl -sS -H "$AUTH" -H "$JSON" -d "{{\\"name\\":\\"demo\\",\\"connection_id\\":\\"$CONN\\",'
        f'\\"branches\\":[\\"main\\"],\\"poll\\":true}}" $API/v1/teams/{TEAM}/sources | {get_id})',
        f'curl -sS -w "\\n" -H "$AUTH" -H "$JSON" -d \'{{"branch":"main"}}\' $API/v1/teams/{TEAM}/sources/$SRC/builds',
        f'curl -sS -w "\\n" -H "$AUTH" $API/v1/teams/{TEAM}/builds',
        "# push a commit to main",
        f'(cd "$(mktemp -d)" && git clone -q {shlex.quote(remote)} demo && cd demo && echo x >> README.md && '
        f"{commit} && git push -q)",
        '# after the next scheduled sync: a build with "trigger":"poll"',
        f'curl -sS -w "\\n" -H "$AUTH" $API/v1/teams/{TEAM}/builds',
    ]

"""`make run`'s demo as a first-time user meets it: the banner's example pasted into bash against the stack's own
demo remote (link, branches, source, manual build, push, poll build), and the bus read with `infra.local.tap`."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local.demo import example_commands
from infra.local.git_server import ls_remote
from tests.support.local_stack import READY_PREFIX, REPO_ROOT, Stack, running_stack

pytestmark = pytest.mark.skipif(not all(shutil.which(tool) for tool in ("bash", "curl", "git")),
                                reason="the demo needs bash, curl and git")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Shell:
    """One bash reading commands from a pipe, as if they were pasted into a terminal (variables carry over);
    ``set -e``: the first failing command ends it, and ``run`` reports that with the output so far."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.run(["set -e"])

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def run(self, commands: list[str], timeout: float = 60) -> str:
        marker = f"__done_{uuid.uuid4().hex}__"
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n".join([*commands, f"echo {marker}"]) + "\n")
        self.proc.stdin.flush()
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the commands did not finish within {timeout:.0f} s:\n{''.join(out)}")
            if line is None:
                pytest.fail(f"the shell exited with {self.proc.wait()}:\n{''.join(out)}")
            if line.strip() == marker:
                return "".join(out)
            out.append(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def json_lines(output: str) -> list[Any]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def tap(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra.local.tap"], cwd=REPO_ROOT, env=env, text=True,
                          capture_output=True, timeout=60, check=False)


def wait_for(what: str, probe: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.3)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="gitconnect-demo-test-") as tmp:
        path = Path(tmp)
        for name in ("home", "tmp", "cwd", "remotes"):
            (path / name).mkdir()
        yield path


def ready_info(stack: Stack) -> dict[str, Any]:
    line = next(line for line in stack.stdout if line.startswith(READY_PREFIX))
    return json.loads(line[len(READY_PREFIX):])


@pytest.mark.slow
def test_banner_example_links_builds_and_polls_the_demo_remote(workdir: Path) -> None:
    git_port = _free_port()
    state = workdir / "stack.json"
    env = {"GITCONNECT_LOCAL_DEMO": "1", "GITCONNECT_LOCAL_GIT_PORT": str(git_port),
           "GITCONNECT_LOCAL_SCHEDULE_SECONDS": "1", "GITCONNECT_LOCAL_DEMO_DIR": str(workdir / "remotes"),
           "GITCONNECT_LOCAL_STATE": str(state)}
    tap_env = {**os.environ, "GITCONNECT_LOCAL_STATE": str(state)}
    # The user's terminal: nothing of this machine's git config, a fresh HOME and TMPDIR, no proxy for 127.0.0.1.
    shell_env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    shell_env |= {"HOME": str(workdir / "home"), "TMPDIR": str(workdir / "tmp"), "GIT_CONFIG_NOSYSTEM": "1",
                  "NO_PROXY": "*", "no_proxy": "*", "GIT_TERMINAL_PROMPT": "0",
                  "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}

    with running_stack(env) as stack:
        shell = Shell(workdir / "cwd", shell_env)
        try:
            # Given the stack serves its demo remote with one commit on main, and the banner shows the example
            remote = ready_info(stack)["demo_remote"]
            assert remote == f"http://127.0.0.1:{git_port}/demo.git"
            first = ls_remote(remote)["refs/heads/main"]
            assert state.is_file() and json.loads(state.read_text())["tap_queue_url"] == stack.tap_queue_url
            commands = example_commands(stack.api_url, stack.token, remote)
            banner = "".join(stack.stdout)
            for command in commands:
                assert f"  {command}\n" in banner
            push = next(i for i, command in enumerate(commands) if "git push" in command)

            # When the example up to the push is pasted: link, branches, polled source, manual build, builds
            out = json_lines(shell.run(commands[:push]))
            # Then each step answered, and the manual build is of main's head
            branches, build, listed = out
            assert branches == {"items": [{"name": "main", "sha": first}], "next_cursor": None}
            assert (build["sha"], build["ref"], build["trigger"]) == (first, "refs/heads/main", "manual")
            assert [b["id"] for b in listed["items"]] == [build["id"]]

            # When the example's push line is pasted
            assert shell.run([commands[push]]).strip() == ""
            second = ls_remote(remote)["refs/heads/main"]
            assert second != first

            # Then a poll build of the pushed commit appears within the next schedules
            def poll_build() -> dict[str, Any] | None:
                items = stack.request("GET", "/v1/teams/demo/builds").json()["items"]
                return next((b for b in items if b["trigger"] == "poll" and b["sha"] == second), None)

            polled = wait_for("poll build", poll_build)
            # And the example's last line lists both builds
            (final,) = json_lines(shell.run(commands[push + 1:]))
            assert {(b["trigger"], b["sha"]) for b in final["items"]} == {("manual", first), ("poll", second)}

            # And `python -m infra.local.tap` prints BuildRequested for both, one JSON line each
            seen: list[dict[str, Any]] = []

            def both_requested() -> bool:
                result = tap(tap_env)
                assert result.returncode == 0, result.stderr
                seen.extend(json_lines(result.stdout))
                return {e["detail"]["build_id"] for e in seen if e["detail-type"] == "BuildRequested"} >= {
                    build["id"], polled["id"]}

            wait_for("BuildRequested events on the tap", both_requested)
            assert all(set(event) == {"detail-type", "detail"} for event in seen)
            shas = {e["detail"]["build_id"]: e["detail"]["sha"] for e in seen}
            assert (shas[build["id"]], shas[polled["id"]]) == (first, second)
        finally:
            shell.close()

        # When the stack stops, Then it stopped cleanly, its state file is gone and the tap says no stack runs
        assert stack.stop() == 0, stack.logs
        assert "Traceback" not in stack.logs
    assert not state.exists()
    result = tap(tap_env)
    assert result.returncode == 1
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert "no local stack is running" in result.stderr

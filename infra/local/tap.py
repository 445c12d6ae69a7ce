"""``python -m infra.local.tap [--follow]``: print what the functions published on the local stack's event bus.

One JSON line per event (``{"detail-type": ..., "detail": {...}}``), read from the bus tap queue of the running
``make run`` stack and removed from it, so each event is printed once. ``--follow`` keeps waiting for more (Ctrl-C
stops). The runner writes where its tap is to a state file (GITCONNECT_LOCAL_STATE, default ``.local/stack.json``)
and removes it when it stops; no aws CLI needed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["claim_state", "main", "read_events", "release_state", "state_path"]

DEFAULT_STATE = Path(__file__).resolve().parents[2] / ".local" / "stack.json"


class NoStack(Exception):
    pass


def state_path(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("GITCONNECT_LOCAL_STATE") or DEFAULT_STATE)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def claim_state(path: Path, state: dict[str, Any]) -> bool:
    """Write ``state`` (plus this pid) unless another running stack owns the file; True if written."""
    current = _read(path)
    if current is not None and current.get("pid") != os.getpid() and _alive(current.get("pid")):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({**state, "pid": os.getpid()}, indent=2) + "\n")
    tmp.replace(path)
    return True


def release_state(path: Path) -> None:
    """Remove the state file if this process wrote it."""
    current = _read(path)
    if current is not None and current.get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


def load_state(path: Path) -> dict[str, Any]:
    state = _read(path)
    if state is None:
        raise NoStack(f"no local stack is running (no {path}; start one with `make run`)")
    if not _alive(state.get("pid")) or not all(state.get(k) for k in ("aws_endpoint", "region", "tap_queue_url")):
        raise NoStack(f"no local stack is running ({path} is left over from a stopped one; start one with `make run`)")
    return state


def _sqs(state: Mapping[str, Any]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("sqs", endpoint_url=state["aws_endpoint"], region_name=state["region"],
                        aws_access_key_id="testing", aws_secret_access_key="testing",  # moto takes any  # noqa: S106
                        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=30))


def read_events(sqs: Any, queue_url: str, *, wait_seconds: int) -> list[dict[str, Any]]:
    """One receive (up to 10 events), deleted once read; each event as {"detail-type", "detail"}."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                   WaitTimeSeconds=wait_seconds).get("Messages", [])
    events = []
    for msg in messages:
        try:
            body = json.loads(msg["Body"])
        except ValueError:
            body = {"detail-type": None, "detail": msg["Body"]}
        events.append({"detail-type": body.get("detail-type"), "detail": body.get("detail")})
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
    return events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.tap", description=__doc__.split("\n\n")[0])
    parser.add_argument("--follow", "-f", action="store_true", help="keep waiting for new events (Ctrl-C stops)")
    args = parser.parse_args(argv)
    path = state_path()
    followed = False
    try:
        state = load_state(path)
        sqs = _sqs(state)
        wait = 1  # the first receive waits a little for events still on their way
        while True:
            events = read_events(sqs, state["tap_queue_url"], wait_seconds=wait)
            followed = args.follow
            for event in events:
                print(json.dumps(event), flush=True)
            if not events and not args.follow:
                return 0
            wait = 5 if args.follow else 0
    except NoStack as exc:
        print(f"infra.local.tap: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # botocore's connection and client errors: one line, not a traceback
        if followed and _read(path) is None:
            print("infra.local.tap: the local stack stopped", file=sys.stderr)
            return 0
        print(f"infra.local.tap: cannot read the bus tap of the local stack ({path}): {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

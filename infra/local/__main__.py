"""``python -m infra.local`` (``make run``): the whole system on one machine, no AWS account, no Docker.

Environment: GITCONNECT_PORT (API, default 3000), GITCONNECT_LOCAL_AWS_PORT (moto, default a free port),
GITCONNECT_LOCAL_RETRY_SECONDS (SQS retry delay, default 1), GITCONNECT_LOCAL_SCHEDULE_SECONDS (overrides every
schedule's period; unless GITCONNECT_POLL_SECONDS / GITCONNECT_DRIFT_SECONDS are set too, polled sources are then
polled, and linked templates checked for drift, at every scheduled sync),
GITCONNECT_LOCAL_TEMPLATE (default template.yaml), GITCONNECT_LOCAL_DEMO /
GITCONNECT_LOCAL_GIT_PORT / GITCONNECT_LOCAL_DEMO_DIR (the demo remote, see ``demo``), GITCONNECT_LOCAL_STATE (where
``tap`` finds the running stack, default .local/stack.json); the functions' own variables
(GITCONNECT_PUBLIC_URL, GITHUB_*, ...) are passed through.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import sys
import threading
from types import FrameType

import boto3

from infra.local import schedules, tap
from infra.local import template as tpl
from infra.local.demo import DemoError, DemoRemote, example_commands, start_demo
from infra.local.moto_server import MotoServer, MotoStartError, aws_environment
from infra.local.stack import LocalStack, build_stack

log = logging.getLogger("infra.local")


class _Stop(Exception):
    pass


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="[gitconnect-local] %(name)s: %(message)s", stream=sys.stderr)
    # The runner's own lines keep their format whatever logging setup the functions do (Powertools...).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[gitconnect-local] %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            return  # already shutting down
        stopping.set()
        raise _Stop

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    moto = MotoServer(int(os.environ["GITCONNECT_LOCAL_AWS_PORT"]) if os.environ.get("GITCONNECT_LOCAL_AWS_PORT")
                      else None)
    stack: LocalStack | None = None
    demo: DemoRemote | None = None
    state = tap.state_path()
    try:
        demo = start_demo(os.environ)  # first: cheap, and a taken GITCONNECT_LOCAL_GIT_PORT fails fast
        moto.start()
        aws_environment(moto.url, os.environ)
        template = tpl.load_template(os.environ.get("GITCONNECT_LOCAL_TEMPLATE") or tpl.DEFAULT_TEMPLATE)
        schedule_seconds = float(os.environ.get("GITCONNECT_LOCAL_SCHEDULE_SECONDS") or 0) or None
        if schedule_seconds:  # a quicker schedule is asked for to see polls quickly: each sync polls every source
            os.environ.setdefault("GITCONNECT_POLL_SECONDS", "0")
            os.environ.setdefault("GITCONNECT_DRIFT_SECONDS", "0")  # and checks every linked template
        stack = build_stack(
            template, boto3.Session(),
            port=int(os.environ.get("GITCONNECT_PORT") or 3000),
            retry_seconds=int(os.environ.get("GITCONNECT_LOCAL_RETRY_SECONDS") or 1),
            schedule_seconds=schedule_seconds,
        )
        stack.start()
        if not tap.claim_state(state, {"api_url": stack.api_url, "aws_endpoint": moto.url,
                                       "region": stack.res.region, "tap_queue_url": stack.tap_queue_url}):
            log.info("%s belongs to another running stack: `python -m infra.local.tap` reads that one's bus "
                     "(set GITCONNECT_LOCAL_STATE to another file for this one)", state)
        _announce(stack, moto, demo, schedule_seconds)
        while not stopping.wait(0.5):
            pass
    except _Stop:
        pass
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        log.error("%s: a port is in use (set GITCONNECT_PORT / GITCONNECT_LOCAL_AWS_PORT to free ones)", exc)
        return 1
    except (MotoStartError, DemoError) as exc:  # moto's log says why; a DemoError says it all
        log.error("%s", exc)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let cleanup finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log.info("stopping")
        tap.release_state(state)
        if stack is not None:
            stack.stop()
        if demo is not None:
            demo.stop()
        moto.stop()
    return 0


def _announce(stack: LocalStack, moto: MotoServer, demo: DemoRemote | None, schedule_seconds: float | None) -> None:
    token = stack.admin_token("demo")
    region = stack.res.region
    api = stack.api_url
    routes = "\n".join(f"    {r.route_key:<60} -> {r.function_id}" for r in stack.server.routes)
    print(f"""
gitconnect local stack is ready (stop with Ctrl-C)

  API           {api}
  API docs      {api}/v1/docs
  dashboard     {api}/dashboard#token={token}
                (opens signed in as the demo admin; the token stays in that browser tab)
  AWS (moto)    {moto.url}   region {region}, any credentials (moto log: {moto.log_path})
  bus tap       {stack.tap_queue_url}
                (every event the functions put on the bus with source "gitconnect")
  demo remote   {demo.url + "   (git smart HTTP; push to it with the git CLI)" if demo else "off"}

Routes (from template.yaml):
{routes}

Admin token for team "demo" (valid 24 h):
  export TOKEN={token}

Try it:
  curl -H "Authorization: Bearer $TOKEN" {api}/v1/teams/demo/connections
{_demo_example(stack, token, demo, schedule_seconds)}
Read what was published on the bus (one JSON line per event; --follow to keep watching):
  .venv/bin/python -m infra.local.tap
or with the aws CLI:
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {moto.url} --region {region} \\
    sqs receive-message --queue-url {stack.tap_queue_url} --max-number-of-messages 10
""", flush=True)
    ready = {"api_url": api, "dashboard_url": f"{api}/dashboard#token={token}", "aws_endpoint": moto.url,
             "region": region, "token": token,
             "tap_queue_url": stack.tap_queue_url, "env": stack.env, "demo_remote": demo.url if demo else None}
    print("GITCONNECT_READY " + json.dumps(ready), flush=True)


def _demo_example(stack: LocalStack, token: str, demo: DemoRemote | None, override: float | None) -> str:
    if demo is None:
        return ""
    lines = "\n".join(f"  {line}" for line in example_commands(stack.api_url, token, demo.url))
    rates = [schedules.rate_seconds(s.expression) for s in tpl.schedules(stack.template) if s.enabled]
    period = override or min((r for r in rates if r), default=None)
    every = "not evaluated locally" if period is None else f"every {period:g} s"
    if not override:
        every += "; `GITCONNECT_LOCAL_SCHEDULE_SECONDS=5 make run` for a quicker demo"
    return f"""
The whole flow with the demo remote (paste into bash; needs curl, git, python3; scheduled sync {every}):
{lines}
"""


if __name__ == "__main__":
    sys.exit(main())

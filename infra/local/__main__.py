"""``python -m infra.local`` (``make run``): the whole system on one machine, no AWS account, no Docker.

Environment: GITCONNECT_PORT (API, default 3000), GITCONNECT_LOCAL_AWS_PORT (moto, default a free port),
GITCONNECT_LOCAL_RETRY_SECONDS (SQS retry delay, default 1), GITCONNECT_LOCAL_SCHEDULE_SECONDS (overrides every
schedule's period), GITCONNECT_LOCAL_TEMPLATE (default template.yaml); the functions' own variables
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

from infra.local import template as tpl
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
    try:
        moto.start()
        aws_environment(moto.url, os.environ)
        template = tpl.load_template(os.environ.get("GITCONNECT_LOCAL_TEMPLATE") or tpl.DEFAULT_TEMPLATE)
        schedule_seconds = float(os.environ.get("GITCONNECT_LOCAL_SCHEDULE_SECONDS") or 0) or None
        stack = build_stack(
            template, boto3.Session(),
            port=int(os.environ.get("GITCONNECT_PORT") or 3000),
            retry_seconds=int(os.environ.get("GITCONNECT_LOCAL_RETRY_SECONDS") or 1),
            schedule_seconds=schedule_seconds,
        )
        stack.start()
        _announce(stack, moto)
        while not stopping.wait(0.5):
            pass
    except _Stop:
        pass
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        log.error("%s: a port is in use (set GITCONNECT_PORT / GITCONNECT_LOCAL_AWS_PORT to free ones)", exc)
        return 1
    except MotoStartError as exc:  # its log says why
        log.error("%s", exc)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let cleanup finish
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log.info("stopping")
        if stack is not None:
            stack.stop()
        moto.stop()
    return 0


def _announce(stack: LocalStack, moto: MotoServer) -> None:
    token = stack.admin_token("demo")
    region = stack.res.region
    api = stack.api_url
    routes = "\n".join(f"    {r.route_key:<60} -> {r.function_id}" for r in stack.server.routes)
    print(f"""
gitconnect local stack is ready (stop with Ctrl-C)

  API           {api}
  API docs      {api}/v1/docs
  AWS (moto)    {moto.url}   region {region}, any credentials (moto log: {moto.log_path})
  bus tap       {stack.tap_queue_url}
                (every event the functions put on the bus with source "gitconnect")

Routes (from template.yaml):
{routes}

Admin token for team "demo" (valid 24 h):
  export TOKEN={token}

Try it:
  curl -H "Authorization: Bearer $TOKEN" {api}/v1/teams/demo/connections

Read what was published on the bus:
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {moto.url} --region {region} \\
    sqs receive-message --queue-url {stack.tap_queue_url} --max-number-of-messages 10
""", flush=True)
    ready = {"api_url": api, "aws_endpoint": moto.url, "region": region, "token": token,
             "tap_queue_url": stack.tap_queue_url, "env": stack.env}
    print("GITCONNECT_READY " + json.dumps(ready), flush=True)


if __name__ == "__main__":
    sys.exit(main())

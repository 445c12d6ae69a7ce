"""The local stack minus moto's process: resources, environment, functions, API server, pollers, schedules.

``__main__`` runs it against moto's server; tests may run it in-process under ``moto.mock_aws``.
"""

from __future__ import annotations

import compileall
import logging
import os
import secrets
import sys
import threading
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from infra.local import apigw, resources, schedules
from infra.local import template as tpl
from infra.local.lambdas import LocalFunction
from infra.local.server import ApiServer
from infra.local.sqs_poller import SqsPoller, SqsSource
from infra.local.tokens import mint_token

log = logging.getLogger("infra.local")

# Set in the functions' environment when the user did not set them.
LOCAL_DEFAULTS = {"GITCONNECT_ALLOW_LOOPBACK": "1"}


@dataclass
class LocalStack:
    template: dict[str, Any]
    res: resources.Resources
    env: dict[str, str]  # the functions' resolved environment (as set in os.environ)
    functions: dict[str, LocalFunction]
    server: ApiServer
    tap_queue_url: str | None
    threads: list[threading.Thread] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    _server_thread: threading.Thread | None = None

    @property
    def api_url(self) -> str:
        return self.server.url

    def admin_token(self, team: str = "demo") -> str:
        return mint_token(self.env["GITCONNECT_JWT_SECRET"], f"{team}-admin", {team: "admin"},
                          issuer=self.env.get("GITCONNECT_JWT_ISSUER") or None,
                          audience=self.env.get("GITCONNECT_JWT_AUDIENCE") or None)

    def start(self) -> None:
        self._server_thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), name="api",
                                               daemon=True)
        self._server_thread.start()
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop pollers and schedules, then the API server. Handlers still running are left to finish (daemons)."""
        self.stop_event.set()
        if self._server_thread is not None:
            self.server.shutdown()
        self.server.server_close()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(timeout)


def build_stack(template: dict[str, Any], session: boto3.Session, *, host: str = "127.0.0.1", port: int = 3000,
                environ: MutableMapping[str, str] | None = None, retry_seconds: int = 1,
                schedule_seconds: float | None = None, bus_tap: bool = True) -> LocalStack:
    """Create the template's resources, set the functions' environment in ``environ`` (os.environ by default),
    bind the API server and prepare (not start) the pollers and schedules."""
    environ = os.environ if environ is None else environ
    server = ApiServer((host, port), [], {})  # bound first: a busy port fails before anything is created
    try:
        defaults = {"PublicUrl": server.url, "JwksUrl": ""}
        params = resources.local_parameters(template, environ, defaults)
        res = resources.create_resources(template, session, parameters=params)
        env = _apply_environment(template, res, environ)
        _extend_sys_path(template)
        compile_code([tpl.REPO_ROOT / "functions", *tpl.layer_paths(template)])
        functions = {
            lid: LocalFunction(spec, name=res.attrs[lid]["Ref"], arn=res.attrs[lid]["Arn"])
            for lid, spec in tpl.functions(template).items()
        }
        server.routes = [apigw.Route(r.function_id, r.method, r.path) for r in tpl.http_routes(template)]
        server.functions = functions
        server.account_id = res.account_id
        stack = LocalStack(template, res, env, functions, server, None)
        stack.threads += _pollers(stack, session, retry_seconds)
        stack.threads += _schedules(stack, schedule_seconds)
        buses = [a["Name"] for lid, a in res.attrs.items()
                 if template["Resources"][lid].get("Type") == "AWS::Events::EventBus"]
        if bus_tap:
            stack.tap_queue_url = resources.create_bus_tap(session, buses[0] if buses else "default")
        return stack
    except BaseException:
        server.server_close()
        raise


def _apply_environment(template: dict[str, Any], res: resources.Resources,
                       environ: MutableMapping[str, str]) -> dict[str, str]:
    """Resource-backed variables always come from the stack; any other variable the user set wins."""
    resolved = res.function_env()
    from_stack = resources.resource_env_names(template)
    env = {}
    for name, value in resolved.items():
        if name in from_stack or name not in environ:
            environ[name] = value
        env[name] = environ[name]
    for name, value in {**LOCAL_DEFAULTS, "GITCONNECT_JWT_SECRET": secrets.token_urlsafe(32)}.items():
        environ.setdefault(name, value)
        env[name] = environ[name]
    return env


def _extend_sys_path(template: dict[str, Any]) -> None:
    """What Lambda has on sys.path: the code folder's root and each layer's python/ folder."""
    for path in [str(tpl.REPO_ROOT), *(str(p) for p in tpl.layer_paths(template))]:
        if path not in sys.path:
            sys.path.append(path)


def compile_code(folders: Sequence[Path]) -> bool:
    """Bytecode for the functions and every layer before the first request, as the deployed layers carry theirs
    (layers/*/Makefile): no function's first request locally pays for compiling the package. In-process, one module
    after another (no worker processes); a module already compiled costs a stat. False when some could not be."""
    return all(compileall.compile_dir(folder, quiet=1, workers=1) for folder in folders if folder.is_dir())


def _pollers(stack: LocalStack, session: boto3.Session, retry_seconds: int) -> list[threading.Thread]:
    sqs = session.client("sqs")  # boto3 clients are thread-safe; one for all pollers
    threads: list[threading.Thread] = []
    for spec in tpl.sqs_sources(stack.template):
        if not spec.enabled:
            continue
        arn = stack.res.resolver.resolve(spec.queue)
        source = SqsSource(spec.function_id, stack.res.queue_url_for_arn(arn), arn, spec.batch_size,
                           spec.report_batch_item_failures, stack.res.region)
        threads.append(SqsPoller(sqs, source, stack.functions[spec.function_id].invoke,
                                 retry_seconds=retry_seconds, stop=stack.stop_event))
    return threads


def _schedules(stack: LocalStack, override: float | None) -> list[threading.Thread]:
    threads: list[threading.Thread] = []
    for spec in tpl.schedules(stack.template):
        if not spec.enabled:
            continue
        period = schedules.schedule_period(spec.expression, override)
        if period is None:
            continue
        rule = f"{stack.res.stack_name}-{spec.function_id}{spec.event_id}"
        rule_arn = f"arn:aws:events:{stack.res.region}:{stack.res.account_id}:rule/{rule}"
        make_event = schedules.schedule_event_factory(spec.input, rule_arn=rule_arn, region=stack.res.region,
                                                      account_id=stack.res.account_id)
        threads.append(schedules.ScheduleThread(f"{spec.function_id}.{spec.event_id}", period, make_event,
                                                stack.functions[spec.function_id].invoke, stop=stack.stop_event))
    return threads

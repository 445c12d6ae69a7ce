"""The whole system in one test process: moto's `mock_aws` as AWS, every resource of template.yaml, and the
real handlers invoked with the same API Gateway / SQS / schedule events the local stack builds."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import boto3

from infra.local import apigw, resources
from infra.local import template as tpl
from infra.local.lambdas import LocalFunction
from infra.local.schedules import scheduled_event
from infra.local.sqs_poller import PollResult, SqsSource, poll_once
from infra.local.tokens import mint_token

JWT_SECRET = "functional-tests-secret-of-32-bytes-or-more"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class System:
    session: boto3.Session
    res: resources.Resources
    env: dict[str, str]
    functions: dict[str, LocalFunction]
    routes: list[apigw.Route]
    tap_queue_url: str
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = self.session.client(service)
        return self.clients[service]

    # ---------------------------------------------------------------- HTTP API
    def token(self, teams: dict[str, str], sub: str = "user-1", profile: dict[str, str] | None = None) -> str:
        return mint_token(JWT_SECRET, sub, teams, profile=profile)

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        raw_body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        hdrs = {"content-type": "application/json", **(headers or {})}
        if token:
            hdrs["authorization"] = f"Bearer {token}"
        data = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
        match = apigw.match_route(self.routes, method, path.split("?", 1)[0])
        if match is None:
            return Reply(404, {}, b'{"message":"Not Found"}')
        route, _ = match
        event = apigw.http_event(method, path, hdrs, data, None, route)
        out = apigw.translate_response(self.functions[route.function_id].invoke(event))
        return Reply(out.status, {k.lower(): v for k, v in out.headers}, out.body)

    # ---------------------------------------------------------------- consumers and schedules
    def sqs_source(self, function_id: str) -> SqsSource:
        spec = next(s for s in tpl.sqs_sources(self.res.template) if s.function_id == function_id)
        arn = self.res.resolver.resolve(spec.queue)
        return SqsSource(
            function_id,
            self.res.queue_url_for_arn(arn),
            arn,
            spec.batch_size,
            spec.report_batch_item_failures,
            self.res.region,
        )

    def drain(self, function_id: str = "BuildTriggerFunction", rounds: int = 10) -> list[PollResult]:
        """Run the consumer over its queue until a poll finds nothing (retries re-appear after 0 s)."""
        source, out = self.sqs_source(function_id), []
        for _ in range(rounds):
            result = poll_once(
                self.client("sqs"), source, self.functions[function_id].invoke, retry_seconds=0, wait_seconds=0
            )
            if not result.received:
                break
            out.append(result)
        return out

    def fire_schedule(self, function_id: str = "ScheduledSyncFunction") -> Any:
        event = scheduled_event(
            rule_arn=f"arn:aws:events:{self.res.region}:{self.res.account_id}:rule/local",
            region=self.res.region,
            account_id=self.res.account_id,
        )
        return self.functions[function_id].invoke(event)

    def sync(self) -> Any:
        """One scheduled sync and what it sent done (SyncFunction drained: polls, hook checks, drift checks; then
        GitOpsSyncFunction: the template syncs the drift checks requested); the schedule's result."""
        result = self.fire_schedule()
        self.drain("SyncFunction")
        self.drain("GitOpsSyncFunction")
        return result

    def bus_events(self, detail_type: str | None = "BuildRequested") -> list[dict[str, Any]]:
        """What was published on the bus since the last call (read from the tap queue: each event is handed out
        once), of one detail type (None: all)."""
        sqs, found = self.client("sqs"), []
        while True:
            messages = sqs.receive_message(QueueUrl=self.tap_queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return [e for e in found if detail_type in (None, e["detail-type"])]
            for m in messages:
                found.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.tap_queue_url, ReceiptHandle=m["ReceiptHandle"])

    def queue_depth(self, logical_id: str) -> int:
        url = self.res.attrs[logical_id]["QueueUrl"]
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )
        return sum(int(v) for v in attrs["Attributes"].values())


def start_system() -> System:
    """Call inside an active `mock_aws`; sets the functions' environment in os.environ."""
    os.environ.update(
        {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    )
    session = boto3.Session(region_name="us-east-1")
    template = tpl.load_template()
    res = resources.create_resources(
        template,
        session,
        stack_name="gitconnect-test",
        parameters=resources.local_parameters(
            template, os.environ, {"PublicUrl": "http://gitconnect.test", "JwksUrl": ""}
        ),
    )
    env = res.function_env()
    env.update(
        {
            "GITCONNECT_JWT_SECRET": JWT_SECRET,
            "GITCONNECT_ALLOW_LOOPBACK": "1",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            # No pause between re-reads of a regenerated hook secret: the flows here follow each other in milliseconds.
            "GITCONNECT_HOOK_SECRET_REFRESH_SECONDS": "0",
            "GITCONNECT_HOOK_CHECK_SECONDS": "0",  # every scheduled sync checks every hook
            "GITCONNECT_POLL_SECONDS": "0",  # every scheduled sync sends every polled source
            "GITCONNECT_DRIFT_SECONDS": "0",  # and every linked template's drift check
        }
    )
    os.environ.update(env)
    from gitconnect import wiring

    wiring.reset()
    functions = {
        fid: LocalFunction(spec, name=fid, arn=f"arn:aws:lambda:us-east-1:{res.account_id}:function:{fid}")
        for fid, spec in tpl.functions(template).items()
    }
    routes = [apigw.Route(r.function_id, r.method, r.path) for r in tpl.http_routes(template)]
    tap = resources.create_bus_tap(session, env["GITCONNECT_EVENT_BUS"])
    return System(session, res, env, functions, routes, tap)

"""Every answer of the API held to the OpenAPI document it serves: the status is documented for the operation, the
content type is the one documented for that status, and the body validates against its schema (schemathesis'
validator of the operation, JSON Schema 2020-12 as OpenAPI 3.1 says)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
from schemathesis import Response
from schemathesis.core.failures import Failure, FailureGroup

from tests.support.inprocess import Reply, System


@dataclass
class Documented:
    """`call` is `System.call` that also checks the answer against the document (AssertionError saying what the
    document does not say); `seen` keeps each (method, documented path, status) checked."""

    system: System
    doc: dict[str, Any]
    seen: set[tuple[str, str, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.schema = schemathesis.openapi.from_dict(self.doc)
        self.patterns = [
            (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), path)
            for path in self.doc["paths"]
        ]

    @classmethod
    def served_by(cls, system: System) -> Documented:
        reply = system.call("GET", "/v1/openapi.json")
        assert reply.status == 200, reply.body
        return cls(system, reply.json())

    def documented_path(self, method: str, path: str) -> str:
        concrete = path.split("?", 1)[0]
        paths = self.doc["paths"]
        found = [p for pattern, p in self.patterns if pattern.match(concrete) and method.lower() in paths[p]]
        assert found, f"{method} {concrete} is not in the document"
        return min(found, key=lambda p: p.count("{"))  # a literal segment wins over a parameter, as routing does

    def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        reply = self.system.call(method, path, **kwargs)
        self.check(method, path, reply)
        return reply

    def check(self, method: str, path: str, reply: Reply) -> None:
        documented = self.documented_path(method, path)
        answers = self.doc["paths"][documented][method.lower()]["responses"]
        what = f"{method} {path} -> {reply.status}"
        assert str(reply.status) in answers, f"{what}: undocumented status (documented: {sorted(answers)})"
        content = answers[str(reply.status)].get("content", {})
        media_type = reply.headers.get("content-type", "").split(";", 1)[0].strip()
        if content:
            assert media_type in content, f"{what}: {media_type!r}, documented {sorted(content)}"
        else:
            assert not reply.body, f"{what}: a body where the document says none: {reply.body[:200]!r}"
        operation = self.schema[documented][method.upper()]
        response = Response(
            status_code=reply.status,
            headers={k: [v] for k, v in reply.headers.items()},
            content=reply.body,
            request=requests.Request(method, f"http://gitconnect.test{path}").prepare(),
            elapsed=0.0,
            verify=True,
        )
        try:
            operation.validate_response(response)
        except FailureGroup as failures:
            said = "; ".join(f"{f.title}: {f.message}" for f in failures.exceptions)
            raise AssertionError(f"{what}: {said}") from None
        except Failure as failure:  # one failure is raised as itself
            raise AssertionError(f"{what}: {failure.title}: {failure.message}") from None
        self.seen.add((method.upper(), documented, reply.status))

"""Webhook fuzz (issue 17, DESIGN.md §9 "Malformed, oversized, wrongly typed, unsigned and mis-signed requests →
4xx with a clear problem+json body, never a 5xx"): a seeded, bounded run of ~1 000 requests to the three intake
routes, through the real handlers in-process (moto), built from the real payloads (octokit's GitHub examples from
npm, GitLab's documented examples, the Bitbucket Cloud fixtures beside the project).

Two runs share one system:
- protocol cases: real payloads with mutated bytes (truncated, random, deeply nested, huge numbers, invalid UTF-8,
  lone surrogates, duplicate keys, NaN, BOM/UTF-16, not an object, not base64) and mutated headers (missing,
  empty, long, non-ASCII, control characters, duplicated) and hook ids, signed, unsigned or mis-signed. No 5xx,
  every answer JSON (problem+json with type/title/status/detail for a 4xx), the statuses that follow from the case
  (401 unsigned, 404 no such hook, 2xx for a clean signed delivery), and nothing in the events DLQ once the router
  has drained what was accepted.
- payload cases: signed real payloads whose fields are replaced by wrong types, removed or inflated. No 5xx at the
  intake; what the router makes of them is its own normalizers' business (reported, not asserted).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import random
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from infra.local import apigw
from tests.functional.conftest import system_with
from tests.support import bitbucket_fixtures
from tests.support.fake_bitbucket import FakeBitbucket
from tests.support.fake_gitlab import FakeGitLab, fake_sha
from tests.support.inprocess import System

SEED = 17
PROTOCOL_CASES = 650
PAYLOAD_CASES = 350
GITHUB_SECRET = "It's a Secret to Everybody"
TEAM = "fuzz-team"
GITLAB_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab"
GITLAB_EVENTS = {
    "push-hook": "Push Hook", "tag-push-hook": "Tag Push Hook", "merge-request-hook": "Merge Request Hook",
    "release-hook": "Release Hook", "issue-hook": "Issue Hook", "note-hook": "Note Hook",
    "note-hook-merge-request": "Note Hook", "pipeline-hook": "Pipeline Hook", "job-hook": "Job Hook",
    "wiki-page-hook": "Wiki Page Hook", "deployment-hook": "Deployment Hook", "member-hook": "Member Hook",
}
GITHUB_EVENTS = ("push", "pull_request", "ping", "create", "delete", "release", "installation",
                 "installation_repositories", "issues")
B32 = "0123456789abcdefghjkmnpqrstvwxyz"


# ---------------------------------------------------------------------------------------------------- the routes
@dataclass
class Target:
    """One intake route: where it is, how a delivery to it is signed, and the real deliveries it gets."""

    provider: str
    path: str
    event_header: str
    delivery_headers: tuple[str, ...]
    auth_header: str
    secret: str
    examples: list[tuple[str, bytes]]  # (event, body) as the provider sends them

    def auth(self, body: bytes, secret: str | None = None) -> str:
        key = self.secret if secret is None else secret
        if self.provider == "gitlab":
            return key  # GitLab sends the hook's token, it signs nothing
        return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()

    def headers(self, rng: random.Random, event: str, body: bytes) -> list[tuple[str, str]]:
        """The headers the provider sends with `body`, correctly signed."""
        delivery = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out = [("content-type", "application/json"), (self.event_header, event)]
        out += [(name, delivery) for name in self.delivery_headers]
        out += [("user-agent", {"github": "GitHub-Hookshot/f00", "gitlab": "GitLab/17.6.0",
                                "bitbucket": "Bitbucket-Webhooks/2.0"}[self.provider])]
        out.append((self.auth_header, self.auth(body)))
        return out


@dataclass
class World:
    system: System
    targets: dict[str, Target]


def _github_examples() -> list[tuple[str, bytes]]:
    from tests.support.registry import github_webhook_examples

    try:
        examples = github_webhook_examples()
    except pytest.skip.Exception as unavailable:  # no registry: the other two routes still run
        print(f"GitHub examples unavailable ({unavailable}): the GitHub route gets Bitbucket's payloads")
        return [("push", bitbucket_fixtures.raw(n)) for n in bitbucket_fixtures.fixture_names()]
    return [(event, json.dumps(p, separators=(",", ":")).encode())  # GitHub sends compact JSON
            for event in GITHUB_EVENTS for p in examples.get(event, [])[:6]]


def _gitlab_examples() -> list[tuple[str, bytes]]:
    return [(GITLAB_EVENTS[p.stem], p.read_bytes()) for p in sorted(GITLAB_FIXTURES.glob("*.json"))
            if p.stem in GITLAB_EVENTS]


def _bitbucket_examples() -> list[tuple[str, bytes]]:
    return [(bitbucket_fixtures.EVENT_KEYS[n], bitbucket_fixtures.raw(n)) for n in bitbucket_fixtures.fixture_names()]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """The system with a GitHub App secret, and one GitLab and one Bitbucket hook provisioned by real sources (a
    hook must exist for its route to reach the signature check)."""
    with FakeGitLab() as lab, FakeBitbucket() as bb:
        env = {"GITHUB_WEBHOOK_SECRET": GITHUB_SECRET, "GITLAB_URL": lab.base_url,
               "BITBUCKET_API_URL": bb.api_url, "BITBUCKET_WEB_URL": bb.web_url}
        with system_with(env) as system:
            admin = system.token({TEAM: "admin"})

            def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
                reply = system.call("POST", path, token=admin, body=body)
                assert reply.status == 201, reply.body
                return reply.json()  # type: ignore[no-any-return]

            alice = lab.add_user("alice")
            group = lab.add_group("acme")
            lab.add_member(alice, group)
            project = lab.add_project(group, "app", branches={"main": fake_sha("main-1")})
            gitlab = post(f"/v1/teams/{TEAM}/connections", {"provider": "gitlab", "token": lab.personal_token(alice)})
            post(f"/v1/teams/{TEAM}/sources", {"connection_id": gitlab["id"], "repository": "acme/app",
                                              "branches": ["main"]})
            (lab_hook,) = project.hooks.values()

            bob = bb.add_user("bob", email="bob@example.com")
            workspace = bb.add_workspace("acme", members=[bob])
            repo = bb.add_repo(workspace, "app", branches={"main": fake_sha("main-1")})
            bitbucket = post(f"/v1/teams/{TEAM}/connections", {
                "provider": "bitbucket", "workspace": "acme", "username": "bob@example.com",
                "api_token": bb.api_token(bob)})
            post(f"/v1/teams/{TEAM}/sources", {"connection_id": bitbucket["id"], "repository": "acme/app",
                                              "branches": ["main"], "pull_requests": {"enabled": True}})
            (bb_hook,) = repo.hooks.values()

            targets = {
                "github": Target("github", "/v1/webhooks/github", "x-github-event", ("x-github-delivery",),
                                 "x-hub-signature-256", GITHUB_SECRET, _github_examples()),
                "gitlab": Target("gitlab", urlsplit(lab_hook.url).path, "x-gitlab-event",
                                 ("idempotency-key", "x-gitlab-event-uuid"), "x-gitlab-token", lab_hook.token or "",
                                 _gitlab_examples()),
                "bitbucket": Target("bitbucket", urlsplit(bb_hook.url).path, "x-event-key",
                                    ("x-request-uuid", "x-hook-uuid"), "x-hub-signature", bb_hook.secret or "",
                                    _bitbucket_examples()),
            }
            assert all(t.secret and t.examples for t in targets.values())
            yield World(system, targets)


# ---------------------------------------------------------------------------------------------------- one request
@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    ours: bool  # False: API Gateway answered (no route matched), the handler never ran


def send(system: System, path: str, headers: list[tuple[str, str]], body: bytes,
         base64_body: str | None = None) -> Answer:
    """What API Gateway does with the request: route it, build the v2 event (repeated headers joined with commas),
    invoke the handler; a raised exception is the 500 API Gateway answers then."""
    match = apigw.match_route(system.routes, "POST", path)
    if match is None:
        return Answer(404, "application/json", b'{"message":"Not Found"}', ours=False)
    route, _ = match
    event = apigw.http_event("POST", path, headers, body, None, route)
    if base64_body is not None:
        event["body"], event["isBase64Encoded"] = base64_body, True
    try:
        out = apigw.translate_response(system.functions[route.function_id].invoke(event))
    except Exception:  # a handler that raises is the 5xx under test
        return Answer(500, "text/plain", traceback.format_exc().encode(), ours=True)
    headers_out = {k.lower(): v for k, v in out.headers}
    return Answer(out.status, headers_out.get("content-type", ""), out.body, ours=True)


@dataclass
class Case:
    """One generated request and what must follow from it (None: any 2xx/4xx)."""

    target: str
    label: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    expect: tuple[int, int] | None = None  # the lowest and highest status that may answer it
    base64_body: str | None = None


@dataclass
class Tally:
    answers: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    five_xx: int = 0
    accepted: int = 0

    def check(self, case: Case, answer: Answer) -> None:
        self.answers[answer.status] = self.answers.get(answer.status, 0) + 1
        what = f"{case.target} {case.label}: {answer.status}"
        if answer.status >= 500:
            self.five_xx += 1
            self.problems.append(f"{what} {answer.body[-600:]!r}")
            return
        if 200 <= answer.status < 300:
            self.accepted += answer.status == 202
        try:
            body = json.loads(answer.body)
        except ValueError:
            self.problems.append(f"{what}: not JSON {answer.body[:200]!r}")
            return
        if answer.ours and answer.status >= 400:
            shape = isinstance(body, dict) and all(body.get(k) for k in ("type", "title", "status", "detail"))
            if answer.content_type != "application/problem+json" or not shape or body["status"] != answer.status:
                self.problems.append(f"{what}: not problem+json ({answer.content_type}) {answer.body[:200]!r}")
            elif "Traceback" in answer.body.decode():
                self.problems.append(f"{what}: a stack trace in the answer")
        if case.expect is not None and not case.expect[0] <= answer.status <= case.expect[1]:
            low, high = case.expect
            self.problems.append(f"{what}, expected {low if low == high else f'{low}-{high}'} {answer.body[:200]!r}")


def run(world: World, cases: list[Case]) -> Tally:
    tally = Tally()
    for case in cases:
        tally.check(case, send(world.system, case.path, case.headers, case.body, case.base64_body))
    return tally


# ---------------------------------------------------------------------------------------------------- body mutations
OK: tuple[int, int] = (200, 299)
BAD: tuple[int, int] = (400, 400)  # malformed: the intake's 400
REFUSED: tuple[int, int] = (400, 499)
Expect = tuple[int, int] | None  # None: any 2xx/4xx (a random mutation may or may not still be valid)


def _insert_member(body: bytes, member: bytes) -> bytes:
    """`member` (`"key":value`) as the object's first member; a body that is not an object is wrapped in one."""
    stripped = body.lstrip()
    if not stripped.startswith(b"{"):
        return b"{" + member + b"}"
    rest = stripped[1:]
    return b"{" + member + (b"" if rest.lstrip().startswith(b"}") else b",") + rest


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'[{"a":' * (depth // 2) + b"1" + b"}]" * (depth // 2)


Mutation = Callable[[random.Random, bytes], tuple[str, bytes, Expect]]  # -> (label, body, expected statuses)


def _deep(rng: random.Random, body: bytes) -> tuple[str, bytes, Expect]:
    depth = rng.choice([20, 100, 200, 600, 900, 960, 990, 1000, 1100, 5000, 100_000])
    kind = rng.choice(["array", "object", "mixed"])
    nested = _nested(depth, kind)
    shallow = depth <= 100  # real payloads nest < 10 deep; the intake refuses what could not be parsed twice
    if rng.random() < 0.5:
        return f"nested {kind} {depth} deep", nested, (OK if kind == "object" else BAD) if shallow else BAD
    return f"{kind} nested {depth} deep inside the payload", _insert_member(body, b'"deep":' + nested), (
        OK if shallow else BAD)


def _number(rng: random.Random, body: bytes) -> tuple[str, bytes, Expect]:
    number, expect = rng.choice([(b"1" * 5000, BAD), (b"-" + b"9" * 4301, BAD), (b"1" * 4000, OK), (b"1e400", BAD),
                                 (b"-1e400", BAD), (b"1e-400", OK), (b"1" + b"0" * 400 + b".5", BAD),
                                 (b"123456789012345678901234567890123456789", OK), (b"-0", OK)])
    return f"number {number[:12]!r}… ({len(number)} chars)", _insert_member(body, b'"n":' + number), expect


def _utf8(rng: random.Random, body: bytes) -> tuple[str, bytes, Expect]:
    bad = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80",
                      b"\xe2\x82", b"\xf4\x90\x80\x80", b"\xed\xa0\xbd\xed\xb8\x80"])  # the last: CESU-8 😀
    if rng.random() < 0.5:
        return f"invalid UTF-8 {bad!r} in a string", _insert_member(body, b'"s":"a' + bad + b'b"'), BAD
    at = rng.randrange(len(body) + 1)
    return f"invalid UTF-8 {bad!r} at {at}", body[:at] + bad + body[at:], BAD


def _surrogate(rng: random.Random, body: bytes) -> tuple[str, bytes, Expect]:
    value, lone = rng.choice([(b'"\\ud800"', True), (b'"\\udfff"', True), (b'"\\uD83D"', True),
                              (b'"a\\ud83dz"', True), (b'"\\ude00\\ud83d"', True), (b'"\\ud800\\u0041"', True),
                              (b'"\\ud83d\\ude00"', False), (b'"\\uD83D\\uDE00"', False), (b'"\\\\ud800"', False),
                              (b'"\\\\\\ud800"', True), (b'"\\ud7ff\\ue000"', False), (b'"\\ud55c\\uae00"', False)])
    in_key = rng.random() < 0.3
    member = value + b":1" if in_key else b'"s":' + value
    return f"surrogate {value!r} in a {'key' if in_key else 'value'}", _insert_member(body, member), (
        BAD if lone else OK)


def _duplicate_keys(rng: random.Random, body: bytes) -> tuple[str, bytes, Expect]:
    key = rng.choice([b"ref", b"action", b"object_kind", b"event_key", b"zen", b"hook_id"])
    value = rng.choice([b"1", b"null", b'"x"', b"{}", b"[]"])
    return f"duplicate key {key!r}", _insert_member(body, b'"' + key + b'":' + value), OK


def _constant(rng: random.Random, body: bytes) -> tuple[str, bytes, Expect]:
    literal = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"nan", b"undefined", b"[NaN]"])
    return f"literal {literal!r}", _insert_member(body, b'"c":' + literal), BAD


def _encoding(rng: random.Random, body: bytes) -> tuple[str, bytes, Expect]:
    how = rng.choice(["bom", "utf-16", "utf-16-le", "utf-32", "latin-1"])
    if how == "bom":
        return "UTF-8 BOM", b"\xef\xbb\xbf" + body, OK
    if how == "latin-1":
        return "latin-1 é", _insert_member(body, b'"s":"caf\xe9"'), BAD
    return how, body.decode("utf-8").encode(how), OK  # json.loads reads UTF-16/32: accepted, and travels gzipped


def _not_an_object(rng: random.Random, body: bytes) -> tuple[str, bytes, Expect]:
    value = rng.choice([b'"push"', b"[]", b"[" + body + b"]", b"42", b"-0.5e3", b"null", b"true", b'"\\ud800"',
                        b"", b" ", b"\n\t", b"{}", b"{} {}", body + b"x", body + body, b"\x00" + body])
    return f"body {value[:20]!r}", value, OK if value == b"{}" else BAD


def _bytes(rng: random.Random, body: bytes) -> tuple[str, bytes, Expect]:
    how = rng.choice(["truncated", "flipped", "inserted", "random", "nul"])
    if how == "truncated":
        return how, body[: rng.randrange(max(1, len(body)))], None
    if how == "flipped":
        data = bytearray(body)
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return how, bytes(data), None
    if how == "inserted":
        at = rng.randrange(len(body) + 1)
        return how, body[:at] + rng.randbytes(rng.randint(1, 16)) + body[at:], None
    if how == "nul":  # an escaped NUL is valid JSON; a raw one in a string is not
        return how, _insert_member(body, b'"z":"\\u0000' + rng.choice([b"", b"\x00"]) + b'"'), None
    return how, rng.randbytes(rng.randint(1, 4000)), None


def _padding(rng: random.Random, body: bytes) -> tuple[str, bytes, Expect]:
    pad = rng.choice([b" " * 100_000, b"\n" * 10, b"\r\n\t "])
    if rng.random() < 0.3:  # whitespace to Python (str.isspace) that JSON does not allow: not JSON text
        other = rng.choice(["\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000"]).encode()
        before, after = rng.choice([(b"", other), (pad, other), (other, b""), (other, pad)])
        return f"{other!r} around", before + body + after, BAD
    return "whitespace around", pad + body + pad, OK


def _noncharacter(rng: random.Random, body: bytes) -> tuple[str, bytes, Expect]:
    """U+FFFE/U+FFFF: valid UTF-8 and valid JSON, but refused by SQS unescaped (such a body travels gzipped)."""
    value = rng.choice(["\ufffe".encode(), "\uffff".encode(), b"\\uffff", "a\ufffeb\U0010ffff".encode()])
    return f"noncharacter {value!r}", _insert_member(body, b'"s":"' + value + b'"'), OK


BODY_MUTATIONS: list[Mutation] = [_deep, _number, _utf8, _surrogate, _duplicate_keys, _constant, _encoding,
                                  _not_an_object, _bytes, _padding, _noncharacter]


# ---------------------------------------------------------------------------------------------------- header mutations
def _value(rng: random.Random, kind: str) -> str:
    if kind == "long":
        n = rng.choice([64, 65, 127, 128, 129, 200, 1024, 1025, 8000])
        return "".join(rng.choice("abcdef0123456789-") for _ in range(n))
    if kind == "non-ascii":
        return rng.choice(["é", "日本語", "\U0001f600", "\u2028", "ü-" * 20, "\ufeffabc", "a\u00a0b"])
    if kind == "control":
        return rng.choice(["a\x00b", "a\tb", "a\x1fb", "a\x7fb", "\x01", "a\rb", "a\x0bb"])
    if kind == "odd":
        return rng.choice(["a#b", "a/b", "a b", "../../x", "a,b", "'; DROP TABLE x", "${jndi:x}", "%00", "a\\b"])
    return rng.choice(["", " ", "\t"])


def _mutate_headers(rng: random.Random, target: Target, headers: list[tuple[str, str]]
                    ) -> tuple[str, list[tuple[str, str]], Expect]:
    """(label, headers, expected statuses); the signature header is left alone here."""
    which = rng.choice(["event", "delivery", "delivery", "other", "names"])
    out = list(headers)
    if which == "names":  # header names in other cases, and many unrelated headers: still fine
        out = [(n.title() if rng.random() < 0.5 else n.upper(), v) for n, v in out]
        out += [(f"x-extra-{i}", "v" * rng.randint(0, 300)) for i in range(rng.randint(0, 60))]
        return "header names in other cases, extra headers", out, OK
    if which == "other":
        extra = rng.choice([("content-type", "text/plain"), ("content-type", ""), ("x-forwarded-for", "é"),
                            ("user-agent", "\x00" * 10), ("content-encoding", "gzip"), ("x-attempt-number", "x")])
        return f"other header {extra[0]}={extra[1][:10]!r}", [*out, extra], OK
    names = (target.event_header,) if which == "event" else target.delivery_headers
    kind = rng.choice(["missing", "empty", "long", "non-ascii", "control", "odd", "duplicated", "padded"])
    if kind == "missing":
        return f"{which} header missing", [(n, v) for n, v in out if n not in names], BAD
    if kind == "duplicated":  # API Gateway joins repeated headers with commas
        out += [(n, v if rng.random() < 0.5 else v[::-1]) for n, v in headers if n in names]
        return f"{which} header twice", out, OK if which == "event" else BAD
    if kind == "padded":  # surrounding whitespace is stripped
        return f"{which} header padded", [(n, f"  {v} " if n in names else v) for n, v in out], OK
    value = _value(rng, kind)
    if which == "event" and kind == "odd" and rng.random() < 0.5:
        value = rng.choice(["Push Hook", "repo:push", "push", "ping", "unknown_event", "System Hook"])
    out = [(n, value if n in names else v) for n, v in out]
    if kind == "long":
        expect = OK if len(value) <= (64 if which == "event" else 128) else BAD
    elif kind == "odd":
        expect = OK if which == "event" else BAD  # any printable ASCII names an event (unknown ones are ignored)
    else:
        expect = BAD
    return f"{which} header {kind} ({len(value)} chars)", out, expect


def _mutate_signature(rng: random.Random, target: Target, body: bytes, headers: list[tuple[str, str]]
                      ) -> tuple[str, list[tuple[str, str]]]:
    """A request that is not signed right: 401 whatever else is wrong with it."""
    others = [(n, v) for n, v in headers if n.lower() != target.auth_header]  # names may be in other cases
    kind = rng.choice(["missing", "wrong secret", "other bytes", "empty", "long", "non-ascii", "control", "prefix",
                       "twice"])
    if kind == "missing":
        return "unsigned", others
    if kind == "other bytes" and target.provider != "gitlab":  # GitLab's token does not depend on the body
        return "signed over other bytes", [*others, (target.auth_header, target.auth(body + b" "))]
    if kind in ("wrong secret", "other bytes"):
        return "signed with another secret", [*others, (target.auth_header, target.auth(body, "not-the-secret"))]
    if kind == "prefix":
        value = target.auth(body).replace("sha256=", "sha1=") if target.provider != "gitlab" else "x" + target.secret
        return "signature with a wrong prefix", [*others, (target.auth_header, value)]
    if kind == "twice":
        return "signature header twice", [*others, (target.auth_header, target.auth(body)),
                                          (target.auth_header, target.auth(body))]
    return f"signature {kind}", [*others, (target.auth_header, _value(rng, kind))]


def _hook_path(rng: random.Random, target: Target) -> tuple[str, str]:
    """A hook URL that cannot be one of ours, or is not (404), as (label, path)."""
    base, real = target.path.rsplit("/", 1)
    shaped = "hook_" + "".join(rng.choice(B32) for _ in range(26))
    hook_id = rng.choice([
        shaped, "hook_missing", real.upper(), real + "x", real[:-1], "hook_" + "a" * 5000, "a" * 8000, quote("é"),
        "%00", "%ED%A0%80", "%2E%2E", quote("hook_/../x", safe=""), quote(real + "\x00", safe=""), "x" * 1025,
        quote("\U0001f600"), real.replace("hook_", "HOOK_"), real + "%20", quote(" " + real, safe=""),
    ])
    return f"hook id {hook_id[:24]!r} ({len(hook_id)} chars)", f"{base}/{hook_id}"


# ---------------------------------------------------------------------------------------------------- the cases
def protocol_cases(world: World, rng: random.Random, count: int) -> list[Case]:
    cases: list[Case] = []
    providers = sorted(world.targets)
    for n in range(count):
        target = world.targets[providers[n % len(providers)]]
        event, body = rng.choice(target.examples)
        headers = target.headers(rng, event, body)
        label: str = "as sent"
        expect: Expect = OK
        kind = rng.random()
        if kind < 0.45:
            label, body, expect = rng.choice(BODY_MUTATIONS)(rng, body)
        elif kind < 0.75:
            label, headers, expect = _mutate_headers(rng, target, headers)
        elif kind < 0.80:
            pass  # a clean delivery
        elif kind < 0.85:  # API Gateway flags a body base64: base64 of the body, or not base64 at all
            good = rng.random() < 0.3
            text = base64.b64encode(body).decode() if good else rng.choice(
                ["!!!", "abc", "a===", "=", "Zm9v\n\x00", "é", body[:50].decode("utf-8", "replace")])
            signed = [(k, target.auth(body if good else text.encode()) if k == target.auth_header else v)
                      for k, v in headers]
            cases.append(Case(target.provider, f"isBase64Encoded, {'base64' if good else 'not base64'} {text[:12]!r}",
                              target.path, signed, b"x", OK if good else REFUSED, base64_body=text))
            continue
        headers = [(k, target.auth(body) if k.lower() == target.auth_header else v) for k, v in headers]  # signed
        if target.provider != "github" and rng.random() < 0.12:
            hook_label, path = _hook_path(rng, target)
            cases.append(Case(target.provider, f"{hook_label}, {label}", path, headers, body, (404, 404)))
        elif rng.random() < 0.25:
            sig_label, headers = _mutate_signature(rng, target, body, headers)
            cases.append(Case(target.provider, f"{sig_label}, {label}", target.path, headers, body, (401, 401)))
        else:
            cases.append(Case(target.provider, label, target.path, headers, body, expect))
    return cases


_WEIRD: list[Any] = [None, 0, -1, 2**63, 2**64 + 1, 1.5, -0.0, "", " ", "x" * 5000, [], {}, [None], {"": None},
                     True, False, "\u0000", "é\U0001f600", "../..", "refs/heads/", "0" * 40, ["a", 1, None],
                     {"id": None}, [[[[[]]]]], "\ud7ff", "a" * 300, "refs/tags/", {"name": 1}]


def _mutate_payload(rng: random.Random, payload: Any) -> str:
    """Replace, remove or inflate a few fields somewhere in the payload, in place; a label of what changed."""
    changes = []
    for _ in range(rng.randint(1, 3)):
        parent: Any = None
        key: Any = None
        node, path = payload, []
        while isinstance(node, dict | list) and node and (parent is None or rng.random() < 0.7):
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            parent, node = node, node[key]
            path.append(str(key))
        if parent is None:
            continue
        how = rng.choice(["replace", "replace", "remove", "inflate"])
        if how == "remove":
            del parent[key]
        elif how == "inflate" and isinstance(node, list) and node:
            parent[key] = node * rng.randint(2, 50)
        else:
            parent[key] = copy.deepcopy(rng.choice(_WEIRD))
        changes.append(f"{how} {'.'.join(path)[:60]}")
    return "; ".join(changes) or "unchanged"


def payload_cases(world: World, rng: random.Random, count: int) -> list[Case]:
    cases = []
    providers = sorted(world.targets)
    for n in range(count):
        target = world.targets[providers[n % len(providers)]]
        event, original = rng.choice(target.examples)
        payload = json.loads(original)
        label = _mutate_payload(rng, payload)
        body = json.dumps(payload, ensure_ascii=rng.random() < 0.5).encode()
        cases.append(Case(target.provider, f"{event}: {label}", target.path, target.headers(rng, event, body), body,
                          OK if len(body) <= 200 * 1024 else None))
    return cases


# ---------------------------------------------------------------------------------------------------- the tests
def drain_router(system: System) -> tuple[int, int]:
    """(deliveries the router took, batches that failed) until the events queue is empty."""
    received = failed = 0
    for _ in range(200):
        results = system.drain("EventRouterFunction", rounds=50)
        received += sum(r.received for r in results)
        failed += sum(bool(r.error or r.failed_ids) for r in results)
        if not results:
            return received, failed
    return received, failed


def _report(name: str, tally: Tally, seconds: float) -> str:
    spread = ", ".join(f"{s}: {n}" for s, n in sorted(tally.answers.items()))
    return (f"{name}: {sum(tally.answers.values())} requests in {seconds:.1f} s; 5xx {tally.five_xx}; "
            f"accepted {tally.accepted}; statuses {{{spread}}}")


def test_protocol_mutations_never_get_a_5xx_and_poison_nothing(world: World) -> None:
    started = time.perf_counter()
    tally = run(world, protocol_cases(world, random.Random(SEED), PROTOCOL_CASES))  # noqa: S311
    summary = _report("protocol cases", tally, time.perf_counter() - started)
    print(summary)
    assert not tally.problems, f"{summary}\n" + "\n".join(tally.problems[:40])
    received, failed = drain_router(world.system)
    dead = world.system.queue_depth("EventsDLQ")
    print(f"router: {received} deliveries, {failed} failed batches, events DLQ {dead}")
    assert dead == 0 and failed == 0, f"{summary}; router: {failed} failed batches, {dead} in the events DLQ"


def test_payload_mutations_never_get_a_5xx_and_poison_nothing(world: World) -> None:
    started = time.perf_counter()
    before = world.system.queue_depth("EventsDLQ")
    tally = run(world, payload_cases(world, random.Random(SEED + 1), PAYLOAD_CASES))  # noqa: S311
    summary = _report("payload cases", tally, time.perf_counter() - started)
    print(summary)
    assert not tally.problems, f"{summary}\n" + "\n".join(tally.problems[:40])
    # Signed payloads with wrong field types: the router logs them rejected and acknowledges them (never the DLQ).
    _, failed = drain_router(world.system)
    dead = world.system.queue_depth("EventsDLQ") - before
    assert dead == 0 and failed == 0, f"{summary}; router: {failed} failed batches, {dead} new in the events DLQ"

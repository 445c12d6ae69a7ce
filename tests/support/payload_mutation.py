"""Deterministic type mutations of real webhook payloads, with what the normalizer must make of each.

A `Base` is a real payload (re-addressed to a linked repository) and the paths its normalizer reads, each with the
JSON types the provider documents there (`null` where it is documented optional or nullable). `plan` picks, with a
seeded `random.Random`, a bounded set of `Case`s: every base as is, at least one wrong type at every read path, more
replacements at read paths up to the budget, and a few at paths the normalizer does not read:

- a replacement of a documented type may keep the delivery valid (`valid`): built, ignored, or rejected as malformed
  (an empty object where the documented one has required keys);
- one of another type must be `rejected` as malformed;
- one at a path that is not read must change nothing (`same` outcome and builds as the base).
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gitconnect.domain.payload import json_type

Key = str | int
JsonPath = tuple[Key, ...]
Expect = Literal["base", "valid", "rejected", "same"]


@dataclass(frozen=True)
class Replacement:
    kind: str
    value: object


REPLACEMENTS: tuple[Replacement, ...] = (
    Replacement("null", None),
    Replacement("list", ["x", 1]),
    Replacement("empty list", []),
    Replacement("number", 7),
    Replacement("float", 1.5),
    Replacement("bool", True),
    Replacement("string", "x"),
    Replacement("empty string", ""),
    Replacement("object", {"x": 1}),
    Replacement("empty object", {}),
    Replacement("huge int", 2**128 + 1),
)


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(text: str) -> JsonPath:
    """`pull_request.head.sha` -> ("pull_request", "head", "sha"); `commits[0].added` -> ("commits", 0, "added")."""
    return tuple(int(index) if index else name for name, index in _STEP.findall(text))


def show(path: JsonPath) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def value_at(payload: object, path: JsonPath) -> tuple[bool, object]:
    """(found, value) at `path`."""
    node = payload
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return False, None
        elif not isinstance(node, dict) or step not in node:
            return False, None
        node = node[step]  # type: ignore[index]
    return True, node


def mutated(payload: dict[str, Any], path: JsonPath, value: object) -> dict[str, Any] | None:
    """A copy with `value` at `path` (the last key may be new); None when the parent does not exist."""
    found, parent = value_at(payload, path[:-1])
    last = path[-1]
    if not found or (isinstance(last, int) and (not isinstance(parent, list) or last >= len(parent))):
        return None
    if isinstance(last, str) and not isinstance(parent, dict):
        return None
    out: dict[str, Any] = json.loads(json.dumps(payload))  # as received: no object shared by two places
    _, target = value_at(out, path[:-1])
    target[last] = copy.deepcopy(value)  # type: ignore[index]
    return out


def walk(payload: object, depth: int = 5) -> Iterator[JsonPath]:
    """Every path to a value (the first item of arrays only), down to `depth` steps."""

    def go(node: object, at: JsonPath) -> Iterator[JsonPath]:
        if at:
            yield at
        if len(at) >= depth:
            return
        if isinstance(node, dict):
            for key, child in node.items():
                yield from go(child, (*at, key))
        elif isinstance(node, list) and node:
            yield from go(node[0], (*at, 0))

    yield from go(payload, ())


@dataclass(frozen=True)
class Base:
    name: str
    event: str
    payload: dict[str, Any]
    reads: Mapping[str, frozenset[str]]  # path -> the JSON types documented there

    def read_paths(self) -> list[JsonPath]:
        return [p for p in map(parse_path, self.reads) if value_at(self.payload, p[:-1])[0]]

    def documented(self, path: JsonPath) -> frozenset[str]:
        return self.reads[show(path)]

    def unread_paths(self) -> list[JsonPath]:
        """Paths of the payload the normalizer does not read: not a read path, nor an object holding one, nor
        inside a read value (an object read as a whole is a container: what it holds may be unread)."""
        reads = self.read_paths()
        containers = {r[:n] for r in reads for n in range(1, len(r))}
        leaves = [r for r in reads if r not in containers]
        return [
            p
            for p in walk(self.payload)
            if p not in containers and p not in reads and not any(p[: len(leaf)] == leaf for leaf in leaves)
        ]


@dataclass(frozen=True)
class Case:
    id: str
    base: Base
    path: JsonPath | None  # None: the base as is
    replacement: Replacement | None
    payload: dict[str, Any]
    expect: Expect
    facts: dict[str, object] = field(default_factory=dict)  # what the provider's check needs (e.g. concerns)

    @property
    def label(self) -> str:
        if self.path is None or self.replacement is None:
            return f"{self.base.name} as is"
        return f"{self.base.name}: {show(self.path)} := {self.replacement.kind}"


def plan(bases: Sequence[Base], rng: random.Random, budget: int, unread: int, prefix: str) -> list[Case]:
    """The bases as is, then at least one wrong type at each read path of each base, then random read-path
    replacements up to `budget - unread`, then `unread` replacements at paths the normalizer does not read."""
    cases = [Case(f"{prefix}-{i:03d}-base", b, None, None, copy.deepcopy(b.payload), "base") for i, b in
             enumerate(bases)]
    seen: set[tuple[str, JsonPath, str]] = set()

    def add(base: Base, path: JsonPath, replacement: Replacement, expect: Expect | None = None) -> None:
        key = (base.name, path, replacement.kind)
        if key in seen:
            return
        payload = mutated(base.payload, path, replacement.value)
        if payload is None:
            return
        seen.add(key)
        if expect is None:
            expect = "valid" if json_type(replacement.value) in base.documented(path) else "rejected"
        cases.append(Case(f"{prefix}-{len(cases):03d}", base, path, replacement, payload, expect))

    for base in bases:
        for path in base.read_paths():
            wrong = [r for r in REPLACEMENTS if json_type(r.value) not in base.documented(path)]
            if wrong:
                add(base, path, rng.choice(wrong))
    triples = [(b, p, r) for b in bases for p in b.read_paths() for r in REPLACEMENTS]
    rng.shuffle(triples)
    for base, path, replacement in triples:
        if len(cases) >= budget - unread:
            break
        add(base, path, replacement)
    others = [(b, p) for b in bases for p in b.unread_paths()]
    rng.shuffle(others)
    for base, path in others[:unread]:
        add(base, path, rng.choice(REPLACEMENTS), "same")
    return cases


def types(*names: str) -> frozenset[str]:
    return frozenset(names)


OBJECT, ARRAY, STRING, INTEGER, BOOLEAN = types("object"), types("array"), types("string"), types("integer"), types(
    "boolean")
ID = types("integer", "string")


def optional(documented: frozenset[str]) -> frozenset[str]:
    return documented | {"null"}

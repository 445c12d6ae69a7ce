"""Heads reconciled: what gitconnect last saw of a webhook-fed source's watched refs, and which refs moved without a
webhook. Pure: the reconcile service (services/reconcile.py) reads the provider and the tables, this decides.

"Last saw" has two writers, each cheap: the router records every pushed watched ref per repository as deliveries
arrive (`SeenRef`, one UpdateItem per push delivery however many sources watch it), and each reconcile pass records
the watched refs it listed on its own source (`ReconcileState`). A ref whose listed head is neither is a push nobody
told us about."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RECONCILE_EVENT = "reconcile"  # the delivery log's event name for what a reconcile pass recovered


@dataclass(frozen=True)
class SeenRef:
    """A ref's head as the last push delivery named it (`at`: epoch seconds of the router's record)."""

    sha: str
    at: float


@dataclass(frozen=True)
class ReconcileState:
    """A source's last reconcile pass: when (epoch seconds), the watched refs it listed (full ref name -> commit),
    the refs it built because no webhook had named them (ref -> sha), the provider's validators of its listings
    (GitHub ETags, per listing and page), and the rules they were listed for (a change of globs lists afresh)."""

    at: float
    refs: dict[str, str] = field(default_factory=dict)
    recovered: dict[str, str] = field(default_factory=dict)
    validators: dict[str, list[str]] = field(default_factory=dict)
    rules: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "refs": self.refs, "recovered": self.recovered, "validators": self.validators,
                "rules": self.rules}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ReconcileState | None:
        if not data:
            return None
        return cls(
            at=float(data.get("at") or 0),
            refs={str(k): str(v) for k, v in (data.get("refs") or {}).items()},
            recovered={str(k): str(v) for k, v in (data.get("recovered") or {}).items()},
            validators={str(k): [str(x) for x in v] for k, v in (data.get("validators") or {}).items()},
            rules=str(data.get("rules") or ""),
        )


def rules_key(branches: tuple[str, ...], tags: tuple[str, ...]) -> str:
    """What a listing's remembered refs depend on: the source's branch and tag globs."""
    text = json.dumps([list(branches), list(tags)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Missed:
    """A watched ref whose head moved with no webhook: the push the provider would have sent (`before` None: a ref
    gitconnect never saw, i.e. created)."""

    ref: str
    before: str | None
    after: str


def missed_refs(
    listed: Mapping[str, str], state: ReconcileState | None, seen: Mapping[str, SeenRef]
) -> list[Missed]:
    """The watched refs (`listed`: full ref -> head) that moved since gitconnect last saw them. With no earlier pass
    (`state` None) only refs a delivery named before count (the rest is the baseline: nothing to build). `before` is
    the newer of the two records: a delivery recorded after the last pass, else what the last pass listed."""
    missed = []
    for ref, sha in sorted(listed.items()):  # bounded by the watched refs of one listing
        delivered = seen.get(ref)
        listed_before = state.refs.get(ref) if state is not None else None
        if sha in {listed_before, delivered.sha if delivered else None}:
            continue
        if state is None and delivered is None:
            continue  # the first pass takes the baseline
        if delivered is not None and (state is None or listed_before is None or delivered.at >= state.at):
            before: str | None = delivered.sha
        else:
            before = listed_before
        missed.append(Missed(ref, before, sha))
    return missed


def recovered_already(state: ReconcileState | None, ref: str, sha: str | None, seen_before: SeenRef | None) -> bool:
    """A delivery for `ref` at `sha` that the reconcile built already (the webhook came late): True unless a delivery
    was recorded for that ref after that pass (the ref moved on and came back: a new push)."""
    if state is None or sha is None or state.recovered.get(ref) != sha:
        return False
    return seen_before is None or seen_before.at < state.at

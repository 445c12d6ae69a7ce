"""GitOps drift, bounded (issue 12 "Scale"): each template with something to check has a next-due time in the sparse
`by_drift_due` index; the scheduled sync claims the due ones and sends them to the sync queue, and SyncFunction checks
each here, the branch head first:

- a linked file: the branch head (GitHub/GitLab/Bitbucket: one branch request; Custom Git: one `ls-remote`) against
  the commit the template last saw (synced at, or refused at). Unchanged: done, nothing read. Moved: a `SyncRequest`
  on the FIFO gitops queue, whose consumer reads the file (services/gitops_queue.py).
- a release flow's Git triggers on a provider without webhooks (Custom Git): the same `ls-remote` shows every branch;
  each watched head that moved since the last check is decided as a push (branch globs, skip flags, path rules, from
  Git itself, as a polled source's) and requests its run under a derived id.

Templates on one branch (one connection, for Custom Git) are a drift group: they are due at the same moment, at the
group's own phase (`aligned_due`), so one scheduled run claims them together (each claim moves its member to the same
next due time) and the container that checks them asks for the head once: the head is remembered for that group and
that due time only (at most HEAD_CACHE_SECONDS), so the group's next check asks again. Interval:
`GITCONNECT_DRIFT_SECONDS` (900) where webhooks deliver pushes (the check only looks for a missed delivery),
`GITCONNECT_POLL_SECONDS` (180) on Custom Git.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from gitconnect.domain.errors import GitconnectError
from gitconnect.domain.events import HEADS, PushEvent, RepoRef
from gitconnect.domain.ids import stable_id
from gitconnect.domain.matching import decide_push, has_path_rules
from gitconnect.domain.models import Connection
from gitconnect.domain.rules import matches_any
from gitconnect.domain.schedule import aligned_due
from gitconnect.domain.templates import Template
from gitconnect.providers.base import Access, PolledChanges, Provider, PushFacts, RemoteRefs, Webhooks
from gitconnect.services.gitops_queue import SyncRequest, SyncRequests
from gitconnect.services.ports import ConnectionStore
from gitconnect.services.runs import RunService
from gitconnect.services.secrets import ConnectionSecrets
from gitconnect.services.sync import MAX_INSPECTED_HEADS, moved_heads
from gitconnect.services.ttl_cache import TtlCache

log = logging.getLogger(__name__)

HEAD_CACHE_SECONDS = 30.0  # a drift group's members, claimed by one scheduled run, share the head read


def trigger_run_id(template_id: str, trigger: str, ref: str, sha: str) -> str:
    """A Git trigger's run id, derived from the template, the trigger and the commit: the same push seen twice (two
    hooks of one repository, a webhook retried, a poll and a webhook) requests one run."""
    return stable_id("run", template_id, trigger, ref, sha)


@dataclass(frozen=True)
class DriftSchedule:
    """When a template's drift check is due: set when it is created or its link or triggers change."""

    poll_seconds: float = 180.0
    drift_seconds: float = 900.0
    clock: Callable[[], float] = time.time

    def scheduled(self, template: Template, provider: Provider | None) -> Template:
        """The template marked polled (its provider sends no webhooks) and due at its group's phase; a template
        whose group is unchanged keeps its due time; one with nothing to check has none."""
        polled = provider is not None and not isinstance(provider, Webhooks)
        marked = replace(template, polled=polled)
        group = marked.drift_group
        if group is None:
            return replace(marked, drift_due_at=None)
        interval = self.poll_seconds if polled else self.drift_seconds
        return replace(marked, drift_due_at=aligned_due(self.clock(), interval, group))


class DriftTemplates(Protocol):
    """What the drift check needs of the template store (adapters/template_store.py)."""

    def get(self, team_id: str, template_id: str) -> Template | None: ...
    def record_trigger_heads(self, team_id: str, template_id: str, heads: dict[str, str]) -> bool: ...


@dataclass
class DriftReport:
    outcome: str = "nothing to check"
    runs: list[str] = field(default_factory=list)


@dataclass
class DriftCheck:
    templates: DriftTemplates
    connections: ConnectionStore
    secrets: ConnectionSecrets
    providers: Callable[[str], Provider]
    requests: SyncRequests
    runs: RunService
    clock: Callable[[], float] = time.monotonic
    _heads: TtlCache[str | None] = field(init=False)
    _refs: TtlCache[RemoteRefs] = field(init=False)

    def __post_init__(self) -> None:
        self._heads = TtlCache(None, HEAD_CACHE_SECONDS, clock=self.clock)
        self._refs = TtlCache(None, HEAD_CACHE_SECONDS, clock=self.clock)

    def check(self, team_id: str, template_id: str) -> DriftReport:
        """One due template, read afresh (gone, unlinked or its connection not active: nothing). A remote that
        cannot be reached is an outcome, logged; the next check tries again."""
        report = DriftReport()
        template = self.templates.get(team_id, template_id)
        owner = None if template is None else (template.linked or template.triggers)
        if template is None or owner is None:
            return report
        connection = self.connections.get(team_id, owner.connection_id)
        if connection is None or connection.refusal is not None:
            report.outcome = "connection not active"
            return report
        provider = self.providers(connection.provider)
        access = self.secrets.access(connection)
        try:
            refs = self._polled_refs(template, connection, provider, access) if template.polled else None
            if template.linked is not None:
                report.outcome = self._file(template, connection, provider, access, refs)
            if refs is not None and template.triggers is not None and isinstance(provider, PolledChanges):
                report.runs = self._triggers(template, provider, access, refs.branches)
        except GitconnectError as exc:
            report.outcome = f"failed: {exc.detail}"
            log.warning("drift check failed", extra={"template_id": template.id, "reason": exc.detail})
        return report

    def _polled_refs(
        self, template: Template, connection: Connection, provider: Provider, access: Access
    ) -> RemoteRefs | None:
        if not isinstance(provider, PolledChanges):
            return None
        return self._refs.lookup(_round(template, connection.id), lambda: provider.refs(access))

    def _file(
        self, template: Template, connection: Connection, provider: Provider, access: Access, refs: RemoteRefs | None
    ) -> str:
        link = template.linked
        assert link is not None  # noqa: S101 - checked by the caller
        if refs is not None:
            head = refs.branches.get(link.branch)
        else:
            key = _round(template, connection.id, link.repository, link.branch)
            head = self._heads.lookup(key, lambda: provider.resolve_branch(access, link.repository, link.branch))
        if head is not None and head in (link.last_synced_sha, (link.last_error or {}).get("commit_sha")):
            return "unchanged"
        self.requests.send([SyncRequest.of(template, head)])
        return "sync requested"

    def _triggers(
        self, template: Template, provider: PolledChanges, access: Access, branches: dict[str, str]
    ) -> list[str]:
        """Each watched head that moved since the last check, decided as a push; the first check takes the baseline
        (what was there when the triggers were set never runs)."""
        triggers = template.triggers
        assert triggers is not None  # noqa: S101 - checked by the caller
        watched = {name: sha for name, sha in branches.items() if matches_any(name, triggers.branches)}
        if template.trigger_heads is None or not triggers.branches:
            self.templates.record_trigger_heads(template.team_id, template.id, watched)
            return []
        rules = triggers.as_source(template.id, template.team_id)
        seen = replace(rules, heads=template.trigger_heads)
        requested: list[str] = []
        # Bounded by the branches the remote advertises; at most MAX_INSPECTED_HEADS of them are fetched.
        for index, (name, before, after) in enumerate(moved_heads(seen, watched)):
            event = PushEvent(None, RepoRef.named(triggers.repository, triggers.repository), f"{HEADS}{name}",
                              before or None, after, not before, False, (), False, None)
            facts = PushFacts(None, None, f"more than {MAX_INSPECTED_HEADS} heads moved in one check")
            if index < MAX_INSPECTED_HEADS:
                try:
                    facts = provider.push_facts(access, event.before, after, files=has_path_rules(rules))
                except GitconnectError as exc:
                    facts = PushFacts(None, None, f"the commits could not be fetched: {exc.detail}")
            decision = decide_push(
                rules, replace(event, head_message=facts.head_message), facts.files, facts.unknown or "not inspected"
            )
            if decision.build:
                details = {"trigger": "push", "ref": str(decision.ref), "sha": str(decision.sha)}
                run_id = trigger_run_id(template.id, "push", str(decision.ref), str(decision.sha))
                self.runs.request(template, decision.reason, details=details, run_id=run_id)
                requested.append(run_id)
        # Runs first, heads after: a check that fails between them requests the same (derived) runs again.
        self.templates.record_trigger_heads(template.team_id, template.id, watched)
        return requested


def _round(template: Template, *where: str) -> str:
    """What a remembered head is valid for: this place, for the check round the template's group is in (its members'
    claims all moved them to the same next due time)."""
    return "\x1f".join((*where, repr(template.drift_due_at)))

"""Runs of templates and release flows: `RunRequested` on the bus under the template's concurrency policy.

- `allow`: every run starts at once.
- `queue`: one run at a time; the others wait (`queued`, not started, numbered by `position` in request order) and
  start in that order as each one ends.
- `forbid`: a run requested while one is active is refused: by hand, 409; automatically, recorded `cancelled` with
  the reason, so the team sees it was not run.
"One at a time" holds under concurrency: the active run holds the template's run slot, taken by a conditional write
(never checked then written), freed by its final report.
Runs report their status like builds: `POST /v1/runs/{id}/status` with the run's own callback token.
A request may name its run id (derived from what asked for it: template, commit, trigger): a second request with the
same id, e.g. one push reaching two hooks of a repository, is a no-op that answers the run already requested.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from gitconnect.domain.auth import Principal
from gitconnect.domain.errors import ConflictError
from gitconnect.domain.ids import iso, new_id, utcnow
from gitconnect.domain.templates import RUN_FINAL, Run, Template
from gitconnect.services.builds import reported, token_hash
from gitconnect.services.ports import EventBus

_OPEN = ("queued", "running")


class RunStore(Protocol):
    def put_run(self, run: Run) -> None: ...
    def get_run(self, run_id: str) -> Run | None: ...
    def runs(self, template_id: str) -> list[Run]: ...
    def enqueue_run(self, run: Run) -> Run: ...
    def claim_slot(self, template_id: str, run_id: str) -> bool: ...
    def release_slot(self, template_id: str, run_id: str) -> None: ...
    def slot_holder(self, template_id: str) -> str | None: ...
    def start_run(self, run: Run, token_hash: str, at: str) -> Run: ...
    def unstart_run(self, run_id: str) -> None: ...
    def update_run_status(
        self, run_id: str, status: str, description: str | None, at: str, allowed_from: tuple[str, ...]
    ) -> Run: ...


class TemplateLookup(Protocol):
    def get(self, team_id: str, template_id: str) -> Template | None: ...
    def version_content(self, template_id: str, version: int) -> dict[str, Any] | None: ...


class RunService:
    def __init__(self, store: RunStore, templates: TemplateLookup, bus: EventBus, public_url: str) -> None:
        self._store, self._templates, self._bus = store, templates, bus
        self._public_url = public_url.rstrip("/")

    def request(
        self,
        template: Template,
        reason: str,
        *,
        manual: bool = False,
        details: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> Run:
        """A run requested under the template's policy. With `run_id` (a derived id) a request already made is
        answered with its run and nothing else happens."""
        if run_id is not None:
            existing = self._store.get_run(run_id)
            if existing is not None:
                return existing
            try:
                return self._request(template, reason, manual, details, run_id)
            except ConflictError:
                existing = self._store.get_run(run_id)  # the same request, made at the same moment, got there first
                if existing is None:
                    raise
                return existing
        return self._request(template, reason, manual, details, new_id("run"))

    def _request(
        self, template: Template, reason: str, manual: bool, details: dict[str, Any] | None, run_id: str
    ) -> Run:
        now = iso(utcnow())
        run = Run(
            run_id,
            template.team_id,
            template.id,
            template.version,
            "queued",
            now,
            now,
            reason,
            details=details or {},
        )
        if template.concurrency == "allow":
            self._store.put_run(run)
            return self._start(template, run)
        if template.concurrency == "queue":
            queued = self._store.enqueue_run(run)
            started = self._start_next(template)
            return started if started is not None and started.id == run.id else queued
        if not self._store.claim_slot(template.id, run.id):  # `forbid`
            holder = self._store.slot_holder(template.id)
            if manual:
                raise ConflictError(f"run {holder} is in progress and this template forbids concurrent runs")
            run = replace(run, status="cancelled", description=f"refused: run {holder} was in progress")
            self._store.put_run(run)
            return run
        try:
            self._store.put_run(run)
        except Exception:
            self._store.release_slot(template.id, run.id)
            raise
        return self._start(template, run)

    def _start(self, template: Template, run: Run) -> Run:
        """Mark the run started (only once, whoever else tries), then publish it; a failed publish un-marks it, so
        a `queue` never waits on a run that was never requested."""
        token = secrets.token_urlsafe(32)
        started = self._store.start_run(run, token_hash(token), iso(utcnow()))
        content = (
            template.content
            if template.version == run.version
            else self._templates.version_content(template.id, run.version)  # a queued run of an older version
        )
        detail = {
            "run_id": run.id,
            "team_id": run.team_id,
            "template_id": template.id,
            "kind": template.kind,
            "name": template.name,
            "version": run.version,
            "content": content,
            "reason": run.reason,
            **run.details,
            "callback_url": f"{self._public_url}/v1/runs/{run.id}/status",
            "callback_token": token,
        }
        try:
            self._bus.publish("RunRequested", detail)
        except Exception:
            self._store.unstart_run(run.id)
            if template.concurrency != "allow":
                self._store.release_slot(template.id, run.id)
            raise
        return started

    def list(self, template_id: str) -> list[Run]:
        return list(reversed(self._store.runs(template_id)))  # newest first

    def run_for_report(self, run_id: str, token: str, team_principal: Callable[[], Principal]) -> Run:
        return reported("run", run_id, self._store.get_run(run_id), token, team_principal)

    def report(self, run: Run, status: str, description: str | None) -> Run:
        if status == run.status and status in RUN_FINAL:
            self._ended(run)  # the runner repeating its final report (after a failed start of the next one)
            return run
        allowed = ("queued",) if status == "queued" else _OPEN
        updated = self._store.update_run_status(run.id, status, description, iso(utcnow()), allowed)
        if status in RUN_FINAL:
            self._ended(updated)
        return updated

    def _ended(self, ended: Run) -> None:
        """A final status frees the run's slot; under `queue`, the first waiting run takes it."""
        self._store.release_slot(ended.template_id, ended.id)  # whatever the policy is now: it may have changed
        template = self._templates.get(ended.team_id, ended.template_id)
        if template is not None and template.concurrency == "queue":
            self._start_next(template)

    def _start_next(self, template: Template) -> Run | None:
        """The first waiting run (lowest position) started, if the slot is free. Bounded by the template's runs (one
        index query); whoever takes the slot starts that run, the others leave it waiting."""
        waiting = [r for r in self._store.runs(template.id) if not r.started and r.status == "queued"]
        first = min(waiting, key=lambda r: (r.position is None, r.position or 0, r.created_key), default=None)
        if first is None or not self._store.claim_slot(template.id, first.id):
            return None
        try:
            return self._start(template, first)
        except ConflictError:  # ended meanwhile (cancelled by hand): free the slot for the next one
            self._store.release_slot(template.id, first.id)
            return None

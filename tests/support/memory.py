"""In-memory ports: small dict-backed stores with the semantics of the DynamoDB adapters the services are wired with
(adapters/dynamo/, adapters/template_store.py), for unit tests of the core services. No AWS, no network, no clock.

Conditional writes behave as the tables' conditions do: a create fails when the item exists, an update never
resurrects a deleted item (False, or the adapter's ConflictError), a status moves only from the statuses allowed, a
template is saved only at the version it was read at. Where an adapter raises ConflictError the store here raises the
same; where a table would raise a raw conditional-check failure (ConnectionStore.put over an existing connection),
this raises ConflictError too. Listings keep the tables' orders (builds, deliveries and versions newest first, runs
oldest first) and their cursors are opaque, bound to the team like the real ones. Every store keeps its items in plain
dicts a test may read; `Recorder` stores (queue, bus) keep what was sent, in order.
"""

from __future__ import annotations

import base64
import builtins
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gitconnect.domain.errors import BadRequestError, ConflictError, NotFoundError
from gitconnect.domain.models import (
    Build,
    Connection,
    Delivery,
    Hook,
    Page,
    PollFailed,
    PollHealth,
    PollRecorded,
    Restrictions,
    Source,
)
from gitconnect.domain.schedule import DueItem
from gitconnect.domain.templates import Run, Template, TemplateVersion


def _page(items: builtins.list[Any], key: Any, team_id: str, cursor: str | None, limit: int) -> Page:
    """`items` sorted as the index returns them; the cursor names the last key of the page, and its team."""
    start = 0
    if cursor:
        try:
            data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            owner, last = data["t"], data["k"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BadRequestError("the cursor is not valid") from exc
        if owner != team_id:
            raise BadRequestError("the cursor is not valid")
        start = next((i + 1 for i, item in enumerate(items) if key(item) == last), len(items))
    chunk = items[start:start + limit]
    more = start + limit < len(items)
    next_cursor = None
    if more and chunk:
        raw = json.dumps({"t": team_id, "k": key(chunk[-1])}, separators=(",", ":")).encode()
        next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return Page(items=list(chunk), next_cursor=next_cursor)


class MemoryConnections:
    """ConnectionStore, and the router's AccountConnections (by_account, update_status)."""

    def __init__(self, *connections: Connection) -> None:
        self.items: dict[tuple[str, str], Connection] = {(c.team_id, c.id): c for c in connections}

    def put(self, c: Connection) -> None:
        if (c.team_id, c.id) in self.items:
            raise ConflictError(f"connection {c.id} exists")
        self.items[(c.team_id, c.id)] = c

    def get(self, team_id: str, connection_id: str) -> Connection | None:
        return self.items.get((team_id, connection_id))

    def by_account(self, account_key: str) -> builtins.list[Connection]:
        return [c for c in self.items.values() if c.account_key == account_key]

    def delete(self, team_id: str, connection_id: str) -> None:
        self.items.pop((team_id, connection_id), None)

    def _update(self, team_id: str, connection_id: str, **changes: Any) -> bool:
        current = self.items.get((team_id, connection_id))
        if current is None:
            return False
        self.items[(team_id, connection_id)] = replace(current, **changes)
        return True

    def set_restrictions(self, team_id: str, connection_id: str, restrictions: Restrictions) -> None:
        current = self.items.get((team_id, connection_id))
        epoch = current.listing_epoch + 1 if current else 0
        if not self._update(team_id, connection_id, restrictions=restrictions, listing_epoch=epoch):
            raise NotFoundError(f"connection {connection_id!r} not found")

    def bump_listing_epoch(self, team_id: str, connection_id: str) -> bool:
        current = self.items.get((team_id, connection_id))
        return current is not None and self._update(team_id, connection_id, listing_epoch=current.listing_epoch + 1)

    def set_secret(self, team_id: str, connection_id: str, secret: bytes) -> bool:
        return self._update(team_id, connection_id, secret=secret)

    def update_status(self, team_id: str, connection_id: str, status: str) -> bool:
        return self._update(team_id, connection_id, status=status)

    def refresh(self, c: Connection) -> bool:
        return self._update(c.team_id, c.id, name=c.name, account=c.account, status=c.status, details=dict(c.details))

    def set_details(self, team_id: str, connection_id: str, details: dict[str, object] | None) -> bool:
        return self._update(team_id, connection_id, details=dict(details or {}))

    def list(self, team_id: str) -> builtins.list[Connection]:
        return sorted((c for c in self.items.values() if c.team_id == team_id), key=lambda c: c.id)


class MemorySources:
    """SourceStore, and the router's RepositorySources (for_repository)."""

    def __init__(self, *sources: Source) -> None:
        self.items: dict[tuple[str, str], Source] = {(s.team_id, s.id): s for s in sources}

    def create(self, s: Source) -> None:
        if (s.team_id, s.id) in self.items:
            raise ConflictError(f"source {s.id} exists")
        self.items[(s.team_id, s.id)] = s

    def replace(self, s: Source) -> Source:
        current = self.items.get((s.team_id, s.id))
        if current is None:
            raise ConflictError("the source was deleted meanwhile")
        # The poll health is the sync's alone; a due time already there is kept (only claims and backoffs move it).
        due = None if not s.poll else (current.poll_due_at if current.poll_due_at is not None else s.poll_due_at)
        self.items[(s.team_id, s.id)] = replace(s, polling=current.polling, poll_due_at=due)
        return self.items[(s.team_id, s.id)]

    def get(self, team_id: str, source_id: str) -> Source | None:
        return self.items.get((team_id, source_id))

    def ids_for_connection(self, connection_id: str) -> builtins.list[tuple[str, str]]:
        return [key for key, s in self.items.items() if s.connection_id == connection_id]

    def for_repository(self, provider: str, repository_id: str) -> builtins.list[Source]:
        return [s for s in self.items.values() if s.repository_id and (s.provider, s.repository_id) == (provider,
                                                                                                       repository_id)]

    def polled(self) -> Iterable[Source]:
        return [s for s in self.items.values() if s.poll]

    def due(self, now: float) -> Iterable[DueItem]:
        """A snapshot, as an index query's page is: claims made after it was read do not change it."""
        due = [s for s in self.items.values() if s.poll and s.poll_due_at is not None and s.poll_due_at <= now]
        return [DueItem(s.team_id, s.id, float(s.poll_due_at or 0), s.poll_seconds)
                for s in sorted(due, key=lambda s: (s.poll_due_at, s.id))]

    def claim(self, team_id: str, source_id: str, due_at: float, next_at: float) -> bool:
        current = self.items.get((team_id, source_id))
        if current is None or not current.poll or current.poll_due_at != due_at:
            return False
        self.items[(team_id, source_id)] = replace(current, poll_due_at=next_at)
        return True

    def record_poll(self, team_id: str, source_id: str, heads: dict[str, str], tag_heads: dict[str, str] | None,
                    at: str, *, was_failing: bool) -> PollRecorded:
        current = self.items.get((team_id, source_id))
        if current is None:
            return "gone"
        health = PollHealth("ok", None, at, 0)
        self.items[(team_id, source_id)] = replace(current, heads=dict(heads), tag_heads=tag_heads, polling=health)
        return "recovered" if current.polling.status == "failing" else "ok"

    def record_poll_failure(self, team_id: str, source_id: str, error: str, at: str, *,
                            was_failing: bool, due_at: float | None = None) -> PollFailed:
        current = self.items.get((team_id, source_id))
        if current is None:
            return "gone"
        failing = current.polling.status == "failing"
        health = PollHealth("failing", error, at, current.polling.consecutive_failures + 1 if failing else 1)
        due = current.poll_due_at if due_at is None else due_at
        self.items[(team_id, source_id)] = replace(current, polling=health, poll_due_at=due)
        return "continued" if failing else "started"

    def set_status(self, team_id: str, source_id: str, status: str) -> bool:
        current = self.items.get((team_id, source_id))
        if current is None:
            return False
        self.items[(team_id, source_id)] = replace(current, status=status)
        return True

    def move(self, team_id: str, source_id: str, connection_id: str) -> bool:
        current = self.items.get((team_id, source_id))
        if current is None:
            return False
        self.items[(team_id, source_id)] = replace(current, connection_id=connection_id)
        return True

    def delete(self, team_id: str, source_id: str) -> None:
        self.items.pop((team_id, source_id), None)

    def list(self, team_id: str) -> builtins.list[Source]:
        return sorted((s for s in self.items.values() if s.team_id == team_id), key=lambda s: s.id)


class MemoryBuilds:
    """BuildStore."""

    def __init__(self, *builds: Build) -> None:
        self.items: dict[str, Build] = {b.id: b for b in builds}

    def put_if_absent(self, b: Build) -> bool:
        if b.id in self.items:
            return False
        self.items[b.id] = replace(b, triggers=tuple(sorted({b.trigger, *b.triggers})))
        return True

    def mark_mirrored(self, build_id: str, status: str) -> bool:
        build = self.items.get(build_id)
        if build is None or build.status != status:
            return False
        self.items[build_id] = replace(build, mirrored_status=status)
        return True

    def add_trigger(self, build_id: str, trigger: str) -> bool:
        build = self.items.get(build_id)
        if build is None or not build.triggers or trigger in build.triggers:
            return False
        self.items[build_id] = replace(build, triggers=tuple(sorted({*build.triggers, trigger})))
        return True

    def get(self, build_id: str) -> Build | None:
        return self.items.get(build_id)

    def mark_published(self, build_id: str, token_hash: str, at: str) -> None:
        if build_id not in self.items:
            raise ConflictError(f"build {build_id} does not exist")  # the table's condition: the build exists
        self.items[build_id] = replace(self.items[build_id], published_at=at, callback_token_hash=token_hash)

    def update_status(
        self, build_id: str, status: str, url: str | None, description: str | None, at: str, allowed_from: Iterable[str]
    ) -> Build:
        current = self.items.get(build_id)
        if current is None or current.status not in tuple(allowed_from):
            raise ConflictError(f"the build cannot move to {status!r} from its current status")
        changes: dict[str, Any] = {"status": status, "updated_at": at}
        if url is not None:
            changes["status_url"] = url
        if description is not None:
            changes["description"] = description
        self.items[build_id] = replace(current, **changes)
        return self.items[build_id]

    def list(self, team_id: str, *, source_id: str | None, cursor: str | None, limit: int) -> Page:
        found = [b for b in self.items.values() if b.team_id == team_id and source_id in (None, "", b.source_id)]
        found.sort(key=lambda b: b.created_key, reverse=True)
        return _page(found, lambda b: b.created_key, team_id, cursor, limit)


class MemoryDeliveries:
    """DeliveryStore, and the router's DeliveryLog (put_many)."""

    def __init__(self) -> None:
        self.items: builtins.list[Delivery] = []

    def put_many(self, deliveries: Sequence[Delivery]) -> None:
        self.items.extend(deliveries)

    def list(self, team_id: str, *, connection_id: str | None, cursor: str | None, limit: int) -> Page:
        found = [d for d in self.items if d.team_id == team_id and connection_id in (None, "", d.connection_id)]
        found.sort(key=lambda d: (d.received_at, d.id, d.connection_id or ""), reverse=True)
        return _page(found, lambda d: [d.received_at, d.id, d.connection_id or ""], team_id, cursor, limit)


class MemoryHooks:
    """HookStore, the router's HookLookup and the repair's HealthStore (for_provider, set_checked)."""

    def __init__(self, *hooks: Hook) -> None:
        self.items: dict[str, Hook] = {h.id: h for h in hooks}
        self.users: dict[str, set[str]] = {}  # a shared hook's users (the table's string set)

    def put(self, h: Hook) -> None:
        self.items[h.id] = h

    def put_new(self, h: Hook, user: str) -> bool:
        if h.id in self.items:
            return False
        self.items[h.id], self.users[h.id] = h, {user}
        return True

    def add_user(self, hook_id: str, user: str) -> bool:
        if hook_id not in self.items:
            return False
        self.users.setdefault(hook_id, set()).add(user)
        return True

    def remove_user(self, hook_id: str, user: str) -> int | None:
        if hook_id not in self.items:
            return None
        self.users.setdefault(hook_id, set()).discard(user)
        return len(self.users[hook_id])

    def delete_unused(self, hook_id: str) -> bool:
        if hook_id not in self.items or self.users.get(hook_id):
            return False
        del self.items[hook_id]
        self.users.pop(hook_id, None)
        return True

    def get(self, hook_id: str) -> Hook | None:
        return self.items.get(hook_id)

    def for_connection(self, connection_id: str) -> builtins.list[Hook]:
        return sorted((h for h in self.items.values() if h.connection_id == connection_id), key=lambda h: h.id)

    def for_provider(self, provider: str) -> Iterable[Hook]:
        return sorted((h for h in self.items.values() if h.provider == provider), key=lambda h: h.id)

    def set_checked(self, hook_id: str, at: float) -> bool:
        if hook_id not in self.items:
            return False
        self.items[hook_id] = replace(self.items[hook_id], checked_at=at)
        return True

    def reseal(self, hook_id: str, old: bytes, new: bytes) -> bool:
        if hook_id not in self.items or self.items[hook_id].secret != old:
            return False
        self.items[hook_id] = replace(self.items[hook_id], secret=new)
        return True

    def delete(self, hook_id: str) -> None:
        self.items.pop(hook_id, None)


class MemoryTemplates:
    """TemplateStore and RunStore (one table in production), and RunService's TemplateLookup."""

    def __init__(self) -> None:
        self.templates: dict[tuple[str, str], Template] = {}
        self.versions_of: dict[str, dict[int, TemplateVersion]] = {}
        self.run_items: dict[str, Run] = {}
        self.slots: dict[str, str] = {}  # template id -> the run holding its slot
        self.numbered: dict[str, int] = {}  # template id -> runs its queue has numbered

    # -- templates ------------------------------------------------------------------------------------------------

    def get(self, team_id: str, template_id: str) -> Template | None:
        return self.templates.get((team_id, template_id))

    def list(self, team_id: str) -> builtins.list[Template]:
        return sorted((t for t in self.templates.values() if t.team_id == team_id), key=lambda t: t.id)

    @staticmethod
    def _linked(t: Template) -> bool:
        return t.gitops is not None and t.gitops.status != "unlinked"

    def for_connection(self, connection_id: str) -> builtins.list[Template]:
        def connection_of(t: Template) -> str | None:  # the by_connection index: the link's, else the triggers'
            if self._linked(t) and t.gitops is not None:
                return t.gitops.connection_id
            return t.triggers.connection_id if t.triggers else None

        return [t for t in self.templates.values() if connection_of(t) == connection_id]

    def linked_to(self, repository: str) -> builtins.list[Template]:
        return [t for t in self.linked() if t.gitops is not None and t.gitops.repository == repository]

    def triggered_by(self, repository: str) -> builtins.list[Template]:
        return [t for t in self.templates.values() if t.triggers and t.triggers.repository == repository]

    def linked(self) -> builtins.list[Template]:
        return [t for t in self.templates.values() if self._linked(t)]

    def schedule_drift_if_absent(self, template: Template) -> bool:
        current = self.templates.get((template.team_id, template.id))
        if current is None or current.drift_due_at is not None or not self._linked(current):
            return False
        if template.drift_group is None or template.drift_due_at is None:
            return False
        self.templates[(template.team_id, template.id)] = replace(
            current, drift_due_at=template.drift_due_at, polled=template.polled)
        return True

    def create(self, template: Template, first: TemplateVersion) -> None:
        if (template.team_id, template.id) in self.templates:
            raise ConflictError(f"template {template.id} exists")
        self.templates[(template.team_id, template.id)] = template
        self.versions_of.setdefault(template.id, {})[first.version] = first

    def save_version(self, template: Template, version: TemplateVersion | None, expected_version: int) -> None:
        current = self.templates.get((template.team_id, template.id))
        taken = version is not None and version.version in self.versions_of.get(template.id, {})
        if current is None or current.version != expected_version or current.revision != template.revision or taken:
            raise ConflictError("the template changed meanwhile: read it again")
        self.templates[(template.team_id, template.id)] = replace(template, revision=template.revision + 1)
        if version is not None:
            self.versions_of.setdefault(template.id, {})[version.version] = version

    def delete(self, team_id: str, template_id: str) -> None:
        self.templates.pop((team_id, template_id), None)
        self.versions_of.pop(template_id, None)

    def version_content(self, template_id: str, version: int) -> dict[str, Any] | None:
        found = self.versions_of.get(template_id, {}).get(version)
        return None if found is None else found.content

    def versions(self, template_id: str) -> builtins.list[TemplateVersion]:
        return [v for _, v in sorted(self.versions_of.get(template_id, {}).items(), reverse=True)]

    # -- runs -----------------------------------------------------------------------------------------------------

    def record_trigger_heads(self, team_id: str, template_id: str, heads: dict[str, str]) -> bool:
        found = self.templates.get((team_id, template_id))
        if found is None:
            return False
        self.templates[(team_id, template_id)] = replace(found, trigger_heads=heads)
        return True

    def put_run(self, run: Run) -> None:
        if run.id in self.run_items:
            raise ConflictError(f"run {run.id} exists")
        self.run_items[run.id] = run

    def get_run(self, run_id: str) -> Run | None:
        return self.run_items.get(run_id)

    def runs(self, template_id: str) -> builtins.list[Run]:
        return sorted((r for r in self.run_items.values() if r.template_id == template_id), key=lambda r: r.created_key)

    def enqueue_run(self, run: Run) -> Run:
        numbered = replace(run, position=self.numbered.get(run.template_id, 0) + 1)
        self.put_run(numbered)
        self.numbered[run.template_id] = numbered.position or 0
        return numbered

    def claim_slot(self, template_id: str, run_id: str) -> bool:
        if template_id in self.slots:
            return False
        self.slots[template_id] = run_id
        return True

    def release_slot(self, template_id: str, run_id: str) -> None:
        if self.slots.get(template_id) == run_id:
            del self.slots[template_id]

    def slot_holder(self, template_id: str) -> str | None:
        return self.slots.get(template_id)

    def start_run(self, run: Run, token_hash: str, at: str) -> Run:
        current = self.run_items.get(run.id)
        if current is None or current.started or current.status != "queued":
            raise ConflictError(f"run {run.id} was started or ended already")
        self.run_items[run.id] = replace(current, started=True, callback_token_hash=token_hash, updated_at=at)
        return replace(run, started=True, callback_token_hash=token_hash, updated_at=at)

    def unstart_run(self, run_id: str) -> None:
        current = self.run_items.get(run_id)
        if current is None or current.status != "queued":
            raise ConflictError(f"run {run_id} is not queued")  # the table's condition: status == queued
        self.run_items[run_id] = replace(current, started=False, callback_token_hash=None)

    def update_run_status(
        self, run_id: str, status: str, description: str | None, at: str, allowed_from: tuple[str, ...]
    ) -> Run:
        current = self.run_items.get(run_id)
        if current is None or current.status not in allowed_from:
            raise ConflictError(f"the run cannot move to {status!r} from its current status")
        changes: dict[str, Any] = {"status": status, "updated_at": at}
        if description is not None:
            changes["description"] = description
        self.run_items[run_id] = replace(current, **changes)
        return self.run_items[run_id]


@dataclass
class Recorder:
    """BuildQueue and EventBus: what was sent, in order. `fail` makes the next sends raise (a queue or bus outage)."""

    sent: builtins.list[Build] = field(default_factory=list)
    published: builtins.list[tuple[str, dict[str, object]]] = field(default_factory=list)
    statuses: builtins.list[str] = field(default_factory=list)  # StatusRequests: the builds whose status is asked for
    fail: int = 0

    def _outage(self) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("unavailable")

    def send(self, builds: Sequence[Build]) -> None:
        self._outage()
        self.sent.extend(builds)

    def publish(self, detail_type: str, detail: dict[str, object]) -> None:
        self._outage()
        self.published.append((detail_type, detail))

    def request(self, build: Build) -> None:
        self.statuses.append(build.id)


class PlainCipher:
    """Cipher: reversible, bound to its context like KMS's encryption context (opening under another one fails)."""

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> bytes:
        return json.dumps({"context": context, "plain": base64.b64encode(plaintext).decode()}).encode()

    def decrypt(self, blob: bytes, context: dict[str, str]) -> bytes:
        sealed = json.loads(blob)
        if sealed["context"] != context:
            raise ValueError("sealed under another encryption context")
        return base64.b64decode(sealed["plain"])

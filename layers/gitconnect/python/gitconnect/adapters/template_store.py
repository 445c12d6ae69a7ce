"""Templates, their versions and their runs in one DynamoDB table (PynamoDB), by key or index only.

Items (their keys built by adapters/dynamo/keys.py): a template `team#<team>` / `tpl#<id>`; its versions
`tpl#<id>` / `v#<10-digit version>`; a run `run#<id>` / `run`; a template's run slot `slot#<id>` / `slot`.
Indexes: `by_connection` (templates linked to, or triggered by, a connection: unlink), `by_link_repository` and
`by_trigger_repository` (what a delivery about a repository concerns: one read each, however many teams), `by_bucket`
(every linked template), `by_drift_due` (templates by next drift check: the scheduled sync queries `drift_due_at <=
now` in its bucket, `drift` for templates whose provider sends webhooks, `drift-polled` for Custom Git) and
`by_template` (a template's runs, oldest first).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.expressions.update import Action
from pynamodb.indexes import IncludeProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from gitconnect.adapters.dynamo.base import (
    SecondaryIndex,
    bind_model,
    from_cursor,
    get_or_none,
    secondary_index,
    to_cursor,
    update_existing,
    write_if,
)
from gitconnect.adapters.dynamo.keys import (
    LINKED_BUCKET,
    TEMPLATE_PREFIX,
    run_key,
    run_slot_key,
    team_key,
    team_of,
    template_key,
    template_of,
    version_key,
    version_of,
)
from gitconnect.domain.errors import ConflictError
from gitconnect.domain.schedule import DueItem
from gitconnect.domain.templates import GitOpsLink, Run, Template, TemplateVersion, Triggers

DRIFT_BUCKET = "drift"  # by_drift_due: templates whose provider sends webhooks (a missed delivery is looked for)
POLLED_DRIFT_BUCKET = "drift-polled"  # by_drift_due: templates on a provider without webhooks (Custom Git)


class _Item(Model):
    """The key every item of the templates table has, whatever it is (a template, a version, a run: keys.py builds
    them). No Meta: each model below has its own, bound by `bind_template_table`."""

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class _DriftDueIndex(SecondaryIndex["TemplateModel"]):
    """Sparse (both keys only while the template has something to check); its range key is a number."""

    class Meta:
        index_name = "by_drift_due"
        projection = IncludeProjection(["drift_group"])  # with the keys: all the schedule reads

    drift_bucket = UnicodeAttribute(hash_key=True)
    drift_due_at = NumberAttribute(range_key=True)


class TemplateModel(_Item):
    class Meta:
        table_name = "unbound"

    template_id = UnicodeAttribute()
    name = UnicodeAttribute()
    kind = UnicodeAttribute()
    content = JSONAttribute()
    version = NumberAttribute()
    run_on_update = BooleanAttribute()
    concurrency = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    gitops = JSONAttribute(null=True)
    triggers = JSONAttribute(null=True)
    connection_id = UnicodeAttribute(null=True)  # by_connection: the GitOps link's or the triggers' connection
    sync_bucket = UnicodeAttribute(null=True)  # by_bucket: set while a GitOps link is active
    link_repository = UnicodeAttribute(null=True)  # by_link_repository: the linked file's repository
    trigger_repository = UnicodeAttribute(null=True)  # by_trigger_repository: a release flow's triggers' repository
    polled = BooleanAttribute(null=True)
    trigger_heads = JSONAttribute(null=True)
    drift_bucket = UnicodeAttribute(null=True)  # by_drift_due: set while the template has a drift group
    drift_due_at = NumberAttribute(null=True)  # epoch seconds; moved by the schedule's claim
    drift_group = UnicodeAttribute(null=True)  # Template.drift_group: what its check shares
    revision = NumberAttribute(null=True)  # Template.revision; absent on items stored before it (revision 0)

    by_connection: SecondaryIndex[TemplateModel] = secondary_index("connection_id", "sk")
    by_bucket: SecondaryIndex[TemplateModel] = secondary_index("sync_bucket", "sk")
    by_link_repository: SecondaryIndex[TemplateModel] = secondary_index("link_repository", "sk")
    by_trigger_repository: SecondaryIndex[TemplateModel] = secondary_index("trigger_repository", "sk")
    by_drift_due: SecondaryIndex[TemplateModel] = _DriftDueIndex()


class VersionModel(_Item):
    class Meta:
        table_name = "unbound"

    content = JSONAttribute()
    origin = UnicodeAttribute()
    created_at = UnicodeAttribute()
    commit_sha = UnicodeAttribute(null=True)
    author = UnicodeAttribute(null=True)


class RunModel(_Item):
    class Meta:
        table_name = "unbound"

    run_id = UnicodeAttribute()
    team_id = UnicodeAttribute()
    template_key = UnicodeAttribute()
    created_key = UnicodeAttribute()
    version = NumberAttribute()
    status = UnicodeAttribute()
    reason = UnicodeAttribute()
    started = BooleanAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    callback_token_hash = UnicodeAttribute(null=True)
    details = JSONAttribute(null=True)
    position = NumberAttribute(null=True)

    by_template: SecondaryIndex[RunModel] = secondary_index("template_key", "created_key")


class RunSlotModel(_Item):
    """A template's run slot: the run holding it (`queue`/`forbid`: at most one active run, taken by a conditional
    write) and how many runs its queue has numbered."""

    class Meta:
        table_name = "unbound"

    active_run = UnicodeAttribute(null=True)
    numbered = NumberAttribute(null=True)


_MAX_NUMBERING_ATTEMPTS = 200  # bounds the optimistic numbering loop: each retry means another request got a number


def bind_template_table(name: str, region: str) -> None:
    for model in (TemplateModel, VersionModel, RunModel, RunSlotModel):
        bind_model(model, name, region)


def _template_keys(team_id: str, template_id: str) -> tuple[str, str]:
    return team_key(team_id), template_key(template_id)


def _link_json(link: GitOpsLink | None) -> dict[str, Any] | None:
    if link is None:
        return None
    return {**link.to_json(), "file_version": link.file_version, "refused_version": link.refused_version}


def _to_template(m: TemplateModel) -> Template:
    link = m.gitops
    triggers = m.triggers
    return Template(
        team_id=team_of(m.pk),
        id=m.template_id,
        name=m.name,
        kind=m.kind,  # type: ignore[arg-type]  # a str from the table for the Literal kind
        content=m.content,
        version=int(m.version),
        run_on_update=m.run_on_update,
        concurrency=m.concurrency,  # type: ignore[arg-type]  # a str from the table for the Literal policy
        created_at=m.created_at,
        updated_at=m.updated_at,
        gitops=None if link is None else GitOpsLink(**link),
        triggers=None
        if triggers is None
        else Triggers(
            connection_id=triggers["connection_id"],
            repository=triggers["repository"],
            branches=tuple(triggers["branches"]),
            pull_requests=triggers["pull_requests"],
            include=tuple(triggers["paths"]["include"]),
            exclude=tuple(triggers["paths"]["exclude"]),
        ),
        polled=bool(m.polled),
        drift_due_at=None if m.drift_due_at is None else float(m.drift_due_at),
        trigger_heads=m.trigger_heads,
        revision=int(m.revision or 0),
    )


def _template_model(t: Template) -> TemplateModel:
    pk, sk = _template_keys(t.team_id, t.id)
    linked = t.gitops is not None and t.gitops.status != "unlinked"
    connection = t.gitops.connection_id if linked and t.gitops else (t.triggers.connection_id if t.triggers else None)
    return TemplateModel(
        pk,
        sk,
        template_id=t.id,
        name=t.name,
        kind=t.kind,
        content=t.content,
        version=t.version,
        run_on_update=t.run_on_update,
        concurrency=t.concurrency,
        created_at=t.created_at,
        updated_at=t.updated_at,
        gitops=_link_json(t.gitops),
        triggers=None if t.triggers is None else t.triggers.to_json(),
        connection_id=connection,
        sync_bucket=LINKED_BUCKET if linked else None,
        link_repository=t.gitops.repository if linked and t.gitops else None,
        trigger_repository=t.triggers.repository if t.triggers else None,
        revision=t.revision,
        **_drift_attributes(t),
    )


def _drift_attributes(t: Template) -> dict[str, Any]:
    """The drift check's index keys, only while the template has a drift group and a due time (sparse)."""
    group = t.drift_group
    due = group is not None and t.drift_due_at is not None
    return {
        "polled": t.polled or None,
        "trigger_heads": t.trigger_heads,
        "drift_bucket": (POLLED_DRIFT_BUCKET if t.polled else DRIFT_BUCKET) if due else None,
        "drift_due_at": t.drift_due_at if due else None,
        "drift_group": group if due else None,
    }


def _version_model(v: TemplateVersion) -> VersionModel:
    return VersionModel(
        template_key(v.template_id),
        version_key(v.version),
        content=v.content,
        origin=v.origin,
        created_at=v.created_at,
        commit_sha=v.commit_sha,
        author=v.author,
    )


def _to_run(m: RunModel) -> Run:
    return Run(
        id=m.run_id,
        team_id=m.team_id,
        template_id=template_of(m.template_key),
        version=int(m.version),
        status=m.status,  # type: ignore[arg-type]  # a str from the table for the Literal status
        created_at=m.created_at,
        updated_at=m.updated_at,
        reason=m.reason,
        started=m.started,
        description=m.description,
        callback_token_hash=m.callback_token_hash,
        details=m.details or {},
        position=None if m.position is None else int(m.position),
    )


def _run_model(run: Run) -> RunModel:
    return RunModel(
        *run_key(run.id),
        run_id=run.id,
        team_id=run.team_id,
        template_key=template_key(run.template_id),
        created_key=run.created_key,
        version=run.version,
        status=run.status,
        reason=run.reason,
        started=run.started,
        created_at=run.created_at,
        updated_at=run.updated_at,
        description=run.description,
        callback_token_hash=run.callback_token_hash,
        details=run.details or None,
        position=run.position,
    )


def _transaction() -> TransactWrite:
    return TransactWrite(connection=TemplateModel._get_connection().connection)


class TemplateStore:
    def get(self, team_id: str, template_id: str) -> Template | None:
        m = get_or_none(TemplateModel, *_template_keys(team_id, template_id))
        return None if m is None else _to_template(m)

    def for_connection(self, connection_id: str) -> list[Template]:
        return [_to_template(m) for m in TemplateModel.by_connection.query(connection_id)]

    def linked_to(self, repository: str) -> list[Template]:
        return [_to_template(m) for m in TemplateModel.by_link_repository.query(repository)]

    def triggered_by(self, repository: str) -> list[Template]:
        return [_to_template(m) for m in TemplateModel.by_trigger_repository.query(repository)]

    def linked(self) -> list[Template]:
        return [_to_template(m) for m in TemplateModel.by_bucket.query(LINKED_BUCKET)]

    def undue_page(self, start: str | None, limit: int) -> tuple[list[DueItem], str | None]:
        """Linked templates stored before `drift_due_at` existed (not in by_drift_due, so never checked): one page of
        at most `limit` linked templates read through by_bucket, those without a due time returned; and where the
        next page starts (None: none left)."""
        result = TemplateModel.by_bucket.query(
            LINKED_BUCKET, limit=limit, page_size=limit, last_evaluated_key=from_cursor(start)
        )
        found = [DueItem(team_of(m.pk), template_of(m.sk), 0.0, None) for m in result if m.drift_due_at is None]
        return found, to_cursor(result.last_evaluated_key)

    def schedule_drift_if_absent(self, template: Template) -> bool:
        """Write a scheduled template's drift attributes unless it has a due time (written meanwhile) or is no longer
        linked; False when nothing was written (or it has nothing to check)."""
        attributes = {k: v for k, v in _drift_attributes(template).items() if v is not None}
        if "drift_due_at" not in attributes:
            return False
        item = TemplateModel(*_template_keys(template.team_id, template.id))
        actions = [getattr(TemplateModel, name).set(value) for name, value in attributes.items()]
        condition = TemplateModel.drift_due_at.does_not_exist() & TemplateModel.sync_bucket.exists()
        return write_if(lambda: item.update(actions=actions, condition=condition))

    def record_trigger_heads(self, team_id: str, template_id: str, heads: dict[str, str]) -> bool:
        """The heads a polled release flow's triggers last saw (one UpdateItem; False when it is gone)."""
        item = TemplateModel(*_template_keys(team_id, template_id))
        return update_existing(item, TemplateModel.pk, [TemplateModel.trigger_heads.set(heads)])

    def create(self, template: Template, first: TemplateVersion) -> None:
        """The template and its first version, together."""
        with _transaction() as tx:
            tx.save(_template_model(template), condition=TemplateModel.pk.does_not_exist())
            tx.save(_version_model(first))

    def save_version(self, template: Template, version: TemplateVersion | None, expected_version: int) -> None:
        """The template's new state (and its new version, if any), only if it is still at `expected_version` and
        no other save landed since it was read (`template.revision`, which this one increments): ConflictError
        otherwise (another save or sync got there first)."""
        model = _template_model(replace(template, revision=template.revision + 1))
        unchanged = TemplateModel.revision == template.revision
        if template.revision == 0:
            unchanged = unchanged | TemplateModel.revision.does_not_exist()

        def write() -> None:
            with _transaction() as tx:
                tx.save(model, condition=(TemplateModel.version == expected_version) & unchanged)
                if version is not None:
                    tx.save(_version_model(version), condition=VersionModel.pk.does_not_exist())

        write_if(write, ConflictError("the template changed meanwhile: read it again"))

    def delete(self, team_id: str, template_id: str) -> None:
        TemplateModel(*_template_keys(team_id, template_id)).delete()
        RunSlotModel(*run_slot_key(template_id)).delete()
        with VersionModel.batch_write() as batch:
            for m in VersionModel.query(template_key(template_id)):
                batch.delete(m)

    def version_content(self, template_id: str, version: int) -> dict[str, Any] | None:
        m = get_or_none(VersionModel, template_key(template_id), version_key(version))
        return None if m is None else m.content

    def versions(self, template_id: str) -> list[TemplateVersion]:
        return [
            TemplateVersion(
                template_id=template_id,
                version=version_of(m.sk),
                content=m.content,
                origin=m.origin,  # type: ignore[arg-type]  # a str from the table for the Literal origin
                created_at=m.created_at,
                commit_sha=m.commit_sha,
                author=m.author,
            )
            for m in VersionModel.query(template_key(template_id), scan_index_forward=False)
        ]

    # -- runs ----------------------------------------------------------------------------------------------------

    def put_run(self, run: Run) -> None:
        item = _run_model(run)
        write_if(lambda: item.save(condition=RunModel.pk.does_not_exist()), ConflictError(f"run {run.id} exists"))

    def enqueue_run(self, run: Run) -> Run:
        """The run stored with the next position in its template's queue, both in one transaction conditional on
        the count read (so positions are gapless and a run exists once its number is handed out)."""
        slot = RunSlotModel(*run_slot_key(run.template_id))
        for _ in range(_MAX_NUMBERING_ATTEMPTS):
            found = get_or_none(RunSlotModel, *run_slot_key(run.template_id))
            count = 0 if found is None or found.numbered is None else int(found.numbered)
            numbered = replace(run, position=count + 1)
            if write_if(lambda: self._number(slot, count, numbered)):  # noqa: B023 - called at once, in this turn
                return numbered
        raise ConflictError("too many run requests at once: request the run again")

    @staticmethod
    def _number(slot: RunSlotModel, count: int, numbered: Run) -> None:
        unchanged = RunSlotModel.numbered.does_not_exist() if count == 0 else RunSlotModel.numbered == count
        with _transaction() as tx:
            tx.update(slot, actions=[RunSlotModel.numbered.set(count + 1)], condition=unchanged)
            tx.save(_run_model(numbered), condition=RunModel.pk.does_not_exist())

    def claim_slot(self, template_id: str, run_id: str) -> bool:
        """The template's run slot for `run_id`, if no run holds it (one conditional write: whoever writes first)."""
        slot = RunSlotModel(*run_slot_key(template_id))
        free = RunSlotModel.active_run.does_not_exist()
        return write_if(lambda: slot.update(actions=[RunSlotModel.active_run.set(run_id)], condition=free))

    def release_slot(self, template_id: str, run_id: str) -> None:
        """The slot freed, if `run_id` still holds it."""
        slot = RunSlotModel(*run_slot_key(template_id))
        held = RunSlotModel.active_run == run_id
        write_if(lambda: slot.update(actions=[RunSlotModel.active_run.remove()], condition=held))

    def slot_holder(self, template_id: str) -> str | None:
        found = get_or_none(RunSlotModel, *run_slot_key(template_id))
        return None if found is None else found.active_run

    def get_run(self, run_id: str) -> Run | None:
        m = get_or_none(RunModel, *run_key(run_id))
        return None if m is None else _to_run(m)

    def runs(self, template_id: str) -> list[Run]:
        """Oldest first."""
        return [_to_run(m) for m in RunModel.by_template.query(template_key(template_id))]

    def start_run(self, run: Run, token_hash: str, at: str) -> Run:
        """Mark a queued run started (RunRequested published); ConflictError when it was started or ended already."""
        model = RunModel(*run_key(run.id))
        actions: list[Action] = [
            RunModel.started.set(True),
            RunModel.callback_token_hash.set(token_hash),
            RunModel.updated_at.set(at),
        ]
        queued = (RunModel.started == False) & (RunModel.status == "queued")  # noqa: E712 - a condition
        refused = ConflictError(f"run {run.id} was started or ended already")
        write_if(lambda: model.update(actions=actions, condition=queued), refused)
        return replace(run, started=True, callback_token_hash=token_hash, updated_at=at)

    def unstart_run(self, run_id: str) -> None:
        RunModel(*run_key(run_id)).update(
            actions=[RunModel.started.set(False), RunModel.callback_token_hash.remove()],
            condition=RunModel.status == "queued",
        )

    def update_run_status(
        self, run_id: str, status: str, description: str | None, at: str, allowed_from: tuple[str, ...]
    ) -> Run:
        model = RunModel(*run_key(run_id))
        actions: list[Action] = [RunModel.status.set(status), RunModel.updated_at.set(at)]
        if description is not None:
            actions.append(RunModel.description.set(description))
        refused = ConflictError(f"the run cannot move to {status!r} from its current status")
        write_if(lambda: model.update(actions=actions, condition=RunModel.status.is_in(*allowed_from)), refused)
        return _to_run(model)

    # Last: below it, `list` in an annotation would name this method, not the builtin.
    def list(self, team_id: str) -> list[Template]:
        templates = TemplateModel.query(team_key(team_id), TemplateModel.sk.startswith(TEMPLATE_PREFIX))
        return [_to_template(m) for m in templates]


class DriftDue:
    """One bucket of by_drift_due as the scheduler's due work (services/schedule.py `DueWork`)."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def due(self, now: float) -> Iterable[DueItem]:
        """Templates whose drift check is due at `now`, earliest first, a page of 100 at a time (the caller stops when
        it has enough). Eventually consistent: the claim re-checks each one."""
        condition = TemplateModel.drift_due_at <= now
        for m in TemplateModel.by_drift_due.query(self.bucket, condition, page_size=100):
            yield DueItem(team_of(m.pk), template_of(m.sk), float(m.drift_due_at), None, m.drift_group)

    def claim(self, team_id: str, template_id: str, due_at: float, next_at: float) -> bool:
        """Move a due template's next check to `next_at` only if it is still due at `due_at` (as read) and still in
        this bucket."""
        item = TemplateModel(*_template_keys(team_id, template_id))
        condition = (TemplateModel.drift_due_at == due_at) & (TemplateModel.drift_bucket == self.bucket)
        return write_if(lambda: item.update(actions=[TemplateModel.drift_due_at.set(next_at)], condition=condition))

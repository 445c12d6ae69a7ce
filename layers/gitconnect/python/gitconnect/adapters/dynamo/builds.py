"""Builds: one item per build id. `by_team` and `by_source` list them newest first (sort key `created_key`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from gitconnect.adapters.dynamo.base import SecondaryIndex, get_or_none, secondary_index, write_if
from gitconnect.adapters.dynamo.cursors import decode_cursor, encode_cursor
from gitconnect.domain.errors import ConflictError
from gitconnect.domain.models import Build, Page


class BuildModel(Model):
    class Meta:
        table_name = "unbound"

    build_id = UnicodeAttribute(hash_key=True)
    team_id = UnicodeAttribute()
    source_id = UnicodeAttribute()
    created_key = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    repository = UnicodeAttribute()
    clone_url = UnicodeAttribute()
    ref = UnicodeAttribute()
    sha = UnicodeAttribute()
    trigger = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    pull_request = JSONAttribute(null=True)
    status_url = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    requested_by = UnicodeAttribute(null=True)
    published_at = UnicodeAttribute(null=True)
    callback_token_hash = UnicodeAttribute(null=True)
    triggers = UnicodeSetAttribute(null=True)
    mirrored_status = UnicodeAttribute(null=True)

    by_team: SecondaryIndex[BuildModel] = secondary_index("team_id", "created_key")
    by_source: SecondaryIndex[BuildModel] = secondary_index("source_id", "created_key")


# A build's fields are stored under their own names (its id as the hash key, `build_id`).
_FIELDS = tuple(f.name for f in fields(Build) if f.name not in ("id", "triggers"))


def _to_domain(m: BuildModel) -> Build:
    return Build(
        id=m.build_id,
        **{name: getattr(m, name) for name in _FIELDS},
        triggers=tuple(sorted(m.triggers or ())),  # a set in the table
    )


class BuildStore:
    def put_if_absent(self, b: Build) -> bool:
        """Create the build; False when a build with this id exists already (a retried request)."""
        stored = {name: getattr(b, name) for name in _FIELDS}
        item = BuildModel(b.id, created_key=b.created_key, **stored, triggers={b.trigger, *b.triggers})
        return write_if(lambda: item.save(condition=BuildModel.build_id.does_not_exist()))

    def add_trigger(self, build_id: str, trigger: str) -> bool:
        """Record that `trigger` asked for this existing build too; False when it had already (a retried request)."""
        model = BuildModel(build_id)
        # A record written before triggers were kept has none: its own request retried is not another trigger.
        condition = BuildModel.triggers.exists() & ~BuildModel.triggers.contains(trigger)
        return write_if(lambda: model.update(actions=[BuildModel.triggers.add({trigger})], condition=condition))

    def mark_mirrored(self, build_id: str, status: str) -> bool:
        """Record `status` as shown on the provider; False when the build has another status by now."""
        model = BuildModel(build_id)
        condition = BuildModel.build_id.exists() & (BuildModel.status == status)
        return write_if(lambda: model.update(actions=[BuildModel.mirrored_status.set(status)], condition=condition))

    def get(self, build_id: str) -> Build | None:
        m = get_or_none(BuildModel, build_id)
        return None if m is None else _to_domain(m)

    def mark_published(self, build_id: str, token_hash: str, at: str) -> None:
        BuildModel(build_id).update(
            actions=[BuildModel.published_at.set(at), BuildModel.callback_token_hash.set(token_hash)],
            condition=BuildModel.build_id.exists(),
        )

    def update_status(
        self, build_id: str, status: str, url: str | None, description: str | None, at: str, allowed_from: Iterable[str]
    ) -> Build:
        """Move a build to `status`; ConflictError when its current status may not move (e.g. already final)."""
        actions: list[Action] = [BuildModel.status.set(status), BuildModel.updated_at.set(at)]
        if url is not None:
            actions.append(BuildModel.status_url.set(url))
        if description is not None:
            actions.append(BuildModel.description.set(description))
        model = BuildModel(build_id)
        refused = ConflictError(f"the build cannot move to {status!r} from its current status")
        write_if(lambda: model.update(actions=actions, condition=BuildModel.status.is_in(*allowed_from)), refused)
        return _to_domain(model)

    def list(self, team_id: str, *, source_id: str | None, cursor: str | None, limit: int) -> Page[Build]:
        start = decode_cursor(cursor, team_id=team_id)
        if source_id:
            results = BuildModel.by_source.query(
                source_id,
                filter_condition=BuildModel.team_id == team_id,
                scan_index_forward=False,
                limit=limit,
                last_evaluated_key=start,
            )
        else:
            results = BuildModel.by_team.query(team_id, scan_index_forward=False, limit=limit, last_evaluated_key=start)
        items = [_to_domain(m) for m in results]
        return Page(items=items, next_cursor=encode_cursor(results.last_evaluated_key, team_id=team_id))

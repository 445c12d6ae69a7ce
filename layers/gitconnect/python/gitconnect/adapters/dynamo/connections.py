"""Connections: one item per team and connection; `by_account` finds every team's link to one provider account."""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from gitconnect.adapters.dynamo.base import SecondaryIndex, get_or_none, secondary_index, update_existing
from gitconnect.domain.errors import NotFoundError
from gitconnect.domain.models import Connection, Restrictions
from gitconnect.domain.ratelimits import RateLimit


class ConnectionModel(Model):
    class Meta:
        table_name = "unbound"

    team_id = UnicodeAttribute(hash_key=True)
    connection_id = UnicodeAttribute(range_key=True)
    provider = UnicodeAttribute()
    name = UnicodeAttribute()
    account = UnicodeAttribute(null=True)
    base_url = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    restrictions_mode = UnicodeAttribute(default="unrestricted")
    namespaces: ListAttribute[str] = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[arg-type]  # PynamoDB types elements as the attribute class: str here
    # Absent on records linked before the prompt existed: those read as confirmed.
    restrictions_confirmed = BooleanAttribute(null=True)
    listing_epoch = NumberAttribute(null=True)  # absent: 0; only ever ADDed to (bump_listing_epoch)
    created_at = UnicodeAttribute()
    account_key = UnicodeAttribute(null=True)
    details = JSONAttribute(null=True)
    secret = BinaryAttribute(null=True, legacy_encoding=False)
    rate_limit = JSONAttribute(null=True)  # written only by set_rate_limit (the provider's last answer)

    by_account: SecondaryIndex[ConnectionModel] = secondary_index("account_key", "connection_id")


def _to_domain(m: ConnectionModel) -> Connection:
    return Connection(
        team_id=m.team_id,
        id=m.connection_id,
        provider=m.provider,
        name=m.name,
        account=m.account,
        base_url=m.base_url,
        status=m.status,
        created_at=m.created_at,
        restrictions=Restrictions(
            mode=m.restrictions_mode,  # type: ignore[arg-type]  # a str from the table for the Literal mode
            namespaces=tuple(m.namespaces or ()),
            confirmed=m.restrictions_confirmed is not False,
        ),
        account_key=m.account_key,
        details=dict(m.details or {}),
        secret=m.secret,
        listing_epoch=int(m.listing_epoch or 0),
        rate_limit=RateLimit.from_record(m.rate_limit),
    )


class ConnectionStore:
    def put(self, c: Connection) -> None:
        ConnectionModel(
            c.team_id,
            c.id,
            provider=c.provider,
            name=c.name,
            account=c.account,
            base_url=c.base_url,
            status=c.status,
            restrictions_mode=c.restrictions.mode,
            namespaces=list(c.restrictions.namespaces) or None,
            restrictions_confirmed=c.restrictions.confirmed,
            created_at=c.created_at,
            account_key=c.account_key,
            details=c.details or None,
            secret=c.secret,
        ).save(condition=ConnectionModel.connection_id.does_not_exist())

    def get(self, team_id: str, connection_id: str) -> Connection | None:
        m = get_or_none(ConnectionModel, team_id, connection_id)
        return None if m is None else _to_domain(m)

    def by_account(self, account_key: str) -> list[Connection]:
        """Every team's connection to one provider account (a webhook names the account, not the team)."""
        return [_to_domain(m) for m in ConnectionModel.by_account.query(account_key)]

    def delete(self, team_id: str, connection_id: str) -> None:
        ConnectionModel(team_id, connection_id).delete()

    def set_restrictions(self, team_id: str, connection_id: str, restrictions: Restrictions) -> None:
        """The new restrictions, and a new listing epoch in the same write (every container's cached listing of the
        connection is dropped)."""
        namespaces = list(restrictions.namespaces)
        actions: list[Action] = [
            ConnectionModel.restrictions_mode.set(restrictions.mode),
            ConnectionModel.namespaces.set(namespaces) if namespaces else ConnectionModel.namespaces.remove(),
            ConnectionModel.restrictions_confirmed.set(restrictions.confirmed),
            ConnectionModel.listing_epoch.add(1),
        ]
        if not self._update(team_id, connection_id, actions):
            raise NotFoundError(f"connection {connection_id!r} not found")

    def bump_listing_epoch(self, team_id: str, connection_id: str) -> bool:
        """An atomic ADD: concurrent bumps never lose one. False when the connection is gone."""
        return self._update(team_id, connection_id, [ConnectionModel.listing_epoch.add(1)])

    def set_rate_limit(self, team_id: str, connection_id: str, rate_limit: RateLimit) -> bool:
        """The provider's limit as an answer stated it (one attribute); False when the connection is gone."""
        return self._update(team_id, connection_id, [ConnectionModel.rate_limit.set(rate_limit.to_record())])

    def set_secret(self, team_id: str, connection_id: str, secret: bytes) -> bool:
        return self._update(team_id, connection_id, [ConnectionModel.secret.set(secret)])

    def set_details(self, team_id: str, connection_id: str, details: dict[str, object] | None) -> bool:
        """Only the provider's details (what the account grants), status and the rest left as they are (a delivery
        changing the repositories must not undo a suspension written meanwhile); cached listings are dropped."""
        detail = ConnectionModel.details.set(details) if details else ConnectionModel.details.remove()
        return self._update(team_id, connection_id, [ConnectionModel.listing_epoch.add(1), detail])

    def refresh(self, c: Connection) -> bool:
        """Save what the provider says of the account now (name, account, status, details); the credentials and
        restrictions stay, and cached listings are dropped (what it reaches may have changed). False when the
        connection is gone (unlinked meanwhile)."""
        actions: list[Action] = [
            ConnectionModel.listing_epoch.add(1),
            ConnectionModel.name.set(c.name),
            ConnectionModel.status.set(c.status),
            ConnectionModel.account.set(c.account) if c.account else ConnectionModel.account.remove(),
            ConnectionModel.details.set(c.details) if c.details else ConnectionModel.details.remove(),
        ]
        return self._update(c.team_id, c.id, actions)

    def update_status(self, team_id: str, connection_id: str, status: str) -> bool:
        """False when the connection is gone (unlinked meanwhile)."""
        return self._update(team_id, connection_id, [ConnectionModel.status.set(status)])

    @staticmethod
    def _update(team_id: str, connection_id: str, actions: list[Action]) -> bool:
        return update_existing(ConnectionModel(team_id, connection_id), ConnectionModel.connection_id, actions)

    # Last: below it, `list` in an annotation would name this method, not the builtin.
    def list(self, team_id: str) -> list[Connection]:
        return [_to_domain(m) for m in ConnectionModel.query(team_id)]

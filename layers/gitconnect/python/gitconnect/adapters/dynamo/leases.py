"""Leases in the state table: who may refresh a connection's token now, across containers (services.token_refresh).

A lease is an item of the state table beside the one-time OAuth states, with their attributes (team, user and
provider are placeholders) so that both kinds read alike; the table's TTL on `expires_at` sweeps both."""

from __future__ import annotations

import time

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from gitconnect.adapters.dynamo.base import write_if


class LeaseModel(Model):
    class Meta:
        table_name = "unbound"

    state_id = UnicodeAttribute(hash_key=True)  # the lease's id (services.token_refresh: `refresh#<connection>`)
    team_id = UnicodeAttribute(default="-")
    user_id = UnicodeAttribute(default="-")
    provider = UnicodeAttribute(default="lease")
    expires_at = NumberAttribute()


class LeaseStore:
    def acquire(self, lease_id: str, expires_at: int) -> bool:
        """A lease (a token refresh in progress): taken when free or expired; False when someone else holds it."""
        lease = LeaseModel(lease_id, expires_at=expires_at)
        free = LeaseModel.state_id.does_not_exist() | (LeaseModel.expires_at < int(time.time()))
        return write_if(lambda: lease.save(condition=free))

    def release(self, lease_id: str) -> None:
        LeaseModel(lease_id).delete()

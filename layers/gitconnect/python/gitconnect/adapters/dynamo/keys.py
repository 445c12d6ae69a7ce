"""Every key and sparse-index partition value the tables hold, built here and nowhere else.

Their bytes are what stored items carry: a changed form would strand every item written with the old one (the unit
tests pin each form)."""

from __future__ import annotations

POLL_BUCKET = "poll"  # sources: the single partition of the sparse by_poll index (polled sources only)
RECONCILE_BUCKET = "reconcile"  # sources: the single partition of the sparse by_reconcile_due index (webhook-fed)
CHECK_BUCKET = "check"  # hooks: the single partition of the by_check_due index (every hook, by next health check)
LINKED_BUCKET = "gitops"  # templates: the single partition of the sparse by_bucket index (linked templates only)

_TEAM = "team#"
TEMPLATE_PREFIX = "tpl#"  # a template's sort key; its versions' partition key; its runs' by_template key
_VERSION = "v#"
_RUN = "run#"
RUN_SORT_KEY = "run"
_SEEN = "seen#"


def seen_key(provider: str, repository_id: str) -> str:
    """The state table's item of the refs push deliveries named for one repository (the router records them)."""
    return f"{_SEEN}{provider}#{repository_id}"


def repo_key(provider: str, repository_id: str) -> str:
    """Sources' by_repository hash key: a delivery names the provider's repository, not a team."""
    return f"{provider}#{repository_id}"


def delivery_key(received_at: str, delivery_id: str, connection_id: str | None) -> str:
    """A delivery log entry's sort key: newest last, one entry per delivery and connection."""
    return f"{received_at}#{delivery_id}#{connection_id}"


def team_key(team_id: str) -> str:
    """The templates table's partition of one team's templates."""
    return f"{_TEAM}{team_id}"


def team_of(key: str) -> str:
    return key.removeprefix(_TEAM)


def template_key(template_id: str) -> str:
    return f"{TEMPLATE_PREFIX}{template_id}"


def template_of(key: str) -> str:
    return key.removeprefix(TEMPLATE_PREFIX)


def version_key(version: int) -> str:
    """A version's sort key, zero-padded so that versions sort in number order."""
    return f"{_VERSION}{version:010d}"


def version_of(key: str) -> int:
    return int(key.removeprefix(_VERSION))


def run_slot_key(template_id: str) -> tuple[str, str]:
    """A template's run slot (its active run under `queue`/`forbid`, and its queue's counter): an item of its own, so
    that saving the template (a whole-item put) never touches it."""
    return f"slot#{template_id}", "slot"


def run_key(run_id: str) -> tuple[str, str]:
    """A run's hash and sort key: each run its own partition (runs are read by id or through by_template)."""
    return f"{_RUN}{run_id}", RUN_SORT_KEY

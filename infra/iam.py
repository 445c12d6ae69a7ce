"""What each function may do to each DynamoDB table (and who reads provider secrets): the one declaration of it.

template.yaml grants exactly this, one statement per function and table whose `Sid` is the table's logical id
(tests/template/test_iam.py compares the two; `python -m infra.iam <FunctionId>` prints the statements to paste), and
the functional tier checks that the code never does more: every DynamoDB call a function makes there must be declared
here (tests/support/iam_audit.py). A new function adds its entry here and its statements to template.yaml; a new call
adds its action (or index) here and to the statement; the tests name what is missing.

No Scan anywhere (DESIGN.md: by key or index only); BatchWriteItem only where a fan-out writes in batches
(BATCH_WRITERS says why). PynamoDB's transactions are authorised per item (PutItem, UpdateItem).

`python -m infra.iam --write` rewrites template.yaml's DynamoDB statements from this map (each function's block under
its "# DynamoDB: exactly what infra/iam.py declares" line); `python -m infra.iam <FunctionId>` prints one."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Access:
    actions: frozenset[str]
    indexes: frozenset[str] = frozenset()


def access(*actions: str, indexes: tuple[str, ...] = ()) -> Access:
    return Access(frozenset(actions), frozenset(indexes))


READ = ("GetItem", "Query")
IDEMPOTENCY = access("GetItem", "PutItem", "UpdateItem", "DeleteItem")  # Powertools' idempotency records
LEASE = access("GetItem", "PutItem", "DeleteItem")  # StateTable: one-time states, refresh and redelivery leases
# Opening a connection's credentials and refreshing its OAuth tokens (the new pair written once, under a lease).
CREDENTIALS = access("GetItem", "UpdateItem")

DYNAMODB: dict[str, dict[str, Access]] = {
    "ConnectionsFunction": {
        "ConnectionsTable": access(*READ, "PutItem", "UpdateItem", "DeleteItem", indexes=("by_account",)),
        "SourcesTable": access(*READ, "PutItem", "UpdateItem", "DeleteItem", indexes=("by_connection",)),
        "BuildsTable": access(*READ, "PutItem", "UpdateItem", indexes=("by_team", "by_source")),
        "DeliveriesTable": access("Query"),
        "HooksTable": access(*READ, "PutItem", "UpdateItem", "DeleteItem", indexes=("by_connection",)),
        "TemplatesTable": access(*READ, "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                                 indexes=("by_connection", "by_template")),
        "StateTable": LEASE,
        "IdempotencyTable": IDEMPOTENCY,
    },
    "RepoListingFunction": {
        "ConnectionsTable": CREDENTIALS,
        "StateTable": LEASE,
    },
    "WebhookIntakeFunction": {
        "HooksTable": access("GetItem"),  # a per-hook URL's secret, on a cold container
    },
    "EventRouterFunction": {
        "ConnectionsTable": access(*READ, "UpdateItem", indexes=("by_account",)),
        "SourcesTable": access(*READ, "UpdateItem", indexes=("by_repository",)),
        "HooksTable": access("GetItem"),
        "DeliveriesTable": access("BatchWriteItem"),
        "TemplatesTable": access(*READ, "PutItem", "UpdateItem",
                                 indexes=("by_link_repository", "by_trigger_repository", "by_template")),
        "StateTable": access("GetItem", "PutItem", "DeleteItem", "UpdateItem"),  # leases; refs a push named
        "IdempotencyTable": IDEMPOTENCY,
    },
    "OAuthCallbackFunction": {
        "ConnectionsTable": access(*READ, "PutItem", "UpdateItem", indexes=("by_account",)),
        "SourcesTable": access(*READ, "UpdateItem", indexes=("by_connection",)),
        "StateTable": LEASE,
    },
    "BuildTriggerFunction": {
        "BuildsTable": access("GetItem", "PutItem", "UpdateItem"),
        "SourcesTable": access("GetItem"),
        "IdempotencyTable": IDEMPOTENCY,
    },
    "StatusMirrorFunction": {
        "BuildsTable": access("GetItem", "UpdateItem"),
        "ConnectionsTable": CREDENTIALS,
        "StateTable": LEASE,
    },
    "ScheduledSyncFunction": {
        # by_poll and by_provider: the one bounded backfill of items stored before their due-time index existed.
        "SourcesTable": access("Query", "UpdateItem", indexes=("by_poll_due", "by_reconcile_due", "by_poll")),
        "HooksTable": access("Query", "UpdateItem", indexes=("by_check_due", "by_provider")),
        # Template drift: due checks claimed (their due time moved), as for polls and hooks.
        # by_bucket and GetItem: the backfill's linked templates stored before drift due times (their connection read)
        "TemplatesTable": access("GetItem", "Query", "UpdateItem", indexes=("by_drift_due", "by_bucket")),
        "DeliveriesTable": access("BatchWriteItem"),
        "ConnectionsTable": access(*READ, "UpdateItem", indexes=("by_account",)),
        "StateTable": LEASE,
    },
    "SyncFunction": {
        "SourcesTable": access("GetItem", "Query", "UpdateItem", indexes=("by_repository",)),  # shared hook
        "HooksTable": access("GetItem", "PutItem", "UpdateItem"),
        "BuildsTable": access("Query", indexes=("by_source",)),
        "DeliveriesTable": access("BatchWriteItem"),
        "ConnectionsTable": CREDENTIALS,
        "StateTable": LEASE,
        # Drift checks: the template read; a polled release flow's trigger heads and the runs they request.
        "TemplatesTable": access(*READ, "PutItem", "UpdateItem", indexes=("by_template",)),
    },
    "GitOpsSyncFunction": {
        # The template read, its new version (a transaction of PutItem/UpdateItem), the run it requests.
        "TemplatesTable": access(*READ, "PutItem", "UpdateItem", indexes=("by_template",)),
        "ConnectionsTable": CREDENTIALS,
        "StateTable": LEASE,
    },
    "DashboardFunction": {},  # static files from the layer: no table, no secret, no AWS call
}

# BatchWriteItem: the delivery log is written once per routed delivery, poll or redelivery request, one item per team it
# concerns (25 per call); a template's versions go in one batch when the template is removed.
BATCH_WRITERS = {
    ("ConnectionsFunction", "TemplatesTable"),
    ("EventRouterFunction", "DeliveriesTable"),
    ("ScheduledSyncFunction", "DeliveriesTable"),
    ("SyncFunction", "DeliveriesTable"),
}

# The functions that build a provider (wiring.provider_config reads its secrets) or verify webhooks: all but the build
# trigger, which reaches no provider.
PROVIDER_SECRET_READERS = set(DYNAMODB) - {"BuildTriggerFunction", "DashboardFunction"}

# The encryption-context keys the cipher's callers use (services/secrets.py: connection credentials
# {team_id, connection_id}, hook secrets {team_id, hook_id}). KMS grants are conditioned on them: a call with any other
# key, or without team_id, is refused. (A new kind of sealed secret adds its key here.)
KMS_CONTEXT_KEYS = ("team_id", "connection_id", "hook_id")


def statements(function_id: str) -> str:
    """template.yaml's DynamoDB statements for one function, as declared here."""
    lines = ["        - Statement:"]
    for table, granted in DYNAMODB[function_id].items():
        actions = ", ".join(f"dynamodb:{a}" for a in sorted(granted.actions))
        resources = [f"!GetAtt {table}.Arn"] + [f'!Sub "${{{table}.Arn}}/index/{i}"' for i in sorted(granted.indexes)]
        lines += [f"            - Sid: {table}", "              Effect: Allow", f"              Action: [{actions}]",
                  f"              Resource: [{', '.join(resources)}]"]
    return "\n".join(lines)


MARKER = "        # DynamoDB: exactly what infra/iam.py declares"


def rewrite(text: str) -> str:
    """template.yaml with each function's DynamoDB block (the marker line, then `- Statement:` and its statements)
    replaced by what DYNAMODB declares."""
    for function in (f for f, tables in DYNAMODB.items() if tables):  # a function with no table has no block
        block = re.compile(rf"(^  {function}:\n(?:(?!^  \S).*\n)*?{re.escape(MARKER)}.*\n)        - Statement:\n"
                           r"(?:            .*\n)*", re.M)
        text, found = block.subn(lambda m, f=function: m.group(1) + statements(f) + "\n", text, count=1)
        if not found:
            raise SystemExit(f"template.yaml: {function} has no '{MARKER.strip()}' block")
    return text


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        path = Path(__file__).resolve().parents[1] / "template.yaml"
        path.write_text(rewrite(path.read_text()))
    else:
        for function in sys.argv[1:] or sorted(DYNAMODB):
            print(f"# {function}\n{statements(function)}")

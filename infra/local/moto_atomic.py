"""moto's DynamoDB with atomic writes (``python -m infra.local.moto_atomic`` runs moto's server with them).

DynamoDB applies a conditional write atomically per item: of two `PutItem ... attribute_not_exists(pk)` racing for one
key, exactly one succeeds. moto checks the condition and then writes without a lock, so two threads (moto's threaded
server, or handlers run in threads in one test process) can both succeed, and a lease or a one-time state taken twice
looks like our bug. One lock around moto's DynamoDB writes restores DynamoDB's guarantee. Reads take it too: a Query
iterates a table's items while another thread's PutItem of a new key changes them ("dictionary changed size during
iteration", seen in test_run_concurrency); DynamoDB answers each read from a consistent state.
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any

_WRITES = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")
_READS = ("get_item", "batch_get_item", "query", "scan", "transact_get_items")
_LOCK = threading.RLock()


def serialize_dynamodb() -> None:
    """Patch moto's DynamoDB backend once per process (later calls do nothing): writes and reads under one lock."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in (*_WRITES, *_READS):
        original = getattr(DynamoDBBackend, name, None)
        if original is None:  # not in this moto version
            continue
        if getattr(original, "_gitconnect_atomic", False):
            continue

        def atomic(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return __original(self, *args, **kwargs)

        functools.update_wrapper(atomic, original)
        atomic._gitconnect_atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, atomic)


if __name__ == "__main__":
    serialize_dynamodb()
    from moto.server import main

    main(sys.argv[1:])

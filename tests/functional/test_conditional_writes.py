"""Leases and one-time states rely on DynamoDB applying a conditional write atomically per item. moto does not (it
checks, then writes, unlocked); `infra/local/moto_atomic.py` restores the guarantee for the local stack and these
tests. Without it, a lease raced by eight threads is won by several in most rounds (measured: 134 of 200)."""

from __future__ import annotations

import sys
import threading

import pytest

from tests.support.inprocess import System


@pytest.mark.slow
def test_a_raced_lease_has_one_winner(system: System) -> None:
    from gitconnect import wiring

    store = wiring.stores().leases
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race window is a few bytecodes wide
    try:
        winners = []
        for round_ in range(50):
            results: list[bool] = []
            barrier = threading.Barrier(8)

            def take(lease: str, barrier: threading.Barrier, results: list[bool]) -> None:
                barrier.wait()
                results.append(store.acquire(lease, 2_000_000_000))

            threads = [threading.Thread(target=take, args=(f"lease-race-{round_}", barrier, results)) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            winners.append(sum(results))
    finally:
        sys.setswitchinterval(switch)
    assert winners == [1] * 50

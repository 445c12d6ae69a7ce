"""bench/sync_simulation.py's checks can fail: a short run at a small scale holds them, and one with too few
SyncFunction instances for the polls misses the interval + 1 minute."""

from __future__ import annotations

import pytest

from bench import sync_simulation


@pytest.mark.slow
def test_a_small_run_polls_every_source_once_per_interval() -> None:
    result = sync_simulation.simulate(n=600, minutes=12)
    assert result.unclaimed_polls == 0 and result.never_polled == 0
    assert max(result.gaps) <= 1.1 * sync_simulation.INTERVAL + 60
    assert min(result.gaps) >= 0.9 * sync_simulation.INTERVAL
    assert "FAILED" not in "\n".join(sync_simulation.report(result))


@pytest.mark.slow
def test_too_few_consumers_for_the_polls_is_reported_as_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2 000 sources a 3 minutes is 11 polls a second; one SyncFunction does 4 (0.23 s each)
    monkeypatch.setattr(sync_simulation, "ESM_START", 1)
    monkeypatch.setattr(sync_simulation, "ESM_MAX", 1)
    result = sync_simulation.simulate(n=2000, minutes=12)
    assert "FAILED" in "\n".join(sync_simulation.report(result))

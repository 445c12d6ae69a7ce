"""checkov (PyPI; its own tool venv, like SAM) over template.yaml: every finding is in the reviewed baseline
(checkov_baseline.yaml, with the reason each is accepted), and every baseline entry still matches a finding."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASELINE = Path(__file__).with_name("checkov_baseline.yaml")


def accepted() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(BASELINE.read_text())
    for entry in entries:
        assert entry.get("reason", "").strip(), f"{entry['check']}: an accepted finding says why"
    return entries


def findings() -> set[tuple[str, str]]:
    checkov = os.environ.get("GITCONNECT_CHECKOV") or str(ROOT / ".tools/checkov/bin/checkov")
    if not Path(checkov).exists():
        pytest.fail(f"checkov not found at {checkov}: run the tests with `make test` (or `make template`)")
    # --skip-download: no calls to checkov's platform (guidelines, custom policies); the checks are in the package.
    result = subprocess.run([checkov, "-f", "template.yaml", "--framework", "cloudformation", "--quiet", "--compact",
                             "--skip-download", "-o", "json"], cwd=ROOT, capture_output=True, text=True, check=False,
                            timeout=600, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert reports and all(r["summary"]["parsing_errors"] == 0 for r in reports), result.stdout[-2000:]
    return {(f["check_id"], f["resource"].split(".", 1)[1]) for r in reports for f in r["results"]["failed_checks"]}


@pytest.mark.slow
def test_every_checkov_finding_is_accepted_with_a_reason() -> None:
    found, entries = findings(), accepted()

    def covers(entry: dict[str, Any], check: str, resource: str) -> bool:
        return entry["check"] == check and (entry["resources"] == "*" or resource in entry["resources"])

    unaccepted = sorted(f for f in found if not any(covers(e, *f) for e in entries))
    assert not unaccepted, f"checkov findings not in {BASELINE.name} (fix them, or accept them with a reason):\n" + \
        "\n".join(f"{c} {r}" for c, r in unaccepted)
    stale = [e["check"] for e in entries if not any(covers(e, *f) for f in found)]
    assert not stale, f"{BASELINE.name} accepts findings checkov no longer reports (remove them): {stale}"
    for entry in entries:
        if entry["resources"] != "*":
            gone = [r for r in entry["resources"] if (entry["check"], r) not in found]
            assert not gone, f"{entry['check']}: no longer reported for {gone} (remove them from the baseline)"

"""template.yaml passes cfn-lint and `sam validate --lint` (SAM CLI lives in its own tool venv)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_cfn_lint() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), "template.yaml"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint() -> None:
    sam = os.environ.get("GITCONNECT_SAM") or str(ROOT / ".tools/sam/bin/sam")
    if not Path(sam).exists():
        pytest.fail(f"SAM CLI not found at {sam}: run the tests with `make test`, which installs it")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run([sam, "validate", "--lint", "--template-file", "template.yaml"], cwd=ROOT,
                            capture_output=True, text=True, check=False, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr

"""Figure 1: cold import time of each function module against a cold ``import boto3``.

Every sample is a fresh interpreter (``python -c``) timing the import with ``time.perf_counter()``, with the
functions' environment (from the template, resolved as the in-process harness resolves it) and an AWS endpoint
that refuses connections: an import that needed AWS would fail here. Runs are interleaved round-robin so that
drift in machine load hits every module alike; one untimed run per module first writes the bytecode caches.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINE = "boto3"
MODULES = (
    "functions.connections.app",
    "functions.repo_listing.app",
    "functions.build_trigger.app",
    "functions.scheduled_sync.app",
)
RUNS = 7
_PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
# Nothing listens on port 1 of the loopback: any AWS call during an import fails at once.
_NO_AWS = "http://127.0.0.1:1"


@dataclass
class ImportTime:
    module: str
    samples_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def min_ms(self) -> float:
        return min(self.samples_ms)


def function_environment() -> dict[str, str]:
    """The environment the functions get (template variables resolved against moto), as the harness builds it."""
    from moto import mock_aws

    from tests.support.inprocess import start_system

    saved = dict(os.environ)
    try:
        with mock_aws():
            return dict(start_system().env)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def child_environment(function_env: dict[str, str]) -> dict[str, str]:
    """A Lambda-like environment: nothing of the caller's AWS setup, the functions' variables, fake credentials."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(function_env)
    env.update({
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "layers" / "gitconnect" / "python")]),
        "AWS_REGION": function_env.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_DEFAULT_REGION": function_env.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": _NO_AWS,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


def time_import(module: str, env: dict[str, str]) -> float:
    """Milliseconds one fresh interpreter takes to import ``module``."""
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(module=module)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"importing {module} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1]) * 1000


def measure(env: dict[str, str], runs: int = RUNS,
            timer: Callable[[str, dict[str, str]], float] = time_import) -> list[ImportTime]:
    """Median-ready samples for the baseline (first) and every function module."""
    modules = (BASELINE, *MODULES)
    for module in modules:
        timer(module, env)  # untimed: writes __pycache__, as a deployed package would ship it
    results = {m: ImportTime(m, []) for m in modules}
    for _ in range(runs):
        for module in modules:
            results[module].samples_ms.append(timer(module, env))
    return list(results.values())


def report(results: list[ImportTime]) -> list[str]:
    base = results[0]
    lines = [
        f"fresh interpreter per sample, median of {len(base.samples_ms)} interleaved runs, functions' environment,",
        f"AWS endpoint {_NO_AWS} (refuses connections: the imports make no AWS call)",
        "",
        f"  {'import':<32}{'median ms':>11}{'min ms':>10}{'max ms':>10}{'x boto3':>10}",
    ]
    for r in results:
        lines.append(f"  {r.module:<32}{r.median_ms:>11.1f}{r.min_ms:>10.1f}{max(r.samples_ms):>10.1f}"
                     f"{r.median_ms / base.median_ms:>10.2f}")
    return lines


def run() -> tuple[list[ImportTime], list[str]]:
    results = measure(child_environment(function_environment()))
    return results, report(results)

"""Figure 1: cold import time of each function's handler module (every function of template.yaml) against a cold
``import boto3``, measured the way Lambda runs them (bench/deployed.py): read-only code and layers, no writable
``__pycache__`` (PYTHONDONTWRITEBYTECODE), ``python -S``; once as deployed before (source only) and once as deployed
now (layers with bytecode). "cold start as deployed ÷ import boto3" is the bytecode tree's import over boto3's there.

Every sample is a fresh interpreter (``python -c``) timing the import with ``time.perf_counter()``, with the
functions' environment (from the template, resolved as the in-process harness resolves it) and an AWS endpoint
that refuses connections: an import that needed AWS would fail here. Runs are interleaved round-robin so that
drift in machine load hits every module and both trees alike.
"""

from __future__ import annotations

import os
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.deployed import Tree, deployed_trees

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINE = "boto3"
RUNS = 3
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


def modules() -> dict[str, str]:
    """Every function of the template -> its handler module (``functions/<folder>/app.py``)."""
    from infra.local import template as tpl

    specs = tpl.functions(tpl.load_template())
    return {fid: f"functions.{Path(spec.code_uri).name}.app" for fid, spec in specs.items()}


def time_import(module: str, env: dict[str, str], tree: Tree) -> float:
    """Milliseconds one fresh interpreter takes to import ``module`` from ``tree``."""
    proc = subprocess.run(tree.command(_PROBE.format(module=module)), cwd=tree.code, env=tree.environment(env),
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"importing {module} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1]) * 1000


def measure(env: dict[str, str], trees: tuple[Tree, ...], runs: int = RUNS,
            timer: Callable[[str, dict[str, str], Tree], float] = time_import) -> dict[str, list[ImportTime]]:
    """Per tree, median-ready samples for the baseline (first) and every function's module, interleaved."""
    names = (BASELINE, *modules().values())
    results = {t.name: {m: ImportTime(m, []) for m in names} for t in trees}
    for _ in range(runs):
        for module in names:
            for tree in trees:
                results[tree.name][module].samples_ms.append(timer(module, env, tree))
    return {name: list(r.values()) for name, r in results.items()}


def report(results: dict[str, list[ImportTime]]) -> list[str]:
    source, deployed = results["source only"], results["with bytecode"]
    lines = [
        f"fresh interpreter per sample, median of {len(source[0].samples_ms)} interleaved runs, functions' "
        "environment, read-only trees,",
        f"PYTHONDONTWRITEBYTECODE=1, python -S; AWS endpoint {_NO_AWS} (refuses connections: the imports make no AWS "
        "call)",
        "",
        f"  {'import':<36}{'source ms':>10}{'x boto3':>9}{'bytecode ms':>13}{'x boto3':>9}"
        f"{'bytecode/source':>17}",
    ]
    for s, d in zip(source, deployed, strict=True):
        lines.append(f"  {s.module:<36}{s.median_ms:>10.1f}{s.median_ms / source[0].median_ms:>9.2f}"
                     f"{d.median_ms:>13.1f}{d.median_ms / deployed[0].median_ms:>9.2f}"
                     f"{d.median_ms / s.median_ms:>17.2f}")
    lines += ["", "  cold start of each function as deployed (with bytecode) ÷ import boto3 (with bytecode):"]
    names = {module: fid for fid, module in modules().items()}
    lines += [f"    {names[d.module]:<28}{d.median_ms / deployed[0].median_ms:5.2f}" for d in deployed[1:]]
    return lines


def run() -> tuple[dict[str, list[ImportTime]], list[str]]:
    env = child_environment(function_environment())
    with deployed_trees() as trees:
        results = measure(env, trees)
    return results, report(results)

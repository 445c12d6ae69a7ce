"""Figure 9: GitOps drift checks for 100 unchanged templates — bytes fetched and provider calls per hour.

The real handlers in-process under moto (tests/support/inprocess.py). 100 templates linked (mode "link") to files in
REPOSITORIES repositories (TEMPLATES_PER_REPOSITORY each, on main), nothing changes; after one settling scheduled
sync, one more round with every template due is measured (the scheduled sync, SyncFunction's drift checks and the
gitops queue drained) and multiplied by the rounds per hour at the default intervals (drift groups are due together,
once per interval: GITCONNECT_POLL_SECONDS, 180 s, on Custom Git; GITCONNECT_DRIFT_SECONDS, 900 s, where webhooks
deliver pushes):

- Custom Git: real `git http-backend` repositories (infra/local/git_server.py), each also holding a BLOB_BYTES file
  that a full fetch would carry; bytes = what the server sent (refs advertisements and packs), calls = HTTP requests;
- GitHub: tests/support/fake_github.py; calls = API requests, bytes = their JSON bodies as sent.

Goal: heads only — one head check per repository and branch, shared by the templates on it; no content fetched.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitconnect.settings import Settings

REPOSITORIES = 10
TEMPLATES_PER_REPOSITORY = 10
BLOB_BYTES = 2 * 1024 * 1024  # the "2 MB repositories"
# The default intervals (Settings): Custom Git's drift groups are checked every poll interval, GitHub's every drift one.
INTERVALS = {"Custom Git": Settings.poll_seconds, "GitHub": Settings.drift_seconds}
ROUNDS_PER_HOUR = {provider: 3600 / seconds for provider, seconds in INTERVALS.items()}


@dataclass
class Drift:
    provider: str
    templates: int
    repositories: int
    calls: int  # per check round
    bytes: int  # per check round
    outcomes: dict[str, int]
    seconds: float  # the measured round's wall time in-process


def _template(system: Any, team: str, token: str, connection_id: str, path: str, repository: str | None) -> None:
    gitops: dict[str, Any] = {"connection_id": connection_id, "branch": "main", "path": path, "mode": "link"}
    if repository is not None:
        gitops["repository"] = repository
    reply = system.call("POST", f"/v1/teams/{team}/templates", token=token,
                        body={"name": path.rsplit("/", 1)[-1], "gitops": gitops})
    if reply.status != 201:
        raise RuntimeError(f"linking {path} failed: {reply.status} {reply.body[:300]!r}")


def _outcomes(system: Any, team: str, token: str) -> dict[str, int]:
    """What the round left: templates still at their first version (nothing changed, so nothing should) or not."""
    items = system.call("GET", f"/v1/teams/{team}/templates", token=token).json()["items"]
    counts: dict[str, int] = {}
    for t in items:
        outcome = "unchanged" if t["version"] == 1 and t["gitops"]["status"] == "synced" else "changed"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def measure_custom() -> Drift:
    from moto import mock_aws

    from infra.local.git_server import GitHttpServer, WorkingCopy, init_bare
    from tests.support.inprocess import start_system

    saved = dict(os.environ)
    try:
        with tempfile.TemporaryDirectory(prefix="gitconnect-bench-drift-") as tmp, mock_aws():
            system = start_system()
            team = f"bench-{uuid.uuid4().hex[:8]}"
            token = system.token({team: "admin"})
            (Path(tmp) / "repos").mkdir()
            with GitHttpServer(Path(tmp) / "repos") as server:
                for r in range(REPOSITORIES):
                    name = f"drift-{r}"
                    init_bare(server.root, name)
                    work = WorkingCopy.clone(server.url_for(name), Path(tmp) / name)
                    work.write("assets/blob.bin", os.urandom(BLOB_BYTES))
                    for t in range(TEMPLATES_PER_REPOSITORY):
                        work.write(f"templates/t{t}.json", json.dumps({"template": t, "repository": r}))
                    work.commit("templates")
                    work.push("main")
                    connection = system.call("POST", f"/v1/teams/{team}/connections", token=token,
                                             body={"provider": "custom", "url": server.url_for(name)}).json()
                    for t in range(TEMPLATES_PER_REPOSITORY):
                        _template(system, team, token, connection["id"], f"templates/t{t}.json", None)
                system.sync()  # settles (and is not counted)
                calls, sent = len(server.requests), server.bytes_sent
                started = time.perf_counter()
                system.sync()
                elapsed = time.perf_counter() - started
                return Drift("Custom Git", REPOSITORIES * TEMPLATES_PER_REPOSITORY, REPOSITORIES,
                             len(server.requests) - calls, server.bytes_sent - sent, _outcomes(system, team, token),
                             elapsed)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from gitconnect import wiring

        wiring.reset()


def measure_github() -> Drift:
    from bench.aws_calls import Recorder
    from bench.webhooks import _github, _link

    with _github(Recorder()) as (system, fake):
        installation, connection_id, token = _link(system, fake, "octo-drift")
        team = "bench-webhooks"
        for r in range(REPOSITORIES):
            full = f"octo-drift/drift-{r}"
            fake.add_repo(installation, full)
            for t in range(TEMPLATES_PER_REPOSITORY):
                fake.put_file(full, "main", f"templates/t{t}.json", json.dumps({"template": t, "repository": r}))
            for t in range(TEMPLATES_PER_REPOSITORY):
                _template(system, team, token, connection_id, f"templates/t{t}.json", full)
        system.sync()  # settles (and is not counted)
        before = len(fake.log)
        started = time.perf_counter()
        system.sync()
        elapsed = time.perf_counter() - started
        made = fake.log[before:]
        sent = sum(len(json.dumps(r.response).encode()) for r in made if r.response is not None)
        return Drift("GitHub", REPOSITORIES * TEMPLATES_PER_REPOSITORY, REPOSITORIES, len(made), sent,
                     _outcomes(system, team, token), elapsed)


def report(results: list[Drift]) -> list[str]:
    lines = [f"in-process (moto), real handlers; {REPOSITORIES * TEMPLATES_PER_REPOSITORY} linked templates, "
             f"{TEMPLATES_PER_REPOSITORY} per repository on main, nothing changed; one check round (every template "
             "due) measured after a settling one, x rounds an hour at the default intervals ("
             + ", ".join(f"{p} {INTERVALS[p]:g} s: {ROUNDS_PER_HOUR[p]:g}" for p in INTERVALS) + ")",
             f"(Custom Git repositories also hold a {BLOB_BYTES / 2**20:.0f} MB file: a full fetch would carry it)", "",
             f"  {'provider':<12}{'templates':>10}{'repos':>7}{'calls/round':>12}{'bytes/round':>12}"
             f"{'calls/hour':>12}{'bytes/hour':>13}  outcomes"]
    for d in results:
        rounds = ROUNDS_PER_HOUR[d.provider]
        lines.append(f"  {d.provider:<12}{d.templates:>10}{d.repositories:>7}{d.calls:>12}{d.bytes:>12,}"
                     f"{d.calls * rounds:>12,.0f}{d.bytes * rounds:>13,.0f}  "
                     + ", ".join(f"{k} {v}" for k, v in sorted(d.outcomes.items())))
    lines += ["", "  goal: heads only (one head check per repository and branch, no file read):"]
    for d in results:
        verdict = "ok" if d.calls <= d.repositories * (2 if d.provider == "Custom Git" else 1) else "MORE THAN HEADS"
        per_check = d.bytes / d.repositories if d.repositories else 0
        lines.append(f"    {d.provider}: {d.calls / d.repositories:.1f} calls and {per_check:,.0f} bytes per "
                     f"repository and round   -> {verdict}")
    return lines


def run() -> tuple[list[Drift], list[str]]:
    results = [measure_custom(), measure_github()]
    return results, report(results)

"""Figure 6: listing a GitHub installation of 5 000 repositories against DESIGN.md §8 (⌈repos/100⌉ provider calls
cold, none warm).

In-process through the real handlers (moto for AWS); GitHub is tests/support/fake_github.py over real HTTP on
127.0.0.1, paginating as GitHub does (per_page at most 100, `Link` rel="next"). A cold listing reads every page on the
first request (the cache holds the connection's whole sorted list); the next pages and a repeated listing are served
from the cache. Provider calls are the fake's request log: listing pages, and the installation token minted once.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.webhooks import verdict

REPOSITORIES = 5_000
PAGE = 100  # the API's largest `limit`
TEAM = "bench-listing"


@dataclass
class Phase:
    title: str
    pages: int = 0
    calls: Counter[str] = field(default_factory=Counter)  # provider path -> requests
    ms: list[float] = field(default_factory=list)  # wall time per API request

    @property
    def listing_calls(self) -> int:
        return self.calls["/installation/repositories"]


def _provider_calls(fake: Any, since: int) -> Counter[str]:
    calls: Counter[str] = Counter()
    for recorded in fake.log[since:]:
        calls["/app/installations/…/access_tokens" if recorded.path.endswith("/access_tokens") else recorded.path] += 1
    return calls


def measure() -> list[Phase]:
    from gitconnect import wiring
    from tests.functional.github_support import github_system
    from tests.functional.test_github_flow import install

    try:
        with github_system() as (system, fake):
            token = system.token({TEAM: "admin"}, sub="octocat")
            installation = fake.add_installation("octo-org")
            for n in range(REPOSITORIES):
                fake.add_repo(installation, f"octo-org/repo-{n:04d}")
            outcome = install(system, fake, token, installation, user_installs=[installation], team=TEAM)
            if outcome.get("outcome") != ["linked"]:
                raise RuntimeError(f"the installation was not linked: {outcome}")
            url = f"/v1/teams/{TEAM}/connections/{outcome['connection_id'][0]}/repositories?limit={PAGE}"
            fake.clear_log()
            cold, following = Phase("first page, cold"), Phase("the next pages")
            warm = Phase("a repeated listing, warm")
            cursor: str | None = None
            for phase in (cold, following, warm):
                since = len(fake.log)
                # Bounded: the first phase is one page; the others end with the listing (at most 10 000 pages)
                for _ in range(10_000):
                    started = time.perf_counter()
                    reply = system.call("GET", url + (f"&cursor={cursor}" if cursor else ""), token=token)
                    phase.ms.append((time.perf_counter() - started) * 1000)
                    if reply.status != 200:
                        raise RuntimeError(f"listing answered {reply.status}: {reply.body[:300]!r}")
                    phase.pages += 1
                    cursor = reply.json()["next_cursor"]
                    if phase is cold or cursor is None:
                        break
                phase.calls = _provider_calls(fake, since)
            return [cold, following, warm]
    finally:
        wiring.reset()


def report(phases: list[Phase]) -> list[str]:
    cold, following, warm = phases
    budget = math.ceil(REPOSITORIES / 100)
    lines = [
        f"in-process (moto); a GitHub installation of {REPOSITORIES:,} repositories (the fake over HTTP on 127.0.0.1), "
        f"listed {PAGE} a page;",
        "provider calls: GitHub requests made by the request(s); budget DESIGN.md §8: ⌈repos/100⌉ cold, 0 warm",
        "",
        f"  {'':<28}{'pages':>8}{'listing calls':>15}{'budget':>8}{'':>4}{'other calls':>13}"
        f"{'wall ms':>10}{'ms/page':>9}",
    ]
    budgets = {cold.title: budget, following.title: 0, warm.title: 0}
    for phase in phases:
        other = sum(n for path, n in phase.calls.items() if path != "/installation/repositories")
        limit = budgets[phase.title]
        lines.append(
            f"  {phase.title:<28}{phase.pages:>8}{phase.listing_calls:>15}{limit:>8}"
            f"{verdict(phase.listing_calls, limit):>4}{other:>13}{sum(phase.ms):>10.0f}"
            f"{statistics.median(phase.ms):>9.1f}"
        )
    lines += ["", "  other calls: the installation token, minted once per container (then cached until shortly before "
                  "it expires).",
              f"  the cold page's wall time is {budget} provider round trips to the fake on loopback; against "
              "api.github.com each also",
              "  costs its network round trip: hence the cache, and the bound of 100 pages (10 000 repositories) a "
              "listing reads."]
    return lines


def run() -> tuple[list[Phase], list[str]]:
    phases = measure()
    return phases, report(phases)

"""The webhook bench's arithmetic: the fan-out budget of DESIGN.md §8, ratios and verdicts, and its reports."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.cost import Usage, report
from bench.webhooks import (
    FanoutRun,
    fanout_budget,
    fanout_formula,
    implied_constant,
    ratio,
    report_cold,
    report_examples,
    report_fanout,
    shared_poll_saving,
    verdict,
)


@pytest.mark.parametrize(
    ("n", "formula"),
    [(1, 1 + 1), (10, 1 + 1), (11, 2 + 1), (25, 3 + 1), (26, 3 + 2), (100, 10 + 4), (1000, 100 + 40)],
)
def test_the_fanout_formula_is_one_call_per_ten_builds_and_one_per_25_log_entries(n: int, formula: int) -> None:
    assert fanout_formula(n) == formula


def test_the_budget_adds_the_constant_that_n_equal_one_implies() -> None:
    constant = implied_constant(6)
    assert constant == 4
    assert fanout_budget(1, constant) == 6
    assert fanout_budget(1000, constant) == 144


def test_ratios_and_verdicts() -> None:
    assert ratio(3.0, 2.0) == pytest.approx(1.5)
    assert ratio(1.0, 0.0) == float("inf")
    assert verdict(2.0, 2) == "ok"
    assert verdict(2.01, 2) == "OVER BUDGET"


def test_full_batches_share_the_event_source_mappings_requests() -> None:
    assert shared_poll_saving(2, 10) == pytest.approx(2 * 0.9 * 0.40)
    assert shared_poll_saving(2, 1) == 0.0
    assert shared_poll_saving(1, 4, price=1e-6) == pytest.approx(0.75)


def _run(n: int, calls: int, builds: int | None = None) -> FanoutRun:
    return FanoutRun(n, Counter({("SQS", "SendMessageBatch"): calls}), router_ms=[10.0, 30.0, 20.0],
                     calls_ms=[8.0, 20.0, 5.0], builds=n if builds is None else builds)


def test_fanout_report_compares_each_n_with_its_budget() -> None:
    lines = report_fanout({"one team": [_run(1, 6), _run(1000, 145)]})
    text = "\n".join(lines)
    assert "(constant 4)" in text
    rows = {line[:38].strip(): line[38:].split() for line in lines if line.startswith("    ")}
    assert rows["⌈N/10⌉ + ⌈N/25⌉ + constant"] == ["6", "144"]
    assert rows["AWS calls by the router"] == ["6", "145"]
    assert rows[""] == ["ok", "OVER", "BUDGET"]
    outside = rows["outside AWS calls"]
    assert outside == ["10.0", "10.0"]  # the median of 10-8, 30-20, 20-5


def test_own_time_is_the_median_of_wall_minus_calls() -> None:
    assert _run(1, 6).own_ms == pytest.approx(10.0)


def test_cold_report_prints_all_four_ratios_and_judges_a_over_c() -> None:
    samples = {
        "(c) import boto3": [100.0, 110.0, 90.0],
        "(d) import boto3 + one SQS client": [150.0, 150.0, 150.0],
        "(a) import functions.webhook_intake.app": [20.0, 20.0, 20.0],
        "(b) (a) + webhook_spec + webhook_intake()": [165.0, 165.0, 165.0],
    }
    text = "\n".join(report_cold(samples))
    assert "(a) / (c)   0.20" in text and "-> ok" in text
    assert "(b) / (c)   1.65" in text
    assert "(b) / (d)   1.10" in text


def test_the_cost_report_names_its_unit() -> None:
    lines = report([("hook", Usage(invocations=((1.0, 256),), api_requests=1))], unit="webhook")
    assert lines[0].split()[:2] == ["per", "webhook"]
    assert "  $ per million webhooks" in lines


def test_the_examples_report_judges_each_provider_by_its_worst_ratio() -> None:
    def example(provider: str, name: str, size: int, ratio_: float) -> dict[str, object]:
        # µs chosen so that intake ÷ baseline disagrees with the ratio: the report must read the ratio (the median of
        # the rounds' ratios), not divide the least times
        return {"provider": provider, "name": name, "bytes": size, "intake": 10.0, "baseline": 10.0, "ratio": ratio_}

    lines = report_examples([example("github", "ping[0]", 900, 1.5), example("github", "push[1]", 9000, 2.1),
                             example("github", "issues[0]", 4000, 1.2), example("gitlab", "push-hook", 1500, 1.9)])
    github = next(line for line in lines if line.strip().startswith("github"))
    gitlab = next(line for line in lines if line.strip().startswith("gitlab"))
    assert github.split()[1:4] == ["3", "1.50", "2.10"] and "push[1] (8.8 KB)" in github
    assert github.rstrip().endswith("1.50   -> OVER BUDGET")  # small (< 2 KB) max, then the verdict on the max
    assert gitlab.split()[1:4] == ["1", "1.90", "1.90"] and gitlab.rstrip().endswith("-> ok")
    assert not any(line.strip().startswith("bitbucket") for line in lines)  # no examples, no line

"""The fast slice of the random fault schedules (200+ examples run in `make reliability`)."""

from pathlib import Path

import pytest

from reliability.fault_schedules import explore, run_schedule


def test_a_dense_schedule_is_survived(tmp_path: Path) -> None:
    schedule = [
        {"fault": "commit then drop", "site": ("POST", "/v2/orders"), "skip": 1, "times": 2},
        {"fault": "5xx", "site": ("GET", "/v2/account"), "skip": 0, "times": 1},
        {"fault": "429 Retry-After", "site": ("GET", "/v2/orders:by_client_order_id"), "skip": 2, "times": 2},
    ]
    ok, verdict, runs = run_schedule(tmp_path, schedule)
    assert ok and verdict.holds, verdict
    # The account read's 5xx is retried inside the run (a step retry): no rerun is needed.
    assert runs == 1


@pytest.mark.parametrize("fill_model", ["paper_like", "partial", "immediate"])
def test_faults_under_another_fill_model_are_survived(tmp_path: Path, fill_model: str) -> None:
    schedule = [
        {
            "fault": "commit then 504",
            "site": ("POST", "/v2/orders"),
            "skip": 1,
            "times": 2,
            "probability": 0.5,
        },
        {
            "fault": "connection reset",
            "site": ("GET", "/v2/orders:by_client_order_id"),
            "skip": 0,
            "times": 1,
        },
    ]
    ok, verdict, _ = run_schedule(tmp_path, schedule, fill_model)
    assert ok and verdict.holds, verdict


def test_a_few_random_schedules() -> None:
    outcomes = explore(2)
    assert len(outcomes) == 2
    assert all(ok and verdict.holds for _, ok, verdict in outcomes), outcomes


def test_rules_still_armed_when_the_runs_end_are_cleared_before_the_check(tmp_path: Path) -> None:
    # Found by the 200-example run: a reset on positions with skip 1 outlived the reruns
    # and broke the checker's own read. The faults end, then the invariants are checked.
    schedule = [
        {"fault": "stale quotes", "times": 2, "skip": 2, "site": ("GET", "/v2/stocks/quotes/latest")},
        {"fault": "business reject", "times": 2, "skip": 0, "site": ("GET", "/v2/clock")},
        {"fault": "connection reset", "times": 2, "skip": 1, "site": ("GET", "/v2/positions")},
        {"fault": "commit then drop", "times": 2, "skip": 2, "site": ("GET", "/v2/stocks/bars")},
    ]
    ok, verdict, _ = run_schedule(tmp_path, schedule)
    assert ok and verdict.holds, verdict


def test_a_plan_only_run_under_a_faulted_clock_is_followed_by_a_real_run(tmp_path: Path) -> None:
    # Found by the 200-example run: "market closed" at execution makes a successful but
    # plan-only run; when the faults end the day must still execute and land on target.
    schedule = [{"fault": "market closed", "site": ("GET", "/v2/clock"), "times": 1, "skip": 1}] * 2
    ok, verdict, runs = run_schedule(tmp_path, schedule)
    assert ok and verdict.holds, verdict
    assert runs == 2


def test_a_partial_execution_is_finished_by_the_rerun_after_the_faults(tmp_path: Path) -> None:
    # Found by the 200-example run: business rejects left two BUYs unfilled in a run that
    # itself succeeded (PARTIAL fails a check, not the run). The runner took the successful
    # run as the end; now the day is done only when its execution filled every item, and the
    # rerun (what the operator does on the alert) finishes the journaled plan on target.
    schedule = [
        {"fault": "5xx", "site": ("POST", "/v2/orders"), "skip": 1, "times": 2},
        {"fault": "5xx", "site": ("POST", "/v2/orders"), "skip": 0, "times": 1},
        {"fault": "business reject", "site": ("POST", "/v2/orders"), "skip": 1, "times": 2},
        {"fault": "502 HTML", "site": ("POST", "/v2/orders"), "skip": 3, "times": 1},
    ]
    ok, verdict, runs = run_schedule(tmp_path, schedule)
    assert ok and verdict.holds, verdict
    assert runs >= 2

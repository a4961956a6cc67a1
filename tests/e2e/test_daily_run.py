"""The whole daily graph on the embedded default: real alpaca-py over HTTP to the stand-in."""

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.domain.calendar import latest_session_on_or_before, previous_session
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.execution.outcome import orders_line
from alchemiser_dagster.domain.portfolio.models import RebalancePlan
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation
from alchemiser_dagster.domain.report import DailyReport
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from tests.stored import latest_stored

ROOT = Path(__file__).resolve().parents[2]
NY = ZoneInfo("America/New_York")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ALCHEMISER_MODE", "embedded")
    monkeypatch.setenv("ALCHEMISER_STORAGE", str(tmp_path / "storage"))
    monkeypatch.setenv("ALCHEMISER_SIM_STATE", str(tmp_path / "sim"))
    monkeypatch.setenv("ALCHEMISER_CONFIG", str(ROOT / "strategies" / "allocations.prod.json"))
    yield tmp_path


def run_partition(instance: dg.DagsterInstance, day: dt.date) -> dg.ExecuteInProcessResult:
    from alchemiser_dagster.definitions import build_definitions

    job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
    return job.execute_in_process(partition_key=day.isoformat(), instance=instance)


def run_tags(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> dict[str, str]:
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    return dict(run.tags)


def broker_orders(state: Path) -> list[str]:
    """Every order the stand-in holds, read back through the real SDK after the runs."""
    with SimulatorServer(state) as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        return sorted(o.client_order_id for o in broker.get_orders(status="all"))


def test_daily_graph_end_to_end_then_rerun_then_past_day(workspace: Path) -> None:
    today = latest_session_on_or_before(dt.datetime.now(NY).date())
    with dg.instance_for_test() as instance:
        first = run_partition(instance, today)
        assert first.success
        plan: RebalancePlan = first.asset_value("rebalance_plan")
        execution: ExecutionResult = first.asset_value("execution_result")
        after: Reconciliation = first.asset_value("reconciliation")
        assert plan.items, "a fresh $100,000 account must buy its targets"
        assert execution.status == "SUCCESS"
        # Walking the book: one to four orders per item (canceled limit steps, then the fill).
        assert len(plan.items) <= execution.orders_placed <= 4 * len(plan.items)
        requotes = execution.orders_placed - len(plan.items)
        assert orders_line(execution).startswith(
            f"{len(plan.items)} items, {execution.orders_placed} broker orders ({requotes} limit re-quote"
        )
        assert all(o.filled_qty == o.requested_qty and o.filled_avg_price for o in execution.outcomes)
        assert after.errors == () and after.applicable
        # Only the spread (2 bps or one tick, more on cheap names) and the price path during
        # the walk move equity: a few basis points of the ~$99,000 bought, never 0.5 %.
        assert abs(after.equity - Decimal(100000)) < Decimal(500)
        report: DailyReport = first.asset_value("daily_report")
        assert report.status == "SUCCESS" and "## Strategies" in report.markdown

        # Every check of the graph ran and passed.
        checks = [
            e.asset_check_evaluation_data
            for e in first.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
        assert {c.check_name for c in checks} >= {
            "prices_fresh",
            "weights_sum_to_one",
            "snapshot_sane",
            "execution_succeeded",
        }
        assert all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
        orders_after_first = broker_orders(workspace / "sim")
        assert len(orders_after_first) == execution.orders_placed
        # The run's tags tell a trading day at a glance (the Runs list, `alchemiser status`).
        tags = run_tags(instance, first)
        assert tags["alchemiser/outcome"] == "TRADED"
        assert tags["alchemiser/orders"] == str(len(orders_after_first))
        assert tags["alchemiser/items"] == str(len(plan.items))
        ledger = first.asset_value("fill_ledger")
        assert Decimal(tags["alchemiser/notional"]) == sum(map(Decimal, ledger["notional"])) > 0

        # A rerun of the same partition places nothing new.
        second = run_partition(instance, today)
        assert second.success
        rerun: ExecutionResult = second.asset_value("execution_result")
        assert rerun.orders_placed == 0 and rerun.orders_adopted == len(plan.items)
        assert rerun.plan_id == plan.plan_id  # it finished the journaled plan, not its own
        assert broker_orders(workspace / "sim") == orders_after_first
        # ...and its tag says so: it adopted the first run's orders, it did not trade.
        assert run_tags(instance, second)["alchemiser/outcome"] == "ADOPTED"
        assert run_tags(instance, second)["alchemiser/orders"] == "0"

        # A past partition produces a plan and places nothing.
        past = run_partition(instance, previous_session(today))
        assert past.success
        assert past.asset_value("execution_result").status == "PLAN_ONLY"
        assert run_tags(instance, past)["alchemiser/outcome"] == "PLAN_ONLY"
        assert run_tags(instance, past)["alchemiser/orders"] == "0"
        assert run_tags(instance, past)["alchemiser/notional"] == "0.00"
        assert past.asset_value("rebalance_plan").session == previous_session(today)
        assert broker_orders(workspace / "sim") == orders_after_first


def test_stored_assets_carry_identity(workspace: Path) -> None:

    today = latest_session_on_or_before(dt.datetime.now(NY).date())
    with dg.instance_for_test() as instance:
        result = run_partition(instance, today)
    envelope = json.loads(
        latest_stored(workspace / "storage", "rebalance_plan", partition=str(today)).read_text()
    )
    assert envelope["correlation_id"] == f"{result.run_id}:{today}"
    assert sorted(envelope["causation_id"]) == sorted(
        f"{key}@{result.run_id}:{today}"
        for key in ("account_snapshot", "allocation_comparison", "target_allocation")
    )


def test_blocking_check_stops_the_steps_downstream(workspace: Path) -> None:
    # An account with no money: snapshot_sane fails, so nothing after account_snapshot runs.
    SimulatorServer(workspace / "sim", cash=Decimal(0)).start().stop()
    today = latest_session_on_or_before(dt.datetime.now(NY).date())
    from alchemiser_dagster.definitions import build_definitions

    job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            partition_key=today.isoformat(), instance=instance, raise_on_error=False
        )
    assert not result.success
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks["snapshot_sane"].passed is False
    assert "equity is 0" in (checks["snapshot_sane"].description or "")
    materialized = {
        e.asset_key.to_user_string() for e in result.get_asset_materialization_events() if e.asset_key
    }
    assert "account_snapshot" in materialized
    assert not materialized & {
        "allocation_comparison",
        "rebalance_plan",
        "execution_result",
        "reconciliation",
    }
    assert broker_orders(workspace / "sim") == []


def test_alchemiser_run_json_prints_the_execution_result(workspace: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DAGSTER_HOME": str(workspace / "home")}
    command = [sys.executable, "-m", "alchemiser_dagster.cli", "run", "--json"]
    first = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=600
    )
    assert first.returncode == 0, first.stderr
    result = ExecutionResult.model_validate_json(first.stdout)
    assert result.status == "SUCCESS" and result.orders_placed > 0
    again = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=600
    )
    assert json.loads(again.stdout)["orders_placed"] == 0
    holiday = subprocess.run(
        [*command, "--date", "2024-07-04"], capture_output=True, text=True, cwd=ROOT, env=env, check=False
    )
    assert holiday.returncode == 1 and "2024-07-04 is not an NYSE session" in holiday.stderr
    assert "Traceback" not in holiday.stderr

"""The daily report of D tells the whole day: two runs of D on the stand-in (real alpaca-py
over HTTP), both stored values readable, and the day page after the rerun still shows the
trading run's fills, with one line for the rerun."""

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd

from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.domain.calendar import latest_session_on_or_before
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.execution.outcome import limit_requotes
from alchemiser_dagster.domain.portfolio.models import RebalancePlan
from alchemiser_dagster.domain.report import DailyReport
from alchemiser_dagster.pipeline.io_manager import ModelIOManager
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NY = ZoneInfo("America/New_York")


def test_rerun_of_the_day_keeps_the_trading_runs_story(tmp_path: Path) -> None:
    today = latest_session_on_or_before(dt.datetime.now(NY).date())
    settings = Settings(
        config=ROOT / "strategies" / "allocations.prod.json",
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
    )
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    with dg.instance_for_test() as instance:
        first = job.execute_in_process(partition_key=today.isoformat(), instance=instance)
        second = job.execute_in_process(partition_key=today.isoformat(), instance=instance)
    assert first.success and second.success
    plan: RebalancePlan = first.asset_value("rebalance_plan")
    ledger: pd.DataFrame = first.asset_value("fill_ledger")
    assert len(ledger) > 0 and second.asset_value("execution_result").orders_placed == 0

    # Both runs' executions are stored and readable, oldest first.
    storage = ModelIOManager(base=str(tmp_path / "storage"))
    stored = storage.stored_models(["execution_result"], today.isoformat())
    assert [v.run_id for v, _ in stored] == [first.run_id, second.run_id]
    executions = [e for _, e in stored]
    assert all(isinstance(e, ExecutionResult) for e in executions)
    assert executions[0] == first.asset_value("execution_result")
    assert executions[1] == second.asset_value("execution_result")

    # The rerun's report is the trading run's story plus one line for the rerun.
    report: DailyReport = second.asset_value("daily_report")
    assert report.trading_run == first.run_id
    assert [f.client_order_id for f in report.fills] == list(ledger["client_order_id"])
    assert report.orders and sum(o.filled_qty > 0 for o in report.orders) == len(plan.items)
    assert report.equity_before == first.asset_value("account_snapshot").account.equity
    assert report.equity_after == first.asset_value("reconciliation").equity
    assert report.status == "SUCCESS" and f"{len(plan.items)} planned orders" in report.headline
    placed = first.asset_value("execution_result")
    assert (
        f"{placed.orders_placed} broker orders ({limit_requotes(placed)} limit re-quotes)" in report.headline
    )
    assert [(r.run_id, r.placed, r.adopted) for r in report.later_runs] == [
        (second.run_id, 0, len(plan.items))
    ]
    rerun_line = report.later_runs[0].text
    assert rerun_line.startswith("rerun at ") and "finished nothing, placed 0" in rerun_line

    # The day page tells the whole day; each run's page is kept beside it.
    folder = tmp_path / "storage" / "daily_report"
    day_page = (folder / f"{today}.html").read_text()
    assert ledger["client_order_id"].iloc[0] in day_page and "rerun at " in day_page
    run_pages = sorted((folder / today.isoformat()).glob("*.html"))
    assert [p.stem.split("-", 1)[1] for p in run_pages] == [first.run_id, second.run_id]
    assert "rerun at " not in run_pages[0].read_text()
    assert run_pages[1].read_text() == day_page

    # The execution's plan and snapshot stay reachable from the report: the first run's.
    inputs = [Path(p) for p in report.inputs]
    assert {p.parent.parent.name for p in inputs} == {"rebalance_plan", "account_snapshot"}
    assert all(p.is_file() and p.stem.endswith(first.run_id) for p in inputs)

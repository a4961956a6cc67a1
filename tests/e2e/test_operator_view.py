"""The daily report and the run logs of a real trading day on the stand-in.

The report's numbers are the ledger's and the snapshot's; it is stored as HTML with its
plots next to the assets, attached as markdown with the plots, and emailed (real SMTP
server) with the plots inline. Every structured log line carries the correlation id.
"""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd

from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.domain.calendar import latest_session_on_or_before
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.portfolio.models import AccountSnapshot, AllocationComparison, TargetAllocation
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation
from alchemiser_dagster.domain.report import DailyReport
from alchemiser_dagster.notify.settings import AlertSettings
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings
from tests.loopback import free_port, smtp_server
from tests.pipeline.test_alert_sensors import check_tick

ROOT = Path(__file__).resolve().parents[2]
NY = ZoneInfo("America/New_York")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def logging_instance(log_dir: Path) -> dg.DagsterInstance:
    """An instance with the run-log handler, as the repository's dagster.yaml installs it."""
    handler = {"class": "alchemiser_dagster.pipeline.run_log.RunLogHandler", "log_dir": str(log_dir)}
    python_logs = {
        "python_log_level": "DEBUG",
        "managed_python_loggers": ["alchemiser"],
        "dagster_handler_config": {"handlers": {"run_json": handler}},
    }
    return dg.instance_for_test(overrides={"python_logs": python_logs})  # type: ignore[return-value]


def test_report_equals_ledger_and_snapshot_and_is_published_everywhere(tmp_path: Path) -> None:  # noqa: PLR0915
    today = latest_session_on_or_before(dt.datetime.now(NY).date())
    with smtp_server() as smtp, logging_instance(tmp_path / "logs") as instance:  # type: ignore[attr-defined]
        settings = Settings(
            config=ROOT / "strategies" / "allocations.prod.json",
            storage=str(tmp_path / "storage"),
            sim_state=tmp_path / "sim",
            alerts=AlertSettings(smtp_host=smtp.host, smtp_port=smtp.port, email_to=("ops@example.com",)),
        )
        job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
        result = job.execute_in_process(partition_key=today.isoformat(), instance=instance)
        assert result.success
        report: DailyReport = result.asset_value("daily_report")
        ledger: pd.DataFrame = result.asset_value("fill_ledger")
        snapshot: AccountSnapshot = result.asset_value("account_snapshot")
        comparison: AllocationComparison = result.asset_value("allocation_comparison")
        target: TargetAllocation = result.asset_value("target_allocation")
        execution: ExecutionResult = result.asset_value("execution_result")
        after: Reconciliation = result.asset_value("reconciliation")
        materialization = next(
            e.materialization
            for e in result.get_asset_materialization_events()
            if e.materialization.asset_key == dg.AssetKey("daily_report")
        )
        checks = {
            e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        }

    # The numbers are the ledger's, the snapshot's and the reconciliation's, exactly.
    assert execution.status == "SUCCESS" and len(ledger) > 0
    assert [
        (f.client_order_id, str(f.filled_qty), str(f.filled_avg_price), f.notional) for f in report.fills
    ] == [
        (r["client_order_id"], r["filled_qty"], r["filled_avg_price"], Decimal(r["notional"]))
        for r in ledger.to_dict("records")
    ]
    assert report.traded_notional == sum((Decimal(n) for n in ledger["notional"]), Decimal(0)) > 0
    assert (report.equity_before, report.cash_before) == (snapshot.account.equity, snapshot.account.cash)
    assert (report.equity_after, report.cash_after) == (after.equity, after.cash)
    assert {w.symbol: w.before for w in report.weights if w.before} == {
        r.symbol: r.current_weight for r in comparison.rows if r.current_weight
    }
    assert {w.symbol: w.target for w in report.weights if w.target} == target.weights
    assert {w.symbol: w.after for w in report.weights if w.after} == {
        r.symbol: r.actual_weight for r in after.rows if r.actual_weight
    }
    assert [(o.symbol, o.filled_qty, o.avg_price, o.slippage_bps) for o in report.orders] == [
        (o.symbol, o.filled_qty, o.filled_avg_price, o.slippage_bps) for o in execution.outcomes
    ]
    assert [p.session for p in report.equity_history] == [today]
    assert {s.name for s in report.strategies} == {s.strategy for s in target.sleeves}
    assert all(s.decisions for s in report.strategies)

    # Stored next to the assets: the page (self-contained) and the two plots.
    folder = tmp_path / "storage" / "daily_report"
    page = (folder / f"{today}.html").read_text()
    assert report.headline in page and page.count('src="data:image/png;base64,') == 2
    for name in ("weights", "equity"):
        assert (folder / f"{today}-{name}.png").read_bytes().startswith(PNG_MAGIC)

    # Attached to the materialization: markdown with the plots, and the paths.
    metadata = materialization.metadata
    markdown = metadata["report"].value
    assert isinstance(markdown, str) and markdown.count("](data:image/png;base64,") == 2
    assert "## Strategies" in markdown and "### Fills (ledger)" in markdown
    assert metadata["html"].value == str(folder / f"{today}.html")
    assert checks["report_delivered"] is True

    # Emailed as HTML with the plots inline.
    [message] = smtp.messages
    assert report.headline in message["Subject"]
    assert report.delivery.status == "sent" and report.delivery.detail == "sent to ops@example.com"
    html = message.get_body(preferencelist=("html",))
    assert (
        html is not None
        and 'src="cid:weights"' in html.get_content()
        and 'src="cid:equity"' in html.get_content()
    )
    related = message.get_body(preferencelist=("related",))
    assert related is not None
    images = {
        p["Content-ID"]: p.get_content() for p in related.iter_parts() if p.get_content_maintype() == "image"
    }
    assert set(images) == {"<weights>", "<equity>"} and all(i.startswith(PNG_MAGIC) for i in images.values())
    assert images["<weights>"] == (folder / f"{today}-weights.png").read_bytes()

    # Structured logs: every line carries the run's correlation id; step timings included.
    [log_file] = (tmp_path / "logs" / today.isoformat()).glob("*.jsonl")
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert log_file.stem == result.run_id
    assert {line["correlation_id"] for line in lines} == {f"{result.run_id}:{today}"}
    succeeded = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    timed = {line["step"]: line["duration_ms"] for line in lines if line["event"] == "STEP_SUCCESS"}
    assert set(timed) == succeeded and all(ms >= 0 for ms in timed.values())
    assert any(line["event"] == "PIPELINE_SUCCESS" for line in lines)
    placed = [
        line
        for line in lines
        if line["logger"] == "alchemiser.execution" and line["message"].startswith("placed")
    ]
    assert len(placed) == execution.orders_placed and all(
        line["step"] == "execution_result" for line in placed
    )
    assert any(line["message"].startswith("daily report: ") for line in lines)


def test_earlier_alerts_appear_in_the_report_and_a_failed_email_fails_a_check(tmp_path: Path) -> None:
    day = dt.date(2024, 6, 28)
    base = {
        "config": ROOT / "strategies" / "allocations.prod.json",
        "storage": str(tmp_path / "storage"),
        "sim_state": tmp_path / "sim",
        "sim_date": day,
    }
    broken_email = AlertSettings(smtp_host="127.0.0.1", smtp_port=free_port(), email_to=("ops@example.com",))
    with dg.instance_for_test() as instance:
        failing = Settings(
            **base, risk={"max_order_usd": "5000"}, alerts=broken_email.model_copy(update={"smtp_host": None})
        )  # type: ignore[arg-type]
        job = build_definitions(failing).resolve_job_def(DAILY_JOB_NAME)
        assert not job.execute_in_process(
            partition_key=day.isoformat(), instance=instance, raise_on_error=False
        ).success
        check_tick(failing, instance, None)  # the alert is announced (logged: no channel)

        rerun = Settings(**base, alerts=broken_email)  # type: ignore[arg-type]
        job = build_definitions(rerun).resolve_job_def(DAILY_JOB_NAME)
        result = job.execute_in_process(
            partition_key=day.isoformat(), instance=instance, raise_on_error=False
        )
    assert result.success  # a failed report email fails a check, not the run
    report: DailyReport = result.asset_value("daily_report")
    assert [(a.where, a.severity) for a in report.alerts] == [
        ("rebalance_plan / check order_notional_within_limit", "ERROR")
    ]
    assert "Alerts of the day" in report.markdown and "exceeds max_order_usd" in report.markdown
    assert report.delivery.status == "failed" and "ConnectionRefusedError" in report.delivery.detail
    [delivered] = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == "report_delivered"
    ]
    assert delivered.passed is False and "ConnectionRefusedError" in (delivered.description or "")
    assert (tmp_path / "storage" / "daily_report" / f"{day}.html").exists()  # the report is not lost


def test_a_plan_only_day_has_no_equity_point(tmp_path: Path) -> None:
    day = dt.date(2024, 6, 28)
    settings = Settings(
        config=ROOT / "strategies" / "allocations.prod.json",
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
        sim_date=dt.date(2024, 7, 1),  # the broker's today: D is a past day (a backfill)
    )
    with dg.instance_for_test() as instance:
        job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
        result = job.execute_in_process(partition_key=day.isoformat(), instance=instance)
    report: DailyReport = result.asset_value("daily_report")
    assert report.status == "PLAN_ONLY" and report.equity_history == () and report.fills == ()
    assert report.delivery.status == "not_configured"
    assert all(w.after == w.before for w in report.weights)  # nothing traded: after = before

"""daily_report for D: built from the day's stored assets, published as HTML and by email."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd

from alchemiser_dagster.control.alert_log import AlertLog
from alchemiser_dagster.domain.calendar import previous_session
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.portfolio.models import (
    AccountSnapshot,
    AllocationComparison,
    RebalancePlan,
    TargetAllocation,
)
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation
from alchemiser_dagster.domain.report import (
    AlertLine,
    DailyReport,
    EquityPoint,
    build_daily_report,
    ledger_notional,
    report_markdown,
    report_summary_markdown,
)
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.pipeline.assets.signals import signal_key, strategy_slug
from alchemiser_dagster.pipeline.io_manager import ModelIOManager
from alchemiser_dagster.pipeline.metadata import session_of
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import NotifierResource, SettingsResource
from alchemiser_dagster.reporting.html import data_uri
from alchemiser_dagster.reporting.publish import publish_daily_report


def equity_history(
    storage: ModelIOManager, session: dt.date, sessions: int, prefix: Sequence[str] = ()
) -> list[EquityPoint]:
    """Equity after the trade and traded notional of the stored sessions before `session`.

    Sessions whose day placed nothing (a backfill, a closed market) are left out: their
    stored equity is the account's at the time of the rerun, not that day's.
    """
    points = []
    day = session
    for _ in range(sessions):
        day = previous_session(day)
        stored = storage.stored_model([*prefix, "reconciliation"], day.isoformat())
        if not isinstance(stored, Reconciliation) or not stored.applicable:
            continue
        ledger = storage.stored_frame([*prefix, "fill_ledger"], day.isoformat())
        traded = ledger_notional(ledger) if ledger is not None else Decimal(0)
        points.append(EquityPoint(session=day, equity=stored.equity, traded_notional=traded))
    return points


def alerts_so_far(
    context: dg.AssetExecutionContext, alert_log: AlertLog, session: dt.date
) -> list[AlertLine]:
    """The day's alerts already announced, and this run's failed checks so far."""
    lines = [
        AlertLine(severity=r.alert.severity, where=r.alert.where, reason=r.alert.reason)
        for r in alert_log.for_session(session)
    ]
    for entry in context.instance.all_logs(
        context.run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ):
        evaluation = entry.asset_check_evaluation
        if evaluation is not None and not evaluation.passed:
            lines.append(
                AlertLine(
                    severity="WARN" if evaluation.severity == dg.AssetCheckSeverity.WARN else "ERROR",
                    where=f"{evaluation.asset_key.to_user_string()} / {evaluation.check_name}",
                    reason=evaluation.description or "failed",
                )
            )
    return lines


def build_daily_report_asset(config: AllocationConfig) -> dg.AssetsDefinition:
    ins = {strategy_slug(name): dg.AssetIn(signal_key(name)) for name in config.files}

    @dg.asset(partitions_def=nyse_sessions, group_name="report", ins=ins)
    def daily_report(
        context: dg.AssetExecutionContext,
        target_allocation: TargetAllocation,
        account_snapshot: AccountSnapshot,
        allocation_comparison: AllocationComparison,
        rebalance_plan: RebalancePlan,
        execution_result: ExecutionResult,
        fill_ledger: pd.DataFrame,
        reconciliation: Reconciliation,
        settings: SettingsResource,
        notifier: NotifierResource,
        **signals: Any,
    ) -> dg.Output[DailyReport]:
        """What the strategies chose and why, what traded and what it cost, where the account ended."""
        values = settings.settings()
        session = session_of(context)
        sender = notifier.notifier()
        report = build_daily_report(
            {s.strategy: signals[strategy_slug(s.strategy)] for s in target_allocation.sleeves},
            target_allocation,
            account_snapshot,
            allocation_comparison,
            rebalance_plan,
            execution_result,
            fill_ledger,
            reconciliation,
            alerts=alerts_so_far(context, AlertLog(values.storage), session),
            history=equity_history(
                ModelIOManager(base=values.storage),
                session,
                values.report_history_sessions,
                context.asset_key.path[:-1],
            ),
        )
        # Next to the stored assets: under the account's key prefix when there is one.
        folder = "/".join([values.storage.rstrip("/"), *context.asset_key.path[:-1]])
        published = publish_daily_report(report, folder, sender)
        context.log.info(f"daily report: {report.headline}; email {published.report.delivery.detail}")
        inline = {name: data_uri(png) for name, png in published.charts.items()}
        return dg.Output(
            published.report,
            metadata={
                "headline": report.headline,
                "summary": dg.MetadataValue.md(report_summary_markdown(published.report)),
                "report": dg.MetadataValue.md(report_markdown(published.report, inline)),
                "html": dg.MetadataValue.path(str(published.html_path)),
                **{
                    f"{name}_plot": dg.MetadataValue.path(str(p)) for name, p in published.chart_paths.items()
                },
                "delivery": published.report.delivery.detail,
                "alerts": len(report.alerts),
            },
        )

    return daily_report


@dg.asset_check(
    partitions_def=nyse_sessions,
    asset="daily_report",
    description="The report email went out (or no email is configured).",
)
def report_delivered(daily_report: DailyReport) -> dg.AssetCheckResult:
    delivery = daily_report.delivery
    return dg.AssetCheckResult(
        passed=delivery.status != "failed",
        severity=dg.AssetCheckSeverity.ERROR,
        description=delivery.detail,
        metadata={"status": delivery.status},
    )

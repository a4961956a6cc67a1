"""daily_report for D: built from the day's stored assets, published as HTML and by email."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

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
    RunLine,
    build_daily_report,
    ledger_notional,
    report_markdown,
    report_summary_markdown,
    run_line,
    trading_run_index,
)
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.pipeline.assets.signals import signal_key, strategy_slug
from alchemiser_dagster.pipeline.io_manager import ModelIOManager, StoredVersion, version_name
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


class DayStory(NamedTuple):
    """The stored values the day's report tells: the trading run's, and the runs after it."""

    run_id: str | None
    values: dict[str, Any]  # asset name -> the trading run's stored value
    later_runs: list[RunLine]
    inputs: list[str]  # stored paths of the plan and snapshot the trading execution used


STORY_ASSETS = (
    "target_allocation",
    "account_snapshot",
    "allocation_comparison",
    "rebalance_plan",
    "execution_result",
    "fill_ledger",
    "reconciliation",
)


def version_of_run(
    storage: ModelIOManager, asset_path: list[str], partition: str, run_id: str | None
) -> StoredVersion | None:
    """The value `run_id` stored for the partition (its last, should it have stored two)."""
    found = [v for v in storage.versions(asset_path, partition) if v.run_id == run_id]
    return found[-1] if found else None


def causation_paths(
    storage: ModelIOManager, identity: dict[str, Any], wanted: Sequence[str], seen: set[str]
) -> list[str]:
    """Stored paths of the upstream values named in `identity`'s causation ids, followed upstream
    (an execution names its plan, the plan names its snapshot) for the assets in `wanted`."""
    paths: list[str] = []
    for cause in identity.get("causation_id", []):
        key, _, correlation = str(cause).rpartition("@")
        run_id, _, partition = correlation.rpartition(":")
        asset_path = key.split("/")
        if asset_path[-1] not in wanted or cause in seen:
            continue
        seen.add(cause)
        version = version_of_run(storage, asset_path, partition, run_id)
        if version is None:
            paths.append(f"{cause}: no longer stored")
            continue
        paths.append(str(version.path))
        upstream = storage.read_version(version)[1]
        paths += causation_paths(storage, upstream, wanted, seen)
    return paths


def day_story(storage: ModelIOManager, prefix: Sequence[str], session: dt.date) -> DayStory | None:
    """Every stored execution of the session, oldest first; the trading run's values, and one line
    per later run. None when nothing of the session is stored yet (the caller's inputs tell it)."""
    day = session.isoformat()
    executions = [
        (version, value)
        for version, value in storage.stored_models([*prefix, "execution_result"], day)
        if isinstance(value, ExecutionResult)
    ]
    if not executions:
        return None
    chosen = trading_run_index([e for _, e in executions])
    trading_version = executions[chosen][0]
    values: dict[str, Any] = {}
    for name in STORY_ASSETS:
        version = version_of_run(storage, [*prefix, name], day, trading_version.run_id)
        if version is not None:
            values[name] = storage.read_version(version)[0]
    identity = storage.read_version(trading_version)[1]
    inputs = causation_paths(storage, identity, ("rebalance_plan", "account_snapshot"), set())
    later = [run_line(e, v.run_id) for v, e in executions[chosen + 1 :]]
    return DayStory(trading_version.run_id, values, later, inputs)


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
        storage = ModelIOManager(base=values.storage)
        prefix = context.asset_key.path[:-1]
        # The day's story is its trading run's, whichever run this is; this run's own
        # inputs stand in only for what the trading run did not store.
        story = day_story(storage, prefix, session)
        told = {
            "target_allocation": target_allocation,
            "account_snapshot": account_snapshot,
            "allocation_comparison": allocation_comparison,
            "rebalance_plan": rebalance_plan,
            "execution_result": execution_result,
            "fill_ledger": fill_ledger,
            "reconciliation": reconciliation,
            **(story.values if story else {}),
        }
        target: TargetAllocation = told["target_allocation"]
        if any(strategy_slug(s.strategy) not in signals for s in target.sleeves):
            target = target_allocation  # the configuration changed since: tell today's strategies
        report = build_daily_report(
            {s.strategy: signals[strategy_slug(s.strategy)] for s in target.sleeves},
            target,
            told["account_snapshot"],
            told["allocation_comparison"],
            told["rebalance_plan"],
            told["execution_result"],
            told["fill_ledger"],
            told["reconciliation"],
            alerts=alerts_so_far(context, AlertLog(values.storage), session),
            history=equity_history(storage, session, values.report_history_sessions, prefix),
            trading_run=story.run_id if story else context.run.run_id,
            later_runs=story.later_runs if story else (),
            inputs=story.inputs if story else (),
        )
        # Next to the stored assets: under the account's key prefix when there is one.
        folder = "/".join([values.storage.rstrip("/"), *prefix])
        run_file = version_name(dt.datetime.now(dt.UTC), context.run.run_id, ".html")
        published = publish_daily_report(report, folder, sender, run_file)
        context.log.info(f"daily report: {report.headline}; email {published.report.delivery.detail}")
        inline = {name: data_uri(png) for name, png in published.charts.items()}
        return dg.Output(
            published.report,
            metadata={
                "headline": report.headline,
                "summary": dg.MetadataValue.md(report_summary_markdown(published.report)),
                "report": dg.MetadataValue.md(report_markdown(published.report, inline)),
                "html": dg.MetadataValue.path(str(published.html_path)),
                "run_html": dg.MetadataValue.path(str(published.run_html_path)),
                "trading_run": report.trading_run or "",
                "later_runs": len(report.later_runs),
                **{f"input_{i}": dg.MetadataValue.path(p) for i, p in enumerate(report.inputs)},
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

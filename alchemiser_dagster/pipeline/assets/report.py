"""daily_report for D: built from the day's stored assets, published as HTML and by email."""

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import dagster as dg
import pandas as pd

from alchemiser_dagster.control.alert_log import AlertLog
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
    run_line,
    trading_run_index,
)
from alchemiser_dagster.domain.report_markdown import report_markdown, report_summary_markdown
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation
from alchemiser_dagster.pipeline.assets.signals import signal_key, strategy_slug
from alchemiser_dagster.pipeline.history import HistoryResource, StoredHistory
from alchemiser_dagster.pipeline.io_manager import version_name
from alchemiser_dagster.pipeline.metadata import session_of
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import NotifierResource, SettingsResource
from alchemiser_dagster.pipeline.stores import AlertLogResource
from alchemiser_dagster.reporting.html import data_uri
from alchemiser_dagster.reporting.publish import Published, publish_daily_report


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


def causation_paths(
    history: StoredHistory, identity: dict[str, Any], wanted: Sequence[str], seen: set[str]
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
        version = history.version_of_run(asset_path, partition, run_id)
        if version is None:
            paths.append(f"{cause}: no longer stored")
            continue
        paths.append(str(version.path))
        upstream = history.storage.read_version(version)[1]
        paths += causation_paths(history, upstream, wanted, seen)
    return paths


def day_story(history: StoredHistory, session: dt.date) -> DayStory | None:
    """Every stored execution of the session, oldest first; the trading run's values, and one line
    per later run. None when nothing of the session is stored yet (the caller's inputs tell it)."""
    day = session.isoformat()
    executions = [
        (version, value)
        for version, value in history.models("execution_result", session)
        if isinstance(value, ExecutionResult)
    ]
    if not executions:
        return None
    chosen = trading_run_index([e for _, e in executions])
    trading_version = executions[chosen][0]
    values: dict[str, Any] = {}
    for name in STORY_ASSETS:
        version = history.version_of_run(history.path(name), day, trading_version.run_id)
        if version is not None:
            values[name] = history.storage.read_version(version)[0]
    identity = history.storage.read_version(trading_version)[1]
    inputs = causation_paths(history, identity, ("rebalance_plan", "account_snapshot"), set())
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


def report_of_day(
    story: DayStory | None,
    inputs: dict[str, Any],
    signals: Mapping[str, StrategyEvaluation],
    *,
    alerts: list[AlertLine],
    history: list[EquityPoint],
    run_id: str,
) -> DailyReport:
    """The day's report from its trading run's stored values; this run's own `inputs` stand in
    only for what the trading run did not store. The sleeves told are the trading run's target's,
    unless the configuration changed since (then today's strategies are told)."""
    told = {**inputs, **(story.values if story else {})}
    target: TargetAllocation = told["target_allocation"]
    if any(strategy_slug(s.strategy) not in signals for s in target.sleeves):
        target = inputs["target_allocation"]
    return build_daily_report(
        {s.strategy: signals[strategy_slug(s.strategy)] for s in target.sleeves},
        target,
        told["account_snapshot"],
        told["allocation_comparison"],
        told["rebalance_plan"],
        told["execution_result"],
        told["fill_ledger"],
        told["reconciliation"],
        alerts=alerts,
        history=history,
        trading_run=story.run_id if story else run_id,
        later_runs=story.later_runs if story else (),
        inputs=story.inputs if story else (),
    )


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
        history: HistoryResource,
        alert_log: AlertLogResource,
        **signals: Any,
    ) -> dg.Output[DailyReport]:
        """What the strategies chose and why, what traded and what it cost, where the account ended."""
        session, stored = session_of(context), history.reader()
        # The day's story is its trading run's, whichever run this is (see `report_of_day`).
        report = report_of_day(
            day_story(stored, session),
            {
                "target_allocation": target_allocation,
                "account_snapshot": account_snapshot,
                "allocation_comparison": allocation_comparison,
                "rebalance_plan": rebalance_plan,
                "execution_result": execution_result,
                "fill_ledger": fill_ledger,
                "reconciliation": reconciliation,
            },
            signals,
            alerts=alerts_so_far(context, alert_log.log(), session),
            history=stored.equity_history(session, settings.report_history_sessions),
            run_id=context.run.run_id,
        )
        # Next to the stored assets: under the account's key prefix when there is one.
        run_file = version_name(dt.datetime.now(dt.UTC), context.run.run_id, ".html")
        published = publish_daily_report(report, stored.folder(), notifier.notifier(), run_file)
        context.log.info(f"daily report: {report.headline}; email {published.report.delivery.detail}")
        return dg.Output(published.report, metadata=report_metadata(report, published))

    return daily_report


def report_metadata(report: DailyReport, published: Published) -> dict[str, Any]:
    inline = {name: data_uri(png) for name, png in published.charts.items()}
    return {
        "headline": report.headline,
        "summary": dg.MetadataValue.md(report_summary_markdown(published.report)),
        "report": dg.MetadataValue.md(report_markdown(published.report, inline)),
        "html": dg.MetadataValue.path(str(published.html_path)),
        "run_html": dg.MetadataValue.path(str(published.run_html_path)),
        "trading_run": report.trading_run or "",
        "later_runs": len(report.later_runs),
        **{f"input_{i}": dg.MetadataValue.path(p) for i, p in enumerate(report.inputs)},
        **{f"{name}_plot": dg.MetadataValue.path(str(p)) for name, p in published.chart_paths.items()},
        "delivery": published.report.delivery.detail,
        "alerts": len(report.alerts),
    }

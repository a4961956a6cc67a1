"""execution_result, reconciliation and daily_report for D."""

import time
from typing import Any

import dagster as dg

from alchemiser_dagster.control.execution_journal import ExecutionJournal
from alchemiser_dagster.control.killswitch_store import KillSwitchStore
from alchemiser_dagster.domain.execution.engine import execute_plan
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.portfolio.models import AllocationComparison, RebalancePlan, TargetAllocation
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation, reconcile
from alchemiser_dagster.domain.report import DailyReport, build_daily_report
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.pipeline.assets.signals import signal_key, strategy_slug
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import BrokerResource, SettingsResource


@dg.asset(partitions_def=nyse_sessions, group_name="execution", pool="broker")
def execution_result(
    rebalance_plan: RebalancePlan, broker: BrokerResource, settings: SettingsResource
) -> dg.Output[ExecutionResult]:
    """Orders placed or adopted and what filled; a past or closed-market D places nothing."""
    started = time.perf_counter()
    kill_switch = KillSwitchStore(settings.settings().storage)
    result = execute_plan(
        broker.client(),
        rebalance_plan,
        settings=settings.settings().execution,
        sleep=broker.sleep,
        kill_switch=kill_switch.current,
        journal=ExecutionJournal(settings.settings().storage),
    )
    return dg.Output(
        result,
        metadata={
            "status": result.status,
            "reason": result.reason,
            "kill_switch": kill_switch.current(),
            "orders_placed": result.orders_placed,
            "orders_adopted": result.orders_adopted,
            "filled": sum(1 for o in result.outcomes if o.filled_qty > 0),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )


@dg.asset(partitions_def=nyse_sessions, group_name="execution", pool="broker")
def reconciliation(
    target_allocation: TargetAllocation, execution_result: ExecutionResult, broker: BrokerResource
) -> dg.Output[Reconciliation]:
    """Positions re-read after the trade and compared with the target."""
    client = broker.client()
    result = reconcile(target_allocation, execution_result, client.get_account(), client.get_positions())
    return dg.Output(
        result,
        metadata={
            "applicable": result.applicable,
            "note": result.note,
            "warnings": len(result.warnings),
            "errors": len(result.errors),
            "equity": float(result.equity),
        },
    )


def build_daily_report_asset(config: AllocationConfig) -> dg.AssetsDefinition:
    ins = {strategy_slug(name): dg.AssetIn(signal_key(name)) for name in config.files}

    @dg.asset(partitions_def=nyse_sessions, group_name="report", ins=ins)
    def daily_report(
        target_allocation: TargetAllocation,
        allocation_comparison: AllocationComparison,
        rebalance_plan: RebalancePlan,
        execution_result: ExecutionResult,
        reconciliation: Reconciliation,
        **signals: Any,
    ) -> dg.Output[DailyReport]:
        """What the strategies chose and why, what traded, and where the account ended."""
        evaluations = {
            sleeve.strategy: signals[strategy_slug(sleeve.strategy)] for sleeve in target_allocation.sleeves
        }
        report = build_daily_report(
            evaluations,
            target_allocation,
            allocation_comparison,
            rebalance_plan,
            execution_result,
            reconciliation,
        )
        return dg.Output(
            report, metadata={"headline": report.headline, "report": dg.MetadataValue.md(report.markdown)}
        )

    return daily_report

"""execution_result, fill_ledger and reconciliation for D."""

import logging
import time
from collections.abc import Callable

import dagster as dg
import pandas as pd

from alchemiser_dagster.control.lease import Busy
from alchemiser_dagster.domain.execution.engine import execute_plan
from alchemiser_dagster.domain.execution.ledger import build_ledger
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.execution.outcome import run_tags
from alchemiser_dagster.domain.portfolio.models import RebalancePlan, TargetAllocation
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation, reconcile
from alchemiser_dagster.pipeline.metadata import execution_metadata, ledger_metadata, reconciliation_metadata
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import BrokerResource, ExecutionLockResource, SettingsResource
from alchemiser_dagster.pipeline.retries import retry_when_retryable
from alchemiser_dagster.pipeline.stores import ExecutionJournalResource, KillSwitchResource

# Captured into the run's log (a managed logger) and printed live by `alchemiser run`.
lock_log = logging.getLogger("alchemiser.lock")


def lock_waiting(run_id: str, plan: RebalancePlan, wait_seconds: float) -> Callable[[Busy], None]:
    """What a run waiting for another's execution lock says, in its log."""

    def waiting(busy: Busy) -> None:
        holder = busy.holder.describe() if busy.holder else "another run"
        lock_log.warning(
            "run %s waits up to %.0f s for the execution lock of %s, held by %s",
            run_id,
            wait_seconds,
            plan.session,
            holder,
        )

    return waiting


def build_execution_result_asset(pool: str) -> dg.AssetsDefinition:
    """execution_result, in the broker pool of its account."""

    @dg.asset(partitions_def=nyse_sessions, group_name="execution", pool=pool)
    @retry_when_retryable()
    def execution_result(
        context: dg.AssetExecutionContext,
        rebalance_plan: RebalancePlan,
        broker: BrokerResource,
        settings: SettingsResource,
        execution_lock: ExecutionLockResource,
        execution_journal: ExecutionJournalResource,
        kill_switch: KillSwitchResource,
    ) -> dg.Output[ExecutionResult]:
        """Orders placed or adopted and what filled; a past or closed-market D places nothing.

        One execution per (account, session) at a time: the lock is held from before the
        journal's first write until this run's result is stored.
        """
        started, run_id, switch = time.perf_counter(), context.run.run_id, kill_switch.store()
        waiting = lock_waiting(run_id, rebalance_plan, execution_lock.wait_seconds)
        lock = execution_lock.hold(rebalance_plan.session, rebalance_plan.account_number, run_id, waiting)
        result = execute_plan(
            broker.client(),
            rebalance_plan,
            settings=settings.execution,
            sleep=broker.sleep,
            kill_switch=switch.current,
            journal=execution_journal.journal(),
        )
        lock.confirm_held()
        # On the run, so the Runs list and `alchemiser status` tell a trading day from a plan-only one.
        context.instance.add_run_tags(run_id, run_tags(result, rebalance_plan))
        return dg.Output(
            result, metadata=execution_metadata(result, switch.current(), started, lock.location)
        )

    return execution_result


@dg.asset(partitions_def=nyse_sessions, group_name="execution", kinds={"pandas"})
def fill_ledger(
    execution_result: ExecutionResult, target_allocation: TargetAllocation
) -> dg.Output[pd.DataFrame]:
    """One row per order of ours that filled: the broker's actual quantities and prices."""
    ledger = build_ledger(execution_result, target_allocation)
    return dg.Output(ledger, metadata=ledger_metadata(ledger))


def build_reconciliation_asset(pool: str) -> dg.AssetsDefinition:
    """reconciliation (re-reads the account), in the broker pool of its account."""

    @dg.asset(partitions_def=nyse_sessions, group_name="execution", pool=pool)
    @retry_when_retryable()
    def reconciliation(
        target_allocation: TargetAllocation, execution_result: ExecutionResult, broker: BrokerResource
    ) -> dg.Output[Reconciliation]:
        """Positions re-read after the trade and compared with the target."""
        client = broker.client()
        result = reconcile(target_allocation, execution_result, client.get_account(), client.get_positions())
        return dg.Output(result, metadata=reconciliation_metadata(result))

    return reconciliation

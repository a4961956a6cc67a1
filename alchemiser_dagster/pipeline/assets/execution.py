"""execution_result, fill_ledger and reconciliation for D."""

import logging
import time
from collections.abc import Sequence
from decimal import Decimal

import dagster as dg
import pandas as pd

from alchemiser_dagster.control.execution_journal import ExecutionJournal
from alchemiser_dagster.control.killswitch_store import KillSwitchStore
from alchemiser_dagster.control.lease import Busy
from alchemiser_dagster.domain.execution.engine import execute_plan, our_orders
from alchemiser_dagster.domain.execution.ledger import build_ledger, ledger_mismatches
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.execution.outcome import run_tags
from alchemiser_dagster.domain.portfolio.models import RebalancePlan, TargetAllocation
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation, reconcile
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import BrokerResource, ExecutionLockResource, SettingsResource
from alchemiser_dagster.pipeline.retries import retry_when_retryable

# Captured into the run's log (a managed logger) and printed live by `alchemiser run`.
lock_log = logging.getLogger("alchemiser.lock")


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
    ) -> dg.Output[ExecutionResult]:
        """Orders placed or adopted and what filled; a past or closed-market D places nothing.

        One execution per (account, session) at a time: the lock is held from before the
        journal's first write until this run's result is stored.
        """
        started = time.perf_counter()

        def waiting(busy: Busy) -> None:
            holder = busy.holder.describe() if busy.holder else "another run"
            lock_log.warning(
                "run %s waits up to %.0f s for the execution lock of %s, held by %s",
                context.run.run_id,
                execution_lock.wait_seconds,
                rebalance_plan.session,
                holder,
            )

        lock = execution_lock.hold(
            rebalance_plan.session, rebalance_plan.account_number, context.run.run_id, waiting
        )
        kill_switch = KillSwitchStore(settings.settings().storage)
        result = execute_plan(
            broker.client(),
            rebalance_plan,
            settings=settings.settings().execution,
            sleep=broker.sleep,
            kill_switch=kill_switch.current,
            journal=ExecutionJournal(settings.settings().storage, settings.settings().account),
        )
        lock.confirm_held()
        # On the run, so the Runs list and `alchemiser status` tell a trading day from a plan-only one.
        context.instance.add_run_tags(
            context.run.run_id,
            run_tags(result, rebalance_plan),
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
                "lock": lock.location,
            },
        )

    return execution_result


@dg.asset(partitions_def=nyse_sessions, group_name="execution", kinds={"pandas"})
def fill_ledger(
    execution_result: ExecutionResult, target_allocation: TargetAllocation
) -> dg.Output[pd.DataFrame]:
    """One row per order of ours that filled: the broker's actual quantities and prices."""
    ledger = build_ledger(execution_result, target_allocation)
    return dg.Output(
        ledger,
        metadata={
            "fills": len(ledger),
            "notional": float(sum((Decimal(v) for v in ledger["notional"]), Decimal(0))),
            "ledger": dg.MetadataValue.md(
                ledger.drop(columns=["plan_id", "order_id"]).to_markdown(index=False)
            )
            if len(ledger)
            else "(no fills)",
        },
    )


def build_ledger_check(prefix: Sequence[str] = ()) -> dg.AssetChecksDefinition:
    """ledger_matches_broker on the account's fill_ledger (inputs keyed under `prefix`)."""

    @dg.asset_check(
        partitions_def=nyse_sessions,
        asset=dg.AssetKey([*prefix, "fill_ledger"]),
        description=(
            "The ledger equals the broker's own fills of every order of ours for the session"
            " (by client-id prefix, whichever run placed it), to the cent."
        ),
        additional_ins={"execution_result": dg.AssetIn(dg.AssetKey([*prefix, "execution_result"]))},
    )
    def ledger_matches_broker(
        fill_ledger: pd.DataFrame, execution_result: ExecutionResult, broker: BrokerResource
    ) -> dg.AssetCheckResult:
        ours = our_orders(broker.client(), execution_result.session)
        problems = ledger_mismatches(fill_ledger, ours.values())
        return dg.AssetCheckResult(
            passed=not problems,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(problems[:10]) if problems else "ok",
            metadata={"orders_checked": len(ours), "problems": len(problems)},
        )

    return ledger_matches_broker


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

    return reconciliation

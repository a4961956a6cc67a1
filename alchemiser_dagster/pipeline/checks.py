"""Every asset check of the graph: each wraps a domain rule; blocking ones stop the steps downstream.

Blocking (ERROR) gates: market data fresh, target weights summing to 1, a sane account
snapshot, and one pre-trade risk check per rule of `domain.risk.rules` (a plan that breaks
any limit stops the run before `execution_result`: no order leaves). Execution,
reconciliation, ledger and report checks report after the fact (they cannot stop what
already happened, but they fail the run's checks and alert).

Checks with inputs beyond their asset are built on the account's keys directly (Dagster's
key replacement drops a check's additional inputs); the others are prefixed with the assets.
"""

import datetime as dt
from typing import Any

import dagster as dg
import pandas as pd

from alchemiser_dagster.domain.execution.engine import our_orders
from alchemiser_dagster.domain.execution.ledger import ledger_mismatches
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.marketdata.session_bars import stale_symbols
from alchemiser_dagster.domain.portfolio.models import AccountSnapshot, RebalancePlan, TargetAllocation
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation
from alchemiser_dagster.domain.portfolio.snapshot import snapshot_problems
from alchemiser_dagster.domain.report import DailyReport
from alchemiser_dagster.domain.risk.rules import RULES, RiskContext, target_weight_problems
from alchemiser_dagster.domain.strategy.allocation import required_market_data
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation
from alchemiser_dagster.pipeline.assets.signals import signal_key
from alchemiser_dagster.pipeline.keys import account_key
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import BrokerResource, SettingsResource
from alchemiser_dagster.pipeline.retries import retry_when_retryable

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN


def _result(problems: list[str], severity: dg.AssetCheckSeverity, **metadata: Any) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        severity=severity,
        description="; ".join(problems[:10]) if problems else "ok",
        metadata={"problems": len(problems), **metadata},
    )


@dg.asset_check(
    partitions_def=nyse_sessions,
    asset="market_bars",
    blocking=True,
    description="Every symbol has a bar for D and D-1; closes finite and positive.",
)
def prices_fresh(
    context: dg.AssetCheckExecutionContext, market_bars: pd.DataFrame, settings: SettingsResource
) -> dg.AssetCheckResult:
    session = dt.date.fromisoformat(context.partition_key)
    symbols, _ = required_market_data(settings.allocation)
    problems = stale_symbols(market_bars, session, symbols)
    bad_close = market_bars.loc[~(market_bars["close"] > 0), "symbol"].unique().tolist()
    problems += [f"{symbol}: non-positive or missing close" for symbol in bad_close]
    return _result(problems, ERROR, symbols=len(symbols))


@dg.asset_check(
    partitions_def=nyse_sessions,
    asset="target_allocation",
    blocking=True,
    description="Target weights are finite, >= 0 and sum to 1.",
)
def weights_sum_to_one(target_allocation: TargetAllocation) -> dg.AssetCheckResult:
    return _result(target_weight_problems(target_allocation), ERROR)


@dg.asset_check(
    partitions_def=nyse_sessions,
    asset="account_snapshot",
    blocking=True,
    description="Equity > 0, account active and not blocked, no unexpected shorts.",
)
def snapshot_sane(account_snapshot: AccountSnapshot) -> dg.AssetCheckResult:
    return _result(snapshot_problems(account_snapshot), ERROR, equity=float(account_snapshot.account.equity))


@dg.asset_check(
    partitions_def=nyse_sessions,
    asset="execution_result",
    description="Every planned order filled (PLAN_ONLY passes: nothing was meant to trade).",
)
def execution_succeeded(execution_result: ExecutionResult) -> dg.AssetCheckResult:
    problems = (
        []
        if execution_result.status in ("SUCCESS", "PLAN_ONLY")
        else [f"{execution_result.status}: {execution_result.reason}"]
    )
    return _result(problems, ERROR, status=execution_result.status)


@dg.asset_check(
    partitions_def=nyse_sessions, asset="reconciliation", description="Every intended trade happened."
)
def intended_trades_happened(reconciliation: Reconciliation) -> dg.AssetCheckResult:
    return _result(list(reconciliation.errors), ERROR)


@dg.asset_check(
    partitions_def=nyse_sessions,
    asset="reconciliation",
    description="Final weights within the drift tolerance of the target.",
)
def weights_within_tolerance(reconciliation: Reconciliation) -> dg.AssetCheckResult:
    return _result(list(reconciliation.warnings), WARN)


@dg.asset_check(
    partitions_def=nyse_sessions,
    asset="daily_report",
    description="The report email went out (or no email is configured).",
)
def report_delivered(daily_report: DailyReport) -> dg.AssetCheckResult:
    delivery = daily_report.delivery
    return dg.AssetCheckResult(
        passed=delivery.status != "failed",
        severity=ERROR,
        description=delivery.detail,
        metadata={"status": delivery.status},
    )


ALL_CHECKS = [
    prices_fresh,
    weights_sum_to_one,
    snapshot_sane,
    execution_succeeded,
    intended_trades_happened,
    weights_within_tolerance,
]


def build_signal_checks(config: AllocationConfig) -> list[dg.AssetChecksDefinition]:
    """`strategy_evaluated` on every signals/<strategy>: a failure kept by the cash or
    last_target policy still fails this check, so it is seen and alerted on."""

    def build(file_name: str) -> dg.AssetChecksDefinition:
        @dg.asset_check(
            partitions_def=nyse_sessions,
            asset=signal_key(file_name),
            name="strategy_evaluated",
            description=f"{file_name} evaluated without error.",
        )
        def strategy_evaluated(evaluation: StrategyEvaluation) -> dg.AssetCheckResult:
            failure = evaluation.failure
            problems = [] if failure is None else [f"{failure.location}: {failure.error}: {failure.message}"]
            return _result(problems, ERROR)

        return strategy_evaluated

    return [build(name) for name in config.files]


def build_risk_check(rule: str, account: str | None = None) -> dg.AssetChecksDefinition:
    """The pre-trade check of one risk rule, its own row in the UI named after the rule."""
    check_rule = RULES[rule]

    @dg.asset_check(
        partitions_def=nyse_sessions,
        asset=account_key(account, "rebalance_plan"),
        name=rule,
        blocking=True,
        description=(check_rule.__doc__ or rule).strip().splitlines()[0],
        additional_ins={
            "account_snapshot": dg.AssetIn(account_key(account, "account_snapshot")),
            "target_allocation": dg.AssetIn(account_key(account, "target_allocation")),
        },
    )
    def risk_check(
        rebalance_plan: RebalancePlan,
        account_snapshot: AccountSnapshot,
        target_allocation: TargetAllocation,
        settings: SettingsResource,
    ) -> dg.AssetCheckResult:
        violations = check_rule(
            RiskContext(
                plan=rebalance_plan, snapshot=account_snapshot, target=target_allocation, limits=settings.risk
            )
        )
        return dg.AssetCheckResult(
            passed=not violations,
            severity=ERROR,
            description="; ".join(violations[:10]) if violations else "ok",
            metadata={"violations": len(violations)},
        )

    return risk_check


def build_risk_checks(account: str | None = None) -> list[dg.AssetChecksDefinition]:
    return [build_risk_check(rule, account) for rule in RULES]


def build_ledger_check(account: str | None = None) -> dg.AssetChecksDefinition:
    """ledger_matches_broker on the account's fill_ledger."""

    @dg.asset_check(
        partitions_def=nyse_sessions,
        asset=account_key(account, "fill_ledger"),
        description=(
            "The ledger equals the broker's own fills of every order of ours for the session"
            " (by client-id prefix, whichever run placed it), to the cent."
        ),
        additional_ins={"execution_result": dg.AssetIn(account_key(account, "execution_result"))},
    )
    @retry_when_retryable()
    def ledger_matches_broker(
        fill_ledger: pd.DataFrame, execution_result: ExecutionResult, broker: BrokerResource
    ) -> dg.AssetCheckResult:
        ours = our_orders(broker.client(), execution_result.session)
        problems = ledger_mismatches(fill_ledger, ours.values())
        return dg.AssetCheckResult(
            passed=not problems,
            severity=ERROR,
            description="; ".join(problems[:10]) if problems else "ok",
            metadata={"orders_checked": len(ours), "problems": len(problems)},
        )

    return ledger_matches_broker

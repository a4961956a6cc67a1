"""Asset checks: each wraps a domain rule; blocking ones stop the steps downstream.

Blocking (ERROR) gates: market data fresh, target weights summing to 1, a sane account
snapshot. Execution and reconciliation checks report after the fact (they cannot stop
what already happened, but they fail the run's checks and alert).
"""

import datetime as dt
import math
from typing import Any

import dagster as dg
import pandas as pd

from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.marketdata.session_bars import stale_symbols
from alchemiser_dagster.domain.portfolio.models import AccountSnapshot, TargetAllocation
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation
from alchemiser_dagster.domain.portfolio.snapshot import snapshot_problems
from alchemiser_dagster.domain.strategy.allocation import required_market_data
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation
from alchemiser_dagster.pipeline.assets.signals import signal_key
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import SettingsResource

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN
WEIGHT_SUM_TOLERANCE = 1e-6


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
    symbols, _ = required_market_data(settings.config())
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
    weights = [float(w) for w in target_allocation.weights.values()]
    total = math.fsum(weights) + float(target_allocation.cash_weight)
    problems = []
    if any(not math.isfinite(w) or w < 0 for w in weights):
        problems.append("a weight is negative or not finite")
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        problems.append(f"weights sum to {total!r}")
    return _result(problems, ERROR, total=total)


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

"""sleeves, target_allocation, account_snapshot, allocation_comparison and rebalance_plan for D."""

from typing import Any

import dagster as dg
import pandas as pd

from alchemiser_dagster.domain.calendar import previous_session
from alchemiser_dagster.domain.portfolio.allocation import compare_allocation
from alchemiser_dagster.domain.portfolio.failed_strategy import target_under_policy
from alchemiser_dagster.domain.portfolio.models import (
    AccountSnapshot,
    AllocationComparison,
    RebalancePlan,
    TargetAllocation,
)
from alchemiser_dagster.domain.portfolio.planner import plan_rebalance
from alchemiser_dagster.domain.portfolio.sleeves import SleeveBooks, sleeves_for_session
from alchemiser_dagster.domain.portfolio.snapshot import planner_input, take_snapshot
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.pipeline.assets.signals import evaluations_of, signal_key, strategy_slug
from alchemiser_dagster.pipeline.history import SLEEVES, HistoryResource
from alchemiser_dagster.pipeline.metadata import (
    comparison_metadata,
    plan_metadata,
    session_of,
    sleeves_metadata,
    snapshot_metadata,
    target_metadata,
)
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import BrokerResource, SettingsResource
from alchemiser_dagster.pipeline.retries import retry_when_retryable


def build_sleeves_asset(config: AllocationConfig) -> dg.AssetsDefinition:
    """sleeves[D]: each symphony's book, from sleeves[D-1], D's prices and D's targets.

    D-1 is read from storage (see `StoredHistory.previous_sleeves`), so a missing D-1 is an
    answer, not a failed input load. It is not declared as a self-dependency
    (`AssetDep(SLEEVES, partition_mapping=TimeWindowPartitionMapping(-1, -1))`): with one,
    Dagster's asset backfill split every session of the five-account backfill into 3-4
    runs instead of one (tests/prod/test_accounts_backfill.py). A session that runs before
    its D-1 is stored follows the gap rule; rerunning it after D-1 restores the chain.
    """
    ins = {strategy_slug(name): dg.AssetIn(signal_key(name)) for name in config.files}
    ins["market_bars"] = dg.AssetIn(dg.AssetKey("market_bars"))

    @dg.asset(name=SLEEVES, partitions_def=nyse_sessions, group_name="portfolio", ins=ins)
    def sleeves(
        context: dg.AssetExecutionContext,
        settings: SettingsResource,
        history: HistoryResource,
        market_bars: pd.DataFrame,
        **signals: Any,
    ) -> dg.Output[SleeveBooks]:
        """Whether each sleeve trades today (its trading setting) and the weights it holds."""
        session, stored = session_of(context), history.reader()
        yesterday = previous_session(session)
        books = sleeves_for_session(
            session,
            settings.allocation,
            evaluations_of(settings.allocation, signals),
            market_bars,
            stored.previous_sleeves(session),
            (stored.frame("fill_ledger", yesterday), yesterday),
        )
        return dg.Output(books, metadata=sleeves_metadata(books))

    return sleeves


def build_target_allocation_asset(config: AllocationConfig) -> dg.AssetsDefinition:
    ins = {strategy_slug(name): dg.AssetIn(signal_key(name)) for name in config.files}
    ins[SLEEVES] = dg.AssetIn(dg.AssetKey(SLEEVES))

    @dg.asset(partitions_def=nyse_sessions, group_name="portfolio", ins=ins)
    def target_allocation(
        context: dg.AssetExecutionContext,
        settings: SettingsResource,
        history: HistoryResource,
        sleeves: SleeveBooks,
        **signals: Any,
    ) -> dg.Output[TargetAllocation]:
        """Sleeves (their trading settings applied) netted by their shares; failed ones follow the policy."""
        session, policy = session_of(context), settings.failed_strategy_policy
        target = target_under_policy(
            session,
            settings.allocation.allocations,
            evaluations_of(settings.allocation, signals),
            sleeves,
            policy,
            lambda failed: history.reader().last_targets({n: signal_key(n).path for n in failed}, session),
        )
        return dg.Output(target, metadata=target_metadata(target, policy))

    return target_allocation


def build_account_snapshot_asset(pool: str) -> dg.AssetsDefinition:
    """account_snapshot, in the broker pool of its account (one broker user at a time)."""

    @dg.asset(partitions_def=nyse_sessions, group_name="account", pool=pool)
    @retry_when_retryable()
    def account_snapshot(
        context: dg.AssetExecutionContext, target_allocation: TargetAllocation, broker: BrokerResource
    ) -> dg.Output[AccountSnapshot]:
        """Cash, equity, positions, open orders, asset facts and quotes; any failed read fails it."""
        snapshot = take_snapshot(broker.client(), target_allocation.weights, session_of(context))
        return dg.Output(snapshot, metadata=snapshot_metadata(snapshot))

    return account_snapshot


@dg.asset(partitions_def=nyse_sessions, group_name="portfolio")
def allocation_comparison(
    target_allocation: TargetAllocation, account_snapshot: AccountSnapshot, settings: SettingsResource
) -> dg.Output[AllocationComparison]:
    """Target vs current for targets U held, as weights of equity and as dollars."""
    comparison = compare_allocation(target_allocation, account_snapshot, settings.planning)
    return dg.Output(comparison, metadata=comparison_metadata(comparison))


@dg.asset(partitions_def=nyse_sessions, group_name="portfolio")
def rebalance_plan(
    context: dg.AssetExecutionContext,
    allocation_comparison: AllocationComparison,
    target_allocation: TargetAllocation,
    account_snapshot: AccountSnapshot,
    settings: SettingsResource,
) -> dg.Output[RebalancePlan]:
    """Orders to reach the target: SELLs first, BUYs sized on cash after sells, each with a reason."""
    plan = plan_rebalance(
        planner_input(account_snapshot),
        target_allocation.weights,
        settings.planning,
        session=session_of(context),
        account_number=account_snapshot.account.account_number,
        cash_weight=target_allocation.cash_weight,
    )
    return dg.Output(plan, metadata=plan_metadata(plan, target_allocation))

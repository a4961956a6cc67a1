"""sleeves, target_allocation, account_snapshot, allocation_comparison and rebalance_plan for D."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import dagster as dg
import pandas as pd

from alchemiser_dagster.domain.calendar import previous_session
from alchemiser_dagster.domain.portfolio.allocation import build_target_allocation, compare_allocation
from alchemiser_dagster.domain.portfolio.models import (
    AccountSnapshot,
    AllocationComparison,
    RebalancePlan,
    TargetAllocation,
)
from alchemiser_dagster.domain.portfolio.planner import plan_rebalance
from alchemiser_dagster.domain.portfolio.sleeves import (
    SleeveBooks,
    advance_sleeves,
    ledger_attribution,
    session_prices,
    symphony_settings,
)
from alchemiser_dagster.domain.portfolio.snapshot import planner_input, take_snapshot
from alchemiser_dagster.domain.report import weights_markdown
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation
from alchemiser_dagster.pipeline.assets.signals import signal_key, strategy_slug
from alchemiser_dagster.pipeline.io_manager import ModelIOManager
from alchemiser_dagster.pipeline.metadata import session_of, weights_table
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import BrokerResource, SettingsResource
from alchemiser_dagster.pipeline.retries import retry_when_retryable

LAST_TARGET_LOOKBACK = 10  # sessions searched back for a strategy's last good weights
SLEEVES_LOOKBACK = 10  # sessions searched back for the last stored sleeve book
SLEEVES = "sleeves"


def build_sleeves_asset(config: AllocationConfig) -> dg.AssetsDefinition:
    """sleeves[D]: each symphony's book, from sleeves[D-1], D's prices and D's targets.

    D-1 is read from storage (like `last_targets`), so a missing D-1 is an answer (see
    `previous_sleeves`), not a failed input load. It is not declared as a self-dependency
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
        market_bars: pd.DataFrame,
        **signals: Any,
    ) -> dg.Output[SleeveBooks]:
        """Whether each sleeve trades today (its trading setting) and the weights it holds."""
        config = settings.config()
        session = session_of(context)
        storage = ModelIOManager(base=settings.settings().storage)
        prefix = context.asset_key.path[:-1]
        previous, origin = previous_sleeves(storage, session, prefix)
        yesterday = previous_session(session)
        ledger = storage.stored_frame([*prefix, "fill_ledger"], yesterday.isoformat())
        setting_of, fingerprints = symphony_settings(config)
        evaluations: dict[str, StrategyEvaluation] = {n: signals[strategy_slug(n)] for n in config.files}
        books = advance_sleeves(
            session,
            previous,
            setting_of,
            {name: None if e.failure is not None else e.weights for name, e in evaluations.items()},
            session_prices(market_bars, session),
            fingerprints,
            origin,
            ledger_attribution(ledger, yesterday),
        )
        table = ["| sleeve | setting | trades | today |", "|---|---|---|---|"] + [
            f"| {b.strategy} | {b.setting.label()} | {'yes' if b.traded else 'no'} | {b.reason} |"
            for b in books.sleeves
        ]
        return dg.Output(
            books,
            metadata={
                "sleeves": dg.MetadataValue.md("\n".join(table)),
                "trading": sum(b.traded for b in books.sleeves),
                "origin": books.origin,
                "previous_fills": books.ledger_note,
            },
        )

    return sleeves


def previous_sleeves(
    storage: ModelIOManager, session: dt.date, prefix: Sequence[str] = (), lookback: int = SLEEVES_LOOKBACK
) -> tuple[SleeveBooks | None, str]:
    """The latest stored sleeve book before `session`, and how it was found, in words.

    Normally D-1's. When D-1 is missing (a backfill gap, a failed run) the latest within
    `lookback` sessions is carried on; its sleeves trade today if a rebalance session of
    theirs fell in the gap. With none (the first session, or a longer gap) every sleeve
    starts at its target, as on its first session: the netted account cannot be split
    back into sleeves without guessing.
    """
    yesterday = previous_session(session)
    day = session
    for _ in range(lookback):
        day = previous_session(day)
        stored = storage.stored_model([*prefix, SLEEVES], day.isoformat())
        if isinstance(stored, SleeveBooks):
            if day == yesterday:
                return stored, f"carried from {day}"
            return stored, (
                f"no stored book for {yesterday}: carried from {day}"
                " (a sleeve whose rebalance session fell in between trades today)"
            )
    return None, (
        f"no stored book in the {lookback} sessions before {session}:"
        " every sleeve starts at its target (first session)"
    )


def build_target_allocation_asset(config: AllocationConfig) -> dg.AssetsDefinition:
    ins = {strategy_slug(name): dg.AssetIn(signal_key(name)) for name in config.files}
    ins[SLEEVES] = dg.AssetIn(dg.AssetKey(SLEEVES))

    @dg.asset(partitions_def=nyse_sessions, group_name="portfolio", ins=ins)
    def target_allocation(
        context: dg.AssetExecutionContext, settings: SettingsResource, sleeves: SleeveBooks, **signals: Any
    ) -> dg.Output[TargetAllocation]:
        """Sleeves (their trading settings applied) netted by their shares; failed ones follow the policy."""
        config = settings.config()
        session = session_of(context)
        evaluations: dict[str, StrategyEvaluation] = {
            name: signals[strategy_slug(name)] for name in config.files
        }
        failed = [name for name, e in evaluations.items() if e.failure is not None]
        policy = settings.settings().failed_strategy_policy
        target = build_target_allocation(
            session,
            config.allocations,
            {
                name: None if e.failure is not None else sleeves.book(name).weights
                for name, e in evaluations.items()
            },
            trading={b.strategy: (b.setting.label(), b.reason) for b in sleeves.sleeves},
            policy=policy,
            last_targets=last_targets(
                ModelIOManager(base=settings.settings().storage), failed, session, context.asset_key.path[:-1]
            )
            if policy == "last_target"
            else None,
        )
        attribution = {
            symbol: ", ".join(f"{s} {float(w) * 100:.2f} %" for s, w in target.attribution(symbol).items())
            for symbol in target.weights
        }
        applied = {
            s.strategy: s.policy + (f" (weights of {s.weights_from})" if s.weights_from else "")
            for s in target.sleeves
            if s.policy is not None
        }
        return dg.Output(
            target,
            metadata={
                "weights": weights_table(target.weights),
                "symbols": len(target.weights),
                "cash_weight": float(target.cash_weight),
                "failed_strategy_policy": policy,
                "policy_applied": dg.MetadataValue.json(applied),
                "trading": dg.MetadataValue.json(
                    {s.strategy: f"{s.setting}: {s.trading}" for s in target.sleeves}
                ),
                "attribution": dg.MetadataValue.json(attribution),
            },
        )

    return target_allocation


def last_targets(
    storage: ModelIOManager,
    strategies: list[str],
    session: dt.date,
    prefix: Sequence[str] = (),
    lookback: int = LAST_TARGET_LOOKBACK,
) -> dict[str, tuple[dt.date, dict[str, float]]]:
    """Each strategy's latest successful stored weights from a session before `session`."""
    found: dict[str, tuple[dt.date, dict[str, float]]] = {}
    for name in strategies:
        day = session
        for _ in range(lookback):
            day = previous_session(day)
            stored = storage.stored_model([*prefix, *signal_key(name).path], day.isoformat())
            if isinstance(stored, StrategyEvaluation) and stored.failure is None and stored.weights:
                found[name] = (day, stored.weights)
                break
    return found


def build_account_snapshot_asset(pool: str) -> dg.AssetsDefinition:
    """account_snapshot, in the broker pool of its account (one broker user at a time)."""

    @dg.asset(partitions_def=nyse_sessions, group_name="account", pool=pool)
    @retry_when_retryable()
    def account_snapshot(
        context: dg.AssetExecutionContext, target_allocation: TargetAllocation, broker: BrokerResource
    ) -> dg.Output[AccountSnapshot]:
        """Cash, equity, positions, open orders, asset facts and quotes; any failed read fails it."""
        snapshot = take_snapshot(broker.client(), target_allocation.weights, session_of(context))
        return dg.Output(
            snapshot,
            metadata={
                "equity": float(snapshot.account.equity),
                "cash": float(snapshot.account.cash),
                "positions": len(snapshot.positions),
                "open_orders": len(snapshot.open_orders),
            },
        )

    return account_snapshot


@dg.asset(partitions_def=nyse_sessions, group_name="portfolio")
def allocation_comparison(
    target_allocation: TargetAllocation, account_snapshot: AccountSnapshot, settings: SettingsResource
) -> dg.Output[AllocationComparison]:
    """Target vs current for targets U held, as weights of equity and as dollars."""
    comparison = compare_allocation(target_allocation, account_snapshot, settings.settings().planning)
    table = ["| symbol | current | target | delta $ |", "|---|---:|---:|---:|"] + [
        f"| {r.symbol} | {float(r.current_weight) * 100:.2f} % | {float(r.target_weight) * 100:.2f} % |"
        f" {float(r.delta_value):,.2f} |"
        for r in comparison.rows
    ]
    return dg.Output(comparison, metadata={"comparison": dg.MetadataValue.md("\n".join(table))})


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
        settings.settings().planning,
        session=session_of(context),
        account_number=account_snapshot.account.account_number,
        cash_weight=target_allocation.cash_weight,
    )
    items = ["| symbol | side | qty | est. value | reason |", "|---|---|---:|---:|---|"] + [
        f"| {i.symbol} | {i.side} | {i.qty} | {float(i.est_value):,.2f} | {i.reason} |" for i in plan.items
    ]
    return dg.Output(
        plan,
        metadata={
            "plan_id": plan.plan_id,
            "orders": len(plan.items),
            "skipped": len(plan.skipped),
            "turnover": float(plan.turnover),
            "items": dg.MetadataValue.md("\n".join(items) if plan.items else "(no orders)"),
            "targets": dg.MetadataValue.md(weights_markdown(target_allocation.weights)),
        },
    )

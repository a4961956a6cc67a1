"""Evaluate every symphony of an allocation config for a session and blend them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from alchemiser_dagster.domain.errors import StrategyDataError, StrategyError
from alchemiser_dagster.domain.model import Record
from alchemiser_dagster.domain.portfolio.allocation import build_target_allocation
from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation, StrategyFailure


class AllocationEvaluation(Record):
    """The account-level target for a session and each strategy's own result."""

    session: dt.date
    target: dict[str, float]
    shares: dict[str, float]
    strategies: dict[str, StrategyEvaluation]


def evaluate_allocation(
    config: AllocationConfig, history: MarketHistory, session: dt.date, *, trace: bool = True
) -> AllocationEvaluation:
    """Evaluate each configured symphony for `session`; any strategy error propagates."""
    results = {
        name: SymphonyEvaluator(load_symphony(config.strategy_path(name)), history).evaluate(
            session, trace=trace
        )
        for name in config.files
    }
    return AllocationEvaluation(
        session=session,
        target={
            symbol: float(weight)
            for symbol, weight in build_target_allocation(
                session, config.allocations, {name: r.weights for name, r in results.items()}
            ).weights.items()
        },
        shares={name: float(config.allocations[name]) for name in config.files},
        strategies=results,
    )


def required_market_data(config: AllocationConfig) -> tuple[frozenset[str], int]:
    """Every symbol the configured symphonies read, and their longest look-back window."""
    symphonies = [load_symphony(config.strategy_path(name)) for name in config.files]
    symbols = frozenset().union(*(s.symbols for s in symphonies))
    return symbols, max(s.max_window for s in symphonies)


def evaluate_on_bars(path: Path, bars: pd.DataFrame, session: dt.date) -> StrategyEvaluation:
    """One symphony for one session on a bars table, with its decision trace."""
    history = MarketHistory.from_bars(bars, source=f"market bars {session}")
    return SymphonyEvaluator(load_symphony(path), history).evaluate(session, trace=True)


def failed_evaluation(name: str, session: dt.date, error: StrategyError) -> StrategyEvaluation:
    """A record of a strategy that failed for `session`, for the cash / last_target policies."""
    facts = error if isinstance(error, StrategyDataError) else None
    return StrategyEvaluation(
        strategy=name,
        source=error.source,
        session=session,
        weights={},
        failure=StrategyFailure(
            error=error.error_name(),
            message=error.message,
            location=error.format_location(),
            session=facts.session if facts else None,
            symbol=facts.symbol if facts else None,
            indicator=facts.indicator if facts else None,
            window=facts.window if facts else None,
        ),
    )

"""A backtest beside a benchmark: one symbol bought at the first session's close and held.

Definitions (plain float math, 252 sessions a year, no risk-free rate). Both series are
compared on the same daily close-to-close returns, from the first session's close to the
last (n sessions give n - 1 returns; the strategy's entry costs on the first session are
in its Performance, not here):
- annual return: (product of (1 + r))^(252 / returns) - 1, i.e. the CAGR of those returns;
- excess return: strategy annual return minus benchmark annual return (annualized), and the
  same difference of the total returns (`excess_total_return`);
- beta: cov(r_strategy, r_benchmark) / var(r_benchmark) (same ddof on both);
- correlation: Pearson's coefficient of the daily returns;
- tracking error: sample standard deviation (ddof 1) of the daily active returns
  r_strategy - r_benchmark, times sqrt(252).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from pydantic import ConfigDict

from alchemiser_dagster.domain.backtest.metrics import SESSIONS_PER_YEAR
from alchemiser_dagster.domain.errors import MarketDataError
from alchemiser_dagster.domain.model import FrozenModel

DEFAULT_BENCHMARK = "SPY"


class BenchmarkStats(FrozenModel):
    model_config = ConfigDict(strict=False)  # filled from numpy results: lax on purpose

    symbol: str
    returns: int  # daily returns compared
    total_return: float  # the benchmark's
    annual_return: float  # the benchmark's
    strategy_annual_return: float
    excess_return: float  # annualized: strategy minus benchmark
    excess_total_return: float
    beta: float | None  # None when the benchmark never moved
    correlation: float | None  # None when either series never moved
    tracking_error: float  # annualized


class Benchmark(NamedTuple):
    symbol: str
    equity: list[float]  # the benchmark held from the first session, in the strategy's start money
    stats: BenchmarkStats


def returns_of(curve: Sequence[float]) -> np.ndarray:
    values = np.asarray(curve, dtype=float)
    return np.asarray(values[1:] / values[:-1] - 1.0)


def annual_return(returns: np.ndarray) -> float:
    if len(returns) == 0:
        return 0.0
    growth = float(np.prod(1.0 + returns))
    return growth ** (SESSIONS_PER_YEAR / len(returns)) - 1.0 if growth > 0 else -1.0


def benchmark_stats(symbol: str, strategy: Sequence[float], benchmark: Sequence[float]) -> BenchmarkStats:
    """Statistics of two equity curves on the same sessions (see the module docstring)."""
    if len(strategy) != len(benchmark):
        raise ValueError(f"{len(strategy)} strategy values but {len(benchmark)} for {symbol}")
    mine, theirs = returns_of(strategy), returns_of(benchmark)
    n = len(mine)
    active = mine - theirs
    spread_mine = mine - mine.mean() if n else mine
    spread_theirs = theirs - theirs.mean() if n else theirs
    var_theirs = float(np.mean(spread_theirs**2)) if n else 0.0
    var_mine = float(np.mean(spread_mine**2)) if n else 0.0
    cov = float(np.mean(spread_mine * spread_theirs)) if n else 0.0
    mine_annual, theirs_annual = annual_return(mine), annual_return(theirs)
    return BenchmarkStats(
        symbol=symbol,
        returns=n,
        total_return=float(benchmark[-1] / benchmark[0] - 1.0) if n else 0.0,
        annual_return=theirs_annual,
        strategy_annual_return=mine_annual,
        excess_return=mine_annual - theirs_annual,
        excess_total_return=float(strategy[-1] / strategy[0] - benchmark[-1] / benchmark[0]) if n else 0.0,
        beta=cov / var_theirs if var_theirs > 0 else None,
        correlation=cov / math.sqrt(var_mine * var_theirs) if var_mine > 0 and var_theirs > 0 else None,
        tracking_error=float(np.std(active, ddof=1)) * math.sqrt(SESSIONS_PER_YEAR) if n > 1 else 0.0,
    )


def benchmark_for(
    symbol: str, bars: pd.DataFrame, sessions: Sequence[dt.date], strategy_equity: Sequence[float]
) -> Benchmark:
    """`symbol` bought with the strategy's first-session equity at that close, held to the end."""
    closes = bars[bars["symbol"] == symbol].set_index("date")["close"].astype(float)
    missing = [d for d in sessions if d not in closes.index or not np.isfinite(closes[d])]
    if missing:
        raise MarketDataError(
            f"benchmark {symbol}: no close on {missing[0]}"
            + (f" and {len(missing) - 1} more sessions" if len(missing) > 1 else "")
        )
    values = closes.reindex(list(sessions)).to_numpy(dtype=float)
    equity = [float(strategy_equity[0]) * v / values[0] for v in values]
    return Benchmark(symbol, equity, benchmark_stats(symbol, strategy_equity, equity))

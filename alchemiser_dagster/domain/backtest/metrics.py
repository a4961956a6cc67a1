"""Performance statistics of an equity curve (daily sessions, 252 per year, no risk-free rate)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
from pydantic import ConfigDict

from alchemiser_dagster.domain.model import FrozenModel

SESSIONS_PER_YEAR = 252


class Drawdown(FrozenModel):
    model_config = ConfigDict(strict=False)  # filled from numpy results: lax on purpose

    depth: float  # <= 0, fraction of the peak
    peak: dt.date | None
    trough: dt.date | None
    recovered: dt.date | None  # first session back at the peak; None if never


class Performance(FrozenModel):
    model_config = ConfigDict(strict=False)  # filled from numpy results: lax on purpose

    sessions: int
    start_equity: float
    end_equity: float
    total_return: float
    cagr: float
    volatility: float
    sharpe: float | None
    sortino: float | None
    max_drawdown: Drawdown
    traded_notional: float
    turnover: float  # traded notional / mean equity, per year
    slippage_cost: float


def daily_returns(start_equity: float, equity: Sequence[float]) -> np.ndarray:
    values = np.asarray([start_equity, *equity], dtype=float)
    return np.asarray(values[1:] / values[:-1] - 1.0)


def max_drawdown(dates: Sequence[dt.date], equity: Sequence[float]) -> Drawdown:
    if not equity:
        return Drawdown(depth=0.0, peak=None, trough=None, recovered=None)
    values = np.asarray(equity, dtype=float)
    peaks = np.maximum.accumulate(values)
    drawdowns = values / peaks - 1.0
    trough = int(np.argmin(drawdowns))
    if drawdowns[trough] == 0:
        return Drawdown(depth=0.0, peak=None, trough=None, recovered=None)
    peak = int(np.argmax(values[: trough + 1]))
    after = np.nonzero(values[trough:] >= values[peak])[0]
    recovered = dates[trough + int(after[0])] if len(after) else None
    return Drawdown(
        depth=float(drawdowns[trough]), peak=dates[peak], trough=dates[trough], recovered=recovered
    )


def performance(
    dates: Sequence[dt.date],
    start_equity: float,
    equity: Sequence[float],
    traded: Sequence[float],
    slippage: Sequence[float],
) -> Performance:
    returns = daily_returns(start_equity, equity)
    n = len(returns)
    end = equity[-1] if equity else start_equity
    years = n / SESSIONS_PER_YEAR
    std = float(np.std(returns, ddof=1)) if n > 1 else 0.0
    downside = float(math.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))) if n else 0.0
    mean = float(np.mean(returns)) if n else 0.0
    root = math.sqrt(SESSIONS_PER_YEAR)
    return Performance(
        sessions=n,
        start_equity=start_equity,
        end_equity=end,
        total_return=end / start_equity - 1.0,
        cagr=(end / start_equity) ** (1.0 / years) - 1.0 if years > 0 and end > 0 else 0.0,
        volatility=std * root,
        sharpe=mean / std * root if std > 0 else None,
        sortino=mean / downside * root if downside > 0 else None,
        max_drawdown=max_drawdown(dates, equity),
        traded_notional=float(sum(traded)),
        turnover=float(sum(traded)) / float(np.mean(equity)) / years if n and years > 0 else 0.0,
        slippage_cost=float(sum(slippage)),
    )

"""Replay a target-weights history through the backtest's book.

The same accounting as `run_backtest`: the weights dated D are traded at D's close (plus
slippage on each side, 5 bps by default) and so earn D -> D+1 on the bars' (total-return)
closes. What differs is where the weights come from (a file, not the strategies) and the
planner's knobs: a replay is *fractional weights accounting* - no cash reserve, no minimum
trade, no drift band, fractional shares - because a recorded history (Composer's) was booked
that way, and a reserve of 1 % alone would cost a 2 bps/day match on a 2 % day. A session of
the range without a row in the history holds the book as it is (no trades).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

import numpy as np
import pandas as pd

from alchemiser_dagster.domain.backtest.engine import (
    BacktestResult,
    BacktestSettings,
    _Book,
    _closes,
    record_session,
    session_prices,
    trade_session,
)
from alchemiser_dagster.domain.backtest.metrics import performance
from alchemiser_dagster.domain.errors import MarketDataError
from alchemiser_dagster.domain.portfolio.allocation import to_decimal_weights
from alchemiser_dagster.domain.portfolio.models import PlanningSettings

REPLAY_PLANNING = PlanningSettings(
    cash_reserve_pct=Decimal(0), min_trade_usd=Decimal(0), drift_band=Decimal(0)
)
REPLAY_NAME = "weights history"


def replay_settings(cash: Decimal = Decimal(100000), slippage_bps: Decimal = Decimal(5)) -> BacktestSettings:
    """The replay's defaults: fractional weights accounting (see the module docstring)."""
    return BacktestSettings(cash=cash, slippage_bps=slippage_bps, planning=REPLAY_PLANNING, fractional=True)


def replay_weights(
    history: Mapping[dt.date, Mapping[str, float]],
    bars: pd.DataFrame,
    start: dt.date | None = None,
    end: dt.date | None = None,
    settings: BacktestSettings | None = None,
) -> BacktestResult:
    """The book over the bars' sessions in [start, end] (default: the history's first..last date)."""
    settings = settings or replay_settings()
    if not history:
        raise MarketDataError("the weights history is empty")
    closes = _closes(bars)
    first = start or min(history)
    last = end or max(history)
    sessions = [d for d in closes.index if first <= d <= last]
    if not sessions:
        raise MarketDataError(f"no session of the bars lies in [{first}, {last}]")
    outside = sorted(d for d in history if d not in set(closes.index))
    if outside:
        raise MarketDataError(
            f"weights dated {outside[0]} (and {len(outside) - 1} more): not sessions of the bars"
        )
    book = _Book(settings.cash, settings)
    columns = [str(c) for c in closes.columns]
    matrix = closes.to_numpy(dtype=float)
    row_of = {d: i for i, d in enumerate(closes.index)}
    equity_rows: list[dict[str, object]] = []
    holding_rows: list[dict[str, object]] = []
    target_rows: list[dict[str, object]] = []
    for session in sessions:
        today = dict(zip(columns, matrix[row_of[session]].tolist(), strict=True))
        decided = history.get(session)
        targets = to_decimal_weights(dict(decided)) if decided else {}
        prices = session_prices(today, session, set(targets) | set(book.positions))
        trades_before = len(book.trades)
        if decided is not None:
            # what the weights leave out stays cash; >= 0 against 10-place rounding (the
            # planner still rejects weights adding up to more than 1 + 1e-6)
            cash_weight = max(Decimal(0), 1 - sum(targets.values(), Decimal(0)))
            trade_session(book, settings, session, prices, targets, cash_weight)
            for symbol in sorted(targets):
                target_rows.append(
                    {
                        "session": session,
                        "symbol": symbol,
                        "target": targets[symbol],
                        "effective": targets[symbol],
                    }
                )
        record_session(book, session, prices, trades_before, equity_rows, holding_rows)
    return _replay_result(settings, book, equity_rows, holding_rows, target_rows, len(history))


def _replay_result(
    settings: BacktestSettings,
    book: _Book,
    equity_rows: list[dict[str, object]],
    holding_rows: list[dict[str, object]],
    target_rows: list[dict[str, object]],
    decisions: int,
) -> BacktestResult:
    equity = pd.DataFrame(equity_rows)
    curve = [float(v) for v in equity["equity"]]
    start = float(settings.cash)
    stats = performance(
        list(equity["session"]),
        start,
        curve,
        [float(v) for v in equity["traded"]],
        [float(v) for v in equity["slippage"]],
    )
    values = np.asarray(curve)
    equity["daily_return"] = values / np.asarray([start, *curve[:-1]]) - 1.0
    equity["drawdown"] = values / np.maximum.accumulate(values) - 1.0
    attribution = pd.DataFrame(
        [
            {
                "strategy": REPLAY_NAME,
                "share": 1.0,
                "trading": "as recorded: trades on each dated row",
                "threshold": None,
                "rebalances": decisions,
                "sleeve_total_return": stats.total_return,
                "sleeve_cagr": stats.cagr,
                "sleeve_sharpe": stats.sharpe,
                "sleeve_max_drawdown": stats.max_drawdown.depth,
                "contribution_usd": stats.end_equity - start,
            }
        ]
    )
    trade_columns = [
        "session",
        "symbol",
        "side",
        "qty",
        "close",
        "fill_price",
        "notional",
        "slippage",
        "reason",
    ]
    return BacktestResult(
        equity=equity,
        holdings=pd.DataFrame(holding_rows, columns=["session", "symbol", "qty", "close", "value", "weight"]),
        trades=pd.DataFrame(book.trades, columns=trade_columns),
        targets=pd.DataFrame(target_rows, columns=["session", "symbol", "target", "effective"]),
        sleeves=pd.DataFrame(
            columns=["session", "strategy", "target_weights", "rebalanced", "sleeve_return", "contribution"]
        ),
        attribution=attribution,
        performance=stats,
    )

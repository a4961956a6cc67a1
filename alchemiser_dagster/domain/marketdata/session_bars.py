"""Bars for session D: completed history plus, on the trading day itself, a snapshot bar.

Strategies evaluate D on bars dated <= D (strategy spec §4). Before the close, D has
no official bar yet, so D's bar is the latest trade (open = high = low = close). A
past D already has its official bar and uses it as is. Either way every symbol must
end on a bar dated D: a stale symbol is an error, never forward-filled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import pandas as pd

from alchemiser_dagster.domain.broker import Broker, TradeInfo
from alchemiser_dagster.domain.calendar import nyse_sessions, previous_session
from alchemiser_dagster.domain.constants import NEW_YORK
from alchemiser_dagster.domain.errors import MarketDataError
from alchemiser_dagster.domain.marketdata.bars import BAR_COLUMNS, normalize_bars

# rsi/ema use the whole history, so supply this many bars beyond the longest window.
WARMUP_SESSIONS = 260


def history_start(session: dt.date, longest_window: int) -> dt.date:
    """First date to fetch so that D has `longest_window` + warm-up bars before it."""
    needed = longest_window + WARMUP_SESSIONS
    day = session
    for _ in range(needed):
        day = previous_session(day)
    return day


def with_session_bar(
    history: pd.DataFrame, trades: Mapping[str, TradeInfo], session: dt.date, symbols: Iterable[str]
) -> pd.DataFrame:
    """History through D-1 (or D) plus a snapshot bar for D from each symbol's latest trade."""
    bars = history  # validated once below, together with the snapshot rows
    have_session = set(bars.loc[bars["date"] == session, "symbol"])
    rows = []
    stale = []
    for symbol in sorted(set(symbols) - have_session):
        trade = trades.get(symbol)
        if trade is None or trade.timestamp.astimezone(NEW_YORK).date() != session:
            stale.append(symbol if trade is None else f"{symbol} (last trade {trade.timestamp.isoformat()})")
            continue
        price = float(trade.price)
        rows.append(
            {
                "symbol": symbol,
                "date": session,
                "open": price,
                "high": price,
                "low": price,
                "close": price,
                "volume": float(trade.size),
            }
        )
    if stale:
        raise MarketDataError(f"no bar and no trade dated {session} for: {', '.join(stale)}")
    combined = pd.concat([bars, pd.DataFrame(rows, columns=list(BAR_COLUMNS))], ignore_index=True)
    return normalize_bars(combined, source=f"market bars {session}")


def stale_symbols(bars: pd.DataFrame, session: dt.date, symbols: Iterable[str]) -> list[str]:
    """Symbols whose bars do not end on D or lack D-1's session (the freshness check)."""
    expected_previous = nyse_sessions(previous_session(session), previous_session(session))
    problems = []
    for symbol in sorted(set(symbols)):
        dates = set(bars.loc[bars["symbol"] == symbol, "date"])
        if session not in dates:
            problems.append(f"{symbol}: no bar dated {session}")
        elif expected_previous and expected_previous[0] not in dates:
            problems.append(f"{symbol}: no bar for the previous session {expected_previous[0]}")
    return problems


def fetch_session_bars(
    broker: Broker, symbols: Iterable[str], session: dt.date, longest_window: int
) -> pd.DataFrame:
    """Adjusted history for the symbols plus D's bar (official if complete, else the snapshot)."""
    wanted = sorted(set(symbols))
    history = broker.get_daily_bars(wanted, history_start(session, longest_window), session)
    missing_today = set(wanted) - set(history.loc[history["date"] == session, "symbol"])
    trades = broker.get_latest_trades(sorted(missing_today)) if missing_today else {}
    return with_session_bar(history, trades, session, wanted)

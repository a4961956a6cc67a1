"""JSON bodies of the trading endpoints, shaped like Alpaca's (see the fixtures README).

Rules kept here so the HTTP layer stays dumb: decimals are JSON strings, timestamps are
``...Z`` UTC (the clock uses the New York offset), account ``status`` and ``exchange`` are
upper case, every other enum lower case, assets use the key ``class``. The PDT keys
(``pattern_day_trader``, ``daytrade_count``, ``daytrading_buying_power``) are never sent.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from typing import Any

from alchemiser_dagster.broker.simulator.engine import SimEngine
from alchemiser_dagster.broker.simulator.queries import dec_str
from alchemiser_dagster.broker.simulator.timeutil import (
    fmt_ny,
    is_market_open,
    next_session_on_or_after,
    session_bounds,
)
from alchemiser_dagster.domain import calendar
from alchemiser_dagster.domain.calendar import NEW_YORK

__all__ = ["account_json", "asset_json", "calendar_json", "clock_json", "order_json", "position_json"]

_ZERO = Decimal(0)


def _ratio(num: Decimal, den: Decimal) -> str:
    return dec_str((num / den).quantize(Decimal("0.0000000001"))) if den else "0"


def _prices(engine: SimEngine, symbol: str, now: dt.datetime, fallback: Decimal) -> tuple[Decimal, Decimal]:
    price = engine.book.price(symbol, now)
    last = engine.book.previous_close(symbol, now)
    current = price if price is not None else fallback
    return current, last if last is not None else current


def position_json(engine: SimEngine, row: sqlite3.Row, now: dt.datetime) -> dict[str, Any]:
    symbol, qty, basis = row["symbol"], Decimal(row["qty"]), Decimal(row["cost_basis"])
    avg = basis / qty if qty else _ZERO
    current, lastday = _prices(engine, symbol, now, avg)
    market_value = qty * current
    values = {
        "avg_entry_price": dec_str(avg.quantize(Decimal("0.000000001"))),
        "market_value": dec_str(market_value),
        "cost_basis": dec_str(basis),
        "unrealized_pl": dec_str(market_value - basis),
        "unrealized_plpc": _ratio(market_value - basis, basis),
        "unrealized_intraday_pl": dec_str(qty * (current - lastday)),
        "unrealized_intraday_plpc": _ratio(current - lastday, lastday),
        "current_price": dec_str(current),
        "lastday_price": dec_str(lastday),
        "change_today": _ratio(current - lastday, lastday),
    }
    asset = engine.asset(symbol)
    return {
        "asset_id": asset["id"] if asset else "",
        "symbol": symbol,
        "exchange": asset["exchange"] if asset else "NASDAQ",
        "asset_class": "us_equity",
        "asset_marginable": False,
        "qty": dec_str(qty),
        "side": "long",
        **values,
        "qty_available": dec_str(qty - engine.held_for_orders(symbol)),
        "usd": dict(values),
    }


def account_json(engine: SimEngine, now: dt.datetime) -> dict[str, Any]:
    acct = engine.account()
    cash = Decimal(acct["cash"])
    long_value = last_value = _ZERO
    for row in engine.positions():
        qty = Decimal(row["qty"])
        current, lastday = _prices(engine, row["symbol"], now, Decimal(row["cost_basis"]) / qty)
        long_value += qty * current
        last_value += qty * lastday
    equity = cash + long_value
    buying_power = dec_str(engine.buying_power())
    return {
        "id": acct["id"],
        "account_number": acct["account_number"],
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "cash": dec_str(cash),
        "buying_power": buying_power,
        "regt_buying_power": buying_power,
        "non_marginable_buying_power": buying_power,
        "options_buying_power": buying_power,
        "equity": dec_str(equity),
        "portfolio_value": dec_str(equity),
        # approximation: today's cash plus positions at the previous close
        "last_equity": dec_str(cash + last_value),
        "long_market_value": dec_str(long_value),
        "short_market_value": "0",
        "position_market_value": dec_str(long_value),
        "initial_margin": "0",
        "maintenance_margin": "0",
        "last_maintenance_margin": "0",
        "sma": "0",
        "accrued_fees": "0",
        "multiplier": "1",
        "shorting_enabled": False,
        "account_blocked": False,
        "trading_blocked": False,
        "transfers_blocked": False,
        "trade_suspended_by_user": False,
        "options_approved_level": "0",
        "options_trading_level": "0",
        "created_at": acct["created_at"],
        "balance_asof": (now.astimezone(NEW_YORK).date()).isoformat(),
    }


def asset_json(engine: SimEngine, row: sqlite3.Row, now: dt.datetime) -> dict[str, Any]:
    price = engine.book.price(row["symbol"], now)
    last = engine.book.previous_close(row["symbol"], now)
    pct = _ratio(price - last, last) if price is not None and last is not None else "0"
    return {
        "id": row["id"],
        "class": "us_equity",
        "exchange": row["exchange"],
        "symbol": row["symbol"],
        "name": row["name"],
        "status": "active",
        "tradable": bool(row["tradable"]),
        "marginable": False,
        "shortable": False,
        "easy_to_borrow": False,
        "fractionable": bool(row["fractionable"]),
        "last_close_pct_change": pct,
        "last_price": dec_str(price) if price is not None else "0",
        "attributes": ["fractional_eh_enabled"] if row["fractionable"] else [],
    }


def order_json(row: sqlite3.Row) -> dict[str, Any]:
    side = row["side"]
    return {
        "id": row["id"],
        "client_order_id": row["client_order_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "submitted_at": row["submitted_at"],
        "filled_at": row["filled_at"],
        "expired_at": row["expired_at"],
        "canceled_at": row["canceled_at"],
        "failed_at": row["updated_at"] if row["status"] == "rejected" else None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": row["asset_id"],
        "symbol": row["symbol"],
        "asset_class": "us_equity",
        "notional": row["notional"],
        "qty": row["qty"],
        "filled_qty": row["filled_qty"],
        "filled_avg_price": row["filled_avg_price"],
        "order_class": "simple",
        "order_type": row["type"],
        "type": row["type"],
        "side": side,
        "position_intent": "buy_to_open" if side == "buy" else "sell_to_close",
        "time_in_force": row["time_in_force"],
        "limit_price": row["limit_price"],
        "stop_price": None,
        "status": row["status"],
        "extended_hours": False,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
        "commission": 0,
        "subtag": None,
        "source": None,
        "expires_at": row["expires_at"],
    }


def clock_json(now: dt.datetime) -> dict[str, Any]:
    """``GET /v2/clock``: next_open is always a future open; next_close the next close."""
    today = now.astimezone(NEW_YORK).date()
    open_now = is_market_open(now)
    day = next_session_on_or_after(today)
    start, end = session_bounds(day)
    if now >= end:  # today's session is over
        day = next_session_on_or_after(day + dt.timedelta(days=1))
        start, end = session_bounds(day)
    next_open = start
    if now >= start:  # open right now: the next open is tomorrow's
        next_open = session_bounds(next_session_on_or_after(day + dt.timedelta(days=1)))[0]
    return {
        "timestamp": fmt_ny(now),
        "is_open": open_now,
        "next_open": fmt_ny(next_open),
        "next_close": fmt_ny(end),
    }


def calendar_json(start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    first, last = calendar.calendar_bounds()
    out = []
    for day in calendar.nyse_sessions(max(start, first), min(end, last)):
        open_t, close_t = (t.astimezone(NEW_YORK) for t in session_bounds(day))
        out.append(
            {
                "date": day.isoformat(),
                "open": open_t.strftime("%H:%M"),
                "close": close_t.strftime("%H:%M"),
                "session_open": "0400",
                "session_close": "2000",
            }
        )
    return out

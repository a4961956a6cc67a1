"""Market-data bodies: daily bars with Alpaca's pagination, latest quotes and trades.

Numbers here are JSON numbers (unlike the trading API's decimal strings). Bars:

* only ``timeframe=1Day`` is modelled; only COMPLETED bars are served (a session's bar
  appears once its close has passed in simulated time), so a strategy run before the close
  can never peek at the day's close;
* ``t`` is midnight New York in UTC, like Alpaca's daily bars;
* results are ordered by symbol, then time, and ``limit`` counts bars across symbols;
  ``next_page_token`` is base64 of ``SYMBOL|YYYY-MM-DD`` of the last bar returned, null on
  the last page; ``bars`` is ``{}`` (never null) when nothing matches;
* ``n`` (trade count) and ``vw`` (VWAP) are derived: ``vw`` is the typical price
  (h+l+c)/3 and ``n`` is volume / 100, so both keys always exist.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
from decimal import Decimal
from functools import lru_cache
from typing import Any

from alchemiser_dagster.broker.simulator.prices import DailyBar, PriceBook
from alchemiser_dagster.broker.simulator.rules import MALFORMED, UNPROCESSABLE, SimError
from alchemiser_dagster.broker.simulator.timeutil import NEW_YORK, fmt_utc

__all__ = ["bars_json", "latest_quotes_json", "latest_trades_json", "parse_symbols"]

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000
_TIMEFRAMES = ("1Day", "1D", "1day")


def parse_symbols(raw: str | None) -> list[str]:
    """``A,B`` -> ``["A", "B"]`` (upper-cased, de-duplicated, order kept)."""
    if not raw:
        raise SimError(422, MALFORMED, "symbols is required")
    out: list[str] = []
    for part in raw.split(","):
        sym = part.strip().upper()
        if sym and sym not in out:
            out.append(sym)
    return out


def _bar_time(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=NEW_YORK).astimezone(dt.UTC)


def _first_day(start: dt.datetime) -> dt.date:
    """First bar date whose timestamp (midnight New York) is at or after ``start``."""
    day = start.astimezone(NEW_YORK).date()
    return day if _bar_time(day) >= start else day + dt.timedelta(days=1)


def _num(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


@lru_cache(maxsize=16384)
def _bar_stamp(day: dt.date) -> str:
    """The bar's `t`; cached because a page formats thousands of bars over few dates."""
    return _bar_time(day).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=200_000)
def _bar_json(bar: DailyBar) -> dict[str, Any]:
    """A bar's JSON body; bars are immutable, so each is formatted once per process."""
    vw = round((float(bar.high) + float(bar.low) + float(bar.close)) / 3, 6)
    return {
        "t": _bar_stamp(bar.date),
        "o": _num(bar.open),
        "h": _num(bar.high),
        "l": _num(bar.low),
        "c": _num(bar.close),
        "v": bar.volume,
        "n": max(1, bar.volume // 100),
        "vw": vw,
    }


def _encode_token(symbol: str, day: dt.date) -> str:
    return base64.b64encode(f"{symbol}|{day.isoformat()}".encode()).decode()


def _decode_token(token: str) -> tuple[str, dt.date]:
    try:
        symbol, _, day = base64.b64decode(token.encode(), validate=True).decode().partition("|")
        return symbol, dt.date.fromisoformat(day)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise SimError(422, MALFORMED, "invalid page_token") from exc


def bars_json(
    book: PriceBook,
    now: dt.datetime,
    symbols: list[str],
    *,
    timeframe: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    limit: int | None,
    page_token: str | None,
) -> dict[str, Any]:
    """One page of ``GET /v2/stocks/bars``."""
    if timeframe not in _TIMEFRAMES:
        raise SimError(
            422, UNPROCESSABLE, f"timeframe {timeframe!r} is not supported by the simulator (1Day only)"
        )
    page_size = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= page_size <= MAX_LIMIT:
        raise SimError(422, MALFORMED, f"limit must be between 1 and {MAX_LIMIT}")
    after: tuple[str, dt.date] | None = _decode_token(page_token) if page_token else None
    cutoff = PriceBook.completed_before(now)
    out: dict[str, list[dict[str, Any]]] = {}
    count = 0
    last: tuple[str, dt.date] | None = None
    for symbol in sorted(symbols):
        if after is not None and symbol < after[0]:
            continue
        rows, dates = book.bars(symbol), book.dates(symbol)
        i = bisect.bisect_left(dates, _first_day(start)) if start is not None else 0
        if after is not None and symbol == after[0]:
            i = max(i, bisect.bisect_right(dates, after[1]))
        for bar in rows[i:]:
            if bar.date >= cutoff:
                break
            t = _bar_time(bar.date)
            if (start is not None and t < start) or (end is not None and t > end):
                continue
            if count == page_size:
                assert last is not None
                return {"bars": out, "next_page_token": _encode_token(*last)}
            out.setdefault(symbol, []).append(_bar_json(bar))
            count += 1
            last = (symbol, bar.date)
    return {"bars": out, "next_page_token": None}


def latest_quotes_json(book: PriceBook, now: dt.datetime, symbols: list[str]) -> dict[str, Any]:
    """``{"quotes": {SYM: {...}}}``; unknown symbols are simply absent."""
    quotes: dict[str, Any] = {}
    for symbol in symbols:
        q = book.quote(symbol, now)
        if q is None:
            continue
        quotes[symbol] = {
            "t": fmt_utc(q.time),
            "ax": "V",
            "ap": _num(q.ask),
            "as": 1,
            "bx": "V",
            "bp": _num(q.bid),
            "bs": 1,
            "c": ["R"],
            "z": "C",
        }
    return {"quotes": quotes}


def latest_trades_json(book: PriceBook, now: dt.datetime, symbols: list[str]) -> dict[str, Any]:
    """``{"trades": {SYM: {...}}}``; the trade id ``i`` is the epoch second (deterministic)."""
    trades: dict[str, Any] = {}
    for symbol in symbols:
        q = book.quote(symbol, now)
        if q is None:
            continue
        trades[symbol] = {
            "t": fmt_utc(q.time),
            "x": "V",
            "p": _num(q.price),
            "s": 100,
            "c": ["@"],
            "i": int(q.time.timestamp()),
            "z": "C",
        }
    return {"trades": trades}

"""When and at what price an open order fills, under each fill model the stand-in offers.

Pure functions over a :class:`PriceBook`: given an order and a window of simulated time
``[lo, hi]`` (the stretch the engine advances over), find the first instant in a regular
session at which the order is marketable. Market orders are marketable at the first open
instant (the window start if the market is open, else the next open). Limit orders are
marketable when ``ask <= limit`` (buy) or ``bid >= limit`` (sell) and fill at that quote, so
at the limit or better. Because the intraday path is monotone within a session, the
marketable instants of a session form a prefix or a suffix of the window, and a bisection
over whole seconds finds the first one exactly (no sampling, no missed crossings).

That is the default model, ``spread_crossing``. The others (:data:`FILL_MODES`), set for
all symbols, one symbol or one client order id: ``immediate`` fills every order in full at
the first open instant (marketable: at the quote; else at its limit), ``partial`` fills a
fixed fraction of the remainder per fill opportunity, ``paper_like`` is Alpaca paper
(spread crossing, and about one fill in ten partial, drawn from the order id so a replay
repeats it), ``never`` keeps orders open and ``reject`` rejects them at the first open
instant. The engine only consumes the returned :class:`FillPoint` and fraction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal

from alchemiser_dagster.broker.simulator.prices import PriceBook, Quote
from alchemiser_dagster.broker.simulator.timeutil import NEW_YORK, session_bounds
from alchemiser_dagster.domain import calendar

__all__ = [
    "DEFAULT_FILL_MODE",
    "FILL_MODES",
    "FillPoint",
    "first_fill",
    "first_immediate_fill",
    "first_open_instant",
    "paper_like_fraction",
]

FILL_MODES = ("spread_crossing", "immediate", "partial", "paper_like", "never", "reject")
DEFAULT_FILL_MODE = "spread_crossing"
#: Alpaca paper gives a random partial fill about 10 % of the time.
PAPER_PARTIAL_ONE_IN = 10

_EPS = dt.timedelta(microseconds=1)
_SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class FillPoint:
    time: dt.datetime
    price: Decimal


def _open_windows(lo: dt.datetime, hi: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The parts of ``[lo, hi]`` inside regular sessions, each clipped to ``[open, close)``."""
    if hi < lo:
        return []
    first, last = calendar.calendar_bounds()
    lo_day = max(lo.astimezone(NEW_YORK).date(), first)
    hi_day = min(hi.astimezone(NEW_YORK).date(), last)
    out = []
    for day in calendar.nyse_sessions(lo_day, hi_day):
        start, end = session_bounds(day)
        a, b = max(lo, start), min(hi, end - _EPS)
        if a <= b:
            out.append((a, b))
    return out


def first_open_instant(lo: dt.datetime, hi: dt.datetime) -> dt.datetime | None:
    """The first instant of ``[lo, hi]`` during a regular session, or None."""
    windows = _open_windows(lo, hi)
    return windows[0][0] if windows else None


def _fill_price(quote: Quote, side: str) -> Decimal:
    return quote.ask if side == "buy" else quote.bid


def first_fill(
    book: PriceBook,
    symbol: str,
    side: str,
    order_type: str,
    limit_price: Decimal | None,
    lo: dt.datetime,
    hi: dt.datetime,
) -> FillPoint | None:
    """First marketable instant of the order in ``[lo, hi]`` and its fill price, or None."""

    def quote(t: dt.datetime) -> Quote | None:
        return book.quote(symbol, t)

    def marketable(q: Quote | None) -> bool:
        if q is None:
            return False
        if order_type == "market" or limit_price is None:
            return True
        return q.ask <= limit_price if side == "buy" else q.bid >= limit_price

    for a, b in _open_windows(lo, hi):
        qa = quote(a)
        if marketable(qa):
            assert qa is not None
            return FillPoint(a, _fill_price(qa, side))
        if not marketable(quote(b)):
            continue
        left, right = a, b  # invariant: not marketable at left, marketable at right
        while right - left > _SECOND:
            mid = left + (right - left) / 2
            if marketable(quote(mid)):
                right = mid
            else:
                left = mid
        qr = quote(right)
        assert qr is not None
        return FillPoint(right, _fill_price(qr, side))
    return None


def first_immediate_fill(
    book: PriceBook,
    symbol: str,
    side: str,
    order_type: str,
    limit_price: Decimal | None,
    lo: dt.datetime,
    hi: dt.datetime,
) -> FillPoint | None:
    """The first open instant of ``[lo, hi]``: at the quote if marketable, else at the limit."""
    when = first_open_instant(lo, hi)
    quote = book.quote(symbol, when) if when is not None else None
    if when is None or quote is None:
        return None
    price = _fill_price(quote, side)
    if order_type != "market" and limit_price is not None:
        price = min(price, limit_price) if side == "buy" else max(price, limit_price)
    return FillPoint(when, price)


def paper_like_fraction(order_id: str, fills_so_far: int) -> Decimal | None:
    """The fraction of the remainder this fill takes (None: all of it), seeded by the order."""
    digest = hashlib.sha256(f"{order_id}:{fills_so_far}".encode()).digest()
    if int.from_bytes(digest[:4], "big") % PAPER_PARTIAL_ONE_IN:
        return None
    return Decimal(10 + digest[4] % 81) / 100  # 0.10 .. 0.90

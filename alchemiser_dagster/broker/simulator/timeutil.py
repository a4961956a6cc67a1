"""Time helpers for the simulator: market hours and Alpaca's timestamp formats.

Alpaca's trading API writes UTC timestamps with a ``Z`` and fractional seconds
(``2021-03-16T18:38:01.942282Z``); the clock endpoint uses the New York offset. Internally
the simulator keeps tz-aware UTC datetimes and stores them as fixed-width ``...Z`` strings
so that SQLite orders them correctly as text.

Market hours: NYSE sessions and (early) closes come from
:mod:`alchemiser_dagster.domain.calendar`. The open is taken as 09:30 New York on every
session: XNYS has had no late opens in the years the simulator is used for, and the
domain calendar does not expose opens.
"""

from __future__ import annotations

import datetime as dt

from alchemiser_dagster.domain import calendar
from alchemiser_dagster.domain.calendar import NEW_YORK

__all__ = [
    "NEW_YORK",
    "check_simulated_time",
    "fmt_ny",
    "fmt_utc",
    "is_market_open",
    "next_session_on_or_after",
    "parse_ts",
    "session_bounds",
    "session_for_order",
]

OPEN_TIME = dt.time(9, 30)


def fmt_utc(t: dt.datetime) -> str:
    """RFC 3339 UTC with ``Z`` and microseconds: the trading API's format (sortable as text)."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fmt_ny(t: dt.datetime) -> str:
    """RFC 3339 with the New York offset, as ``GET /v2/clock`` answers."""
    return t.astimezone(NEW_YORK).isoformat()


def parse_ts(text: str) -> dt.datetime:
    """Parse an RFC 3339 timestamp or a plain date; naive values are UTC (as Alpaca does)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if "T" in value:
        # a '+' offset in a query string that was not percent-encoded arrives as a space
        value = value.replace(" ", "+")
    # Python 3.11 parses at most 6 fractional digits; Alpaca may send 9.
    if "." in value:
        head, _, rest = value.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def session_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """(open, close) of session ``day`` in UTC; the close honours early closes."""
    open_ny = dt.datetime.combine(day, OPEN_TIME, tzinfo=NEW_YORK)
    return open_ny.astimezone(dt.UTC), calendar.session_close(day).astimezone(dt.UTC)


def next_session_on_or_after(day: dt.date) -> dt.date:
    """The first NYSE session on or after ``day``."""
    _, last = calendar.calendar_bounds()
    sessions = calendar.nyse_sessions(day, min(day + dt.timedelta(days=14), last))
    if not sessions:
        raise ValueError(f"no NYSE session on or after {day.isoformat()} in the calendar")
    return sessions[0]


def is_market_open(t: dt.datetime) -> bool:
    """True during the regular session (open <= t < close)."""
    day = t.astimezone(NEW_YORK).date()
    if not calendar.is_session(day):
        return False
    start, end = session_bounds(day)
    return start <= t < end


def session_for_order(t: dt.datetime) -> dt.date:
    """The session an order placed at ``t`` trades in: today's if before its close, else the next."""
    day = t.astimezone(NEW_YORK).date()
    if calendar.is_session(day) and t < session_bounds(day)[1]:
        return day
    return next_session_on_or_after(day + dt.timedelta(days=1))


def check_simulated_time(t: dt.datetime) -> dt.datetime:
    """``t`` when the stand-in can answer every call there; else ValueError naming the range.

    Every ``/v2`` call consults the calendar (the clock's next open and close, an order's
    session), which exchange_calendars knows only up to about a year ahead. A clock past
    that would turn every later call into an error, so it is refused when set.
    """
    if t.tzinfo is None:
        raise ValueError("the simulated clock needs a tz-aware datetime")
    first, last = calendar.calendar_bounds()
    day = t.astimezone(NEW_YORK).date()
    if not first <= day < last:
        raise ValueError(
            f"simulated time {fmt_utc(t)} is outside the NYSE calendar the stand-in knows: "
            f"{first.isoformat()} up to (not including) {last.isoformat()}"
        )
    return t

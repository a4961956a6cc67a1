"""NYSE trading sessions (exchange_calendars ``XNYS``) as plain ``datetime.date`` values.

Every function takes and returns ``datetime.date`` (a ``datetime``/``pd.Timestamp``
argument is reduced to its calendar date). The calendar object is built once per
process (``functools.lru_cache``) and spans :data:`CALENDAR_START` up to the last session
exchange_calendars knows (about one year after today). A date outside
``calendar_bounds()`` raises ``ValueError`` naming the date and the bounds: the answer is
unknowable there, so the functions never guess.

Session closes respect early closes (e.g. the day after Thanksgiving closes at 13:00 ET)
and are returned tz-aware in America/New_York.
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from alchemiser_dagster.domain.constants import NEW_YORK

__all__ = [
    "CALENDAR_START",
    "NEW_YORK",
    "calendar_bounds",
    "is_session",
    "latest_session_on_or_before",
    "nyse_sessions",
    "previous_session",
    "session_close",
    "session_days",
]


#: First date the cached calendar covers (the first session is 2000-01-03).
CALENDAR_START = dt.date(2000, 1, 1)


@functools.lru_cache(maxsize=1)
def _calendar() -> Any:
    """The exchange_calendars XNYS calendar (built once; exchange_calendars is untyped)."""
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange_calendars has not caught up with pandas 3 deprecations; harmless.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return xcals.get_calendar("XNYS", start=CALENDAR_START.isoformat())


@functools.lru_cache(maxsize=1)
def _session_table() -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.int64]]:
    """Sessions as ``datetime64[D]`` and their closes as UTC epoch nanoseconds."""
    cal = _calendar()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sessions = pd.DatetimeIndex(cal.sessions)
        closes = pd.DatetimeIndex(cal.closes)
    days = sessions.to_numpy().astype("datetime64[D]")
    close_ns = closes.tz_convert("UTC").tz_localize(None).as_unit("ns").asi8.copy()
    days.setflags(write=False)
    close_ns.setflags(write=False)
    return days, close_ns


def session_days() -> npt.NDArray[np.datetime64]:
    """Every session the calendar knows, ascending, as read-only ``datetime64[D]`` (for vector checks)."""
    days, _ = _session_table()
    return days


def calendar_bounds() -> tuple[dt.date, dt.date]:
    """Inclusive range of dates the functions accept: ``CALENDAR_START`` .. last session."""
    days, _ = _session_table()
    return CALENDAR_START, _to_date(days[-1])


def _as_date(value: dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"expected a datetime.date, got {type(value).__name__}: {value!r}")


def _to_date(day: np.datetime64) -> dt.date:
    value = day.astype("datetime64[D]").astype(object)
    assert isinstance(value, dt.date)
    return value


def _checked(value: dt.date, what: str) -> np.datetime64:
    d = _as_date(value)
    first, last = calendar_bounds()
    if not first <= d <= last:
        raise ValueError(
            f"{what} {d.isoformat()} is outside the NYSE calendar range "
            f"{first.isoformat()}..{last.isoformat()}"
        )
    return np.datetime64(d, "D")


def nyse_sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions from ``start`` to ``end`` inclusive, ascending (empty if start > end)."""
    lo = _checked(start, "start")
    hi = _checked(end, "end")
    days, _ = _session_table()
    i = int(np.searchsorted(days, lo, side="left"))
    j = int(np.searchsorted(days, hi, side="right"))
    if j <= i:
        return []
    return list(days[i:j].astype(object))


def is_session(d: dt.date) -> bool:
    """True when the NYSE trades on ``d`` (weekends and exchange holidays are not sessions)."""
    day = _checked(d, "date")
    days, _ = _session_table()
    i = int(np.searchsorted(days, day, side="left"))
    return i < len(days) and bool(days[i] == day)


def latest_session_on_or_before(d: dt.date) -> dt.date:
    """``d`` itself if it is a session, else the last session before it."""
    day = _checked(d, "date")
    days, _ = _session_table()
    i = int(np.searchsorted(days, day, side="right")) - 1
    if i < 0:
        raise ValueError(f"no NYSE session on or before {_as_date(d).isoformat()} in the calendar")
    return _to_date(days[i])


def previous_session(d: dt.date) -> dt.date:
    """The last session strictly before ``d`` (``d`` need not be a session)."""
    day = _checked(d, "date")
    days, _ = _session_table()
    i = int(np.searchsorted(days, day, side="left")) - 1
    if i < 0:
        raise ValueError(f"no NYSE session before {_as_date(d).isoformat()} in the calendar")
    return _to_date(days[i])


def session_close(d: dt.date) -> dt.datetime:
    """Closing time of session ``d`` as a tz-aware America/New_York datetime.

    Early closes are respected (13:00 ET on e.g. 2024-11-29). ``ValueError`` when ``d``
    is not a session.
    """
    day = _checked(d, "date")
    days, close_ns = _session_table()
    i = int(np.searchsorted(days, day, side="left"))
    if i >= len(days) or days[i] != day:
        raise ValueError(f"{_as_date(d).isoformat()} is not an NYSE session")
    utc = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(close_ns[i]) // 1000)
    return utc.astimezone(NEW_YORK)

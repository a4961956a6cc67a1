"""NYSE trading sessions (exchange_calendars ``XNYS``) as plain ``datetime.date`` values.

Every function takes and returns ``datetime.date`` (a ``datetime``/``pd.Timestamp``
argument is reduced to its calendar date). The session table is built once per day
(kept in a cache file, see ``_cache_path``; once per process when that is unwritable)
and spans :data:`CALENDAR_START` up to the last session exchange_calendars knows
(about one year after today). A date outside
``calendar_bounds()`` raises ``ValueError`` naming the date and the bounds: the answer is
unknowable there, so the functions never guess.

Session closes respect early closes (e.g. the day after Thanksgiving closes at 13:00 ET)
and are returned tz-aware in America/New_York.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import logging
import os
import warnings
import zipfile
from pathlib import Path
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


SessionTable = tuple[npt.NDArray[np.datetime64], npt.NDArray[np.int64]]


@functools.lru_cache(maxsize=1)
def _session_table() -> SessionTable:
    """Sessions as ``datetime64[D]`` and their closes as UTC epoch nanoseconds.

    Building the calendar costs about half a second, most of a one-session CLI call, so
    the table is kept in a per-day cache file (see :func:`_cache_path`) and read back
    in a millisecond by later processes of the same day.
    """
    path = _cache_path()
    cached = _read_cached(path)
    if cached is not None:
        return cached
    cal = _calendar()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sessions = pd.DatetimeIndex(cal.sessions)
        closes = pd.DatetimeIndex(cal.closes)
    days = sessions.to_numpy().astype("datetime64[D]")
    close_ns = closes.tz_convert("UTC").tz_localize(None).as_unit("ns").asi8.copy()
    _write_cached(path, days, close_ns)
    days.setflags(write=False)
    close_ns.setflags(write=False)
    return days, close_ns


def _cache_path() -> Path:
    """``$XDG_CACHE_HOME`` (default ``~/.cache``) ``/alchemiser-dagster/xnys-VERSION-START-TODAY.npz``.

    The key holds what the table depends on: the exchange_calendars version (its holiday
    rules), :data:`CALENDAR_START`, and today's date (the calendar ends about a year
    after today, so a new day builds a new table).
    """
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    version = importlib.metadata.version("exchange_calendars")
    name = f"{_CACHE_PREFIX}{version}-{CALENDAR_START.isoformat()}-{dt.date.today().isoformat()}.npz"
    return root / "alchemiser-dagster" / name


_CACHE_PREFIX = "xnys-"
_LOG = logging.getLogger(__name__)


def _read_cached(path: Path) -> SessionTable | None:
    """The cached table, or None when there is none or it is not a well-formed one (rebuilt then)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            days, close_ns = stored["days"], stored["close_ns"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    well_formed = (
        days.dtype == np.dtype("datetime64[D]")
        and close_ns.dtype == np.dtype(np.int64)
        and days.ndim == close_ns.ndim == 1
        and len(days) == len(close_ns) > 0
        and bool((np.diff(days) > np.timedelta64(0, "D")).all())
    )
    if not well_formed:
        return None
    days.setflags(write=False)
    close_ns.setflags(write=False)
    return days, close_ns


def _write_cached(path: Path, days: npt.NDArray[np.datetime64], close_ns: npt.NDArray[np.int64]) -> None:
    """Write the table atomically and drop older days' files; an unwritable cache is logged and skipped.

    The cache only saves time: the table in memory is already right, so a read-only or
    full disk costs the next process the build again, never a wrong answer. The warning
    names the path and the OS error so a cache that never sticks can be found.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as out:
            np.savez(out, days=days, close_ns=close_ns)
        tmp.replace(path)
        for stale in path.parent.glob(f"{_CACHE_PREFIX}*.npz"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError as err:
        _LOG.warning("calendar cache not written (%s): %s; each process builds the calendar again", path, err)


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

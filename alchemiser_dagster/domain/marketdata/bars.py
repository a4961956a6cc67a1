"""Daily bars: one long table, validated once at the edge, then trusted.

A bars table has the columns :data:`BAR_COLUMNS`: ``symbol`` (str), ``date`` and the
numeric ``open high low close volume``. One row is one symbol on one session.

**Date representation.** After :func:`normalize_bars` the ``date`` column holds plain
python ``datetime.date`` objects (column dtype ``object``), the same type the calendar
functions, the strategy engine and :func:`close_matrix` use, so a session compares equal
everywhere without unit or timezone questions. Parquet stores it as ``date32`` and
reading it back yields ``datetime.date`` again.

Bars are sessions: every date is an NYSE (XNYS) session inside the calendar's range
(exchange_calendars knows sessions only about a year ahead, so a later date is an error,
not a guess), and a symbol has a bar on every session between its first and last one (a
hole would silently stretch a "1-day" return or a moving window across it). Prices are
consistent: ``low <= open, close <= high`` (within a relative ``PRICE_TOLERANCE`` for
float rounding of adjusted prices).

Bad data is never dropped or filled: every problem raises
:class:`~alchemiser_dagster.domain.errors.MarketDataError` whose message names the
source, the symbol and the date of the first offending row (in (symbol, date) order) and
how many rows are affected.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from alchemiser_dagster.domain.calendar import calendar_bounds, session_days
from alchemiser_dagster.domain.errors import MarketDataError

__all__ = [
    "BAR_COLUMNS",
    "PRICE_COLUMNS",
    "close_matrix",
    "normalize_bars",
    "read_bars",
    "write_bars",
]

#: Columns of a bars table, in the order :func:`normalize_bars` returns them.
BAR_COLUMNS: tuple[str, ...] = ("symbol", "date", "open", "high", "low", "close", "volume")
#: Numeric columns (all float64 after normalization).
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
_NUMERIC_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
#: Relative slack for ``low <= open, close <= high`` (float rounding of adjusted prices).
PRICE_TOLERANCE = 1e-9
#: How many missing sessions a gap message lists before "and N more".
_SHOWN_GAPS = 5


def _fail(
    source: str,
    problem: str,
    symbols: npt.NDArray[np.object_],
    dates: npt.NDArray[np.object_] | list[object],
    bad: npt.NDArray[np.bool_],
) -> MarketDataError:
    """Build the error for rows flagged in ``bad`` (first flagged row is reported)."""
    idx = np.flatnonzero(bad)
    first = int(idx[0])
    count = len(idx)
    date_value = dates[first]
    if isinstance(date_value, dt.date):
        date_text = date_value.isoformat()
    elif date_value is None or (isinstance(date_value, float | np.floating) and np.isnan(date_value)):
        date_text = "<no date>"
    else:
        date_text = repr(date_value)
    plural = "row" if count == 1 else "rows"
    return MarketDataError(
        f"{source}: {problem} for symbol {symbols[first]!s} on {date_text} ({count} {plural} affected)"
    )


def _symbol_text(
    raw: pd.Series, values: npt.NDArray[np.object_]
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]:
    """Each symbol as ``str`` and whether it is blank; all-string columns convert each distinct value once."""
    if pd.api.types.infer_dtype(raw, skipna=False) == "string":
        codes, uniques = pd.factorize(values)
        texts = np.asarray([str(s) for s in uniques], dtype=object)
        blank = np.asarray([not s.strip() for s in texts], dtype=bool)
        return texts[codes], blank[codes]
    symbols = np.asarray([str(s) for s in values], dtype=object)
    return symbols, np.asarray([not s.strip() for s in symbols], dtype=bool)


def _parse_dates(raw: pd.Series, symbols: npt.NDArray[np.object_], source: str) -> npt.NDArray[np.datetime64]:
    """The ``date`` column as ``datetime64[D]`` (calendar date in each value's own zone)."""
    dtype = raw.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        parsed = raw.dt.tz_localize(None)
    elif pd.api.types.is_datetime64_dtype(dtype):
        parsed = raw
    else:
        values = raw.to_numpy(dtype=object)
        missing = pd.isna(raw).to_numpy(dtype=bool)
        if missing.any():
            raise _fail(source, "missing date", symbols, list(values), missing)
        try:
            parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        except (ValueError, TypeError):  # e.g. a mix of time zones: go value by value
            parsed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[s]")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)
        days: npt.NDArray[np.datetime64] = parsed.to_numpy().astype("datetime64[D]")
        unparsed = np.isnat(days)
        for i in np.flatnonzero(unparsed):
            value = values[i]
            if isinstance(value, dt.datetime):  # tz-aware values in mixed zones
                days[i] = np.datetime64(value.date(), "D")
                unparsed[i] = False
            elif isinstance(value, dt.date):
                days[i] = np.datetime64(value, "D")
                unparsed[i] = False
        if unparsed.any():
            raise _fail(source, "unparseable date", symbols, list(values), unparsed)
        return days
    days = parsed.to_numpy().astype("datetime64[D]")
    nat = np.isnat(days)
    if nat.any():
        raise _fail(source, "missing date", symbols, [None] * len(nat), nat)
    return days


def _as_float(
    raw: pd.Series,
    column: str,
    symbols: npt.NDArray[np.object_],
    dates: npt.NDArray[np.object_],
    source: str,
) -> npt.NDArray[np.float64]:
    try:
        return np.asarray(raw.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    except (ValueError, TypeError):
        coerced = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.isnan(coerced) & ~pd.isna(raw).to_numpy(dtype=bool)
        raise _fail(source, f"non-numeric {column}", symbols, dates, bad) from None


def normalize_bars(df: pd.DataFrame, *, source: str = "<frame>") -> pd.DataFrame:
    """Validate a bars table and return it in canonical form.

    Accepted ``date`` inputs: ``datetime.date``/``datetime`` objects, pandas Timestamps or
    ``datetime64`` columns of any unit (tz-naive, or tz-aware: the calendar date in the
    value's own time zone is kept), and ISO ``'YYYY-MM-DD'`` strings. Any time of day is
    discarded.

    Returns a new frame with exactly :data:`BAR_COLUMNS` (extra columns are not carried
    over): ``symbol`` as str, ``date`` as python ``datetime.date`` objects (dtype
    ``object``), the numeric columns as float64; sorted by (symbol, date), index reset.

    Raises :class:`MarketDataError` (message names ``source``, symbol, date and number of
    rows affected) for: missing columns, missing/empty symbols, missing or unparseable
    dates, non-numeric values, duplicate (symbol, date) rows, NaN/infinite or non-positive
    ``close``, NaN/infinite or non-positive ``open``/``high``/``low``, NaN/infinite or
    negative ``volume``.
    """
    missing_cols = [c for c in BAR_COLUMNS if c not in df.columns]
    if missing_cols:
        raise MarketDataError(
            f"{source}: bars are missing column(s) {', '.join(missing_cols)} "
            f"(have: {', '.join(map(str, df.columns))})"
        )
    n = len(df)
    raw_dates = df["date"].to_numpy(dtype=object)

    sym_raw = df["symbol"]
    sym_missing = pd.isna(sym_raw).to_numpy(dtype=bool)
    symbols_obj = sym_raw.to_numpy(dtype=object)
    if sym_missing.any():
        raise _fail(source, "missing symbol", symbols_obj, raw_dates, sym_missing)
    symbols, empty = _symbol_text(sym_raw, symbols_obj)
    if n and empty.any():
        raise _fail(source, "empty symbol", symbols, raw_dates, empty)

    days = _parse_dates(df["date"], symbols, source)

    # Sort first so that "the first offending row" is well defined: (symbol, date) order.
    sym_codes, _ = pd.factorize(symbols, sort=True)
    order = np.lexsort((days.astype(np.int64), sym_codes))
    symbols = symbols[order]
    days = days[order]
    dates = days.astype(object)

    numeric = {col: _as_float(df[col].iloc[order], col, symbols, dates, source) for col in _NUMERIC_COLUMNS}

    if n > 1:
        same = (sym_codes[order][1:] == sym_codes[order][:-1]) & (days[1:] == days[:-1])
        if same.any():
            dup = np.zeros(n, dtype=bool)
            dup[1:] |= same
            dup[:-1] |= same
            raise _fail(source, "duplicate (symbol, date) rows", symbols, dates, dup)
    _check_sessions(source, symbols, days, dates)

    close = numeric["close"]
    bad_close = ~np.isfinite(close) | ~(close > 0)
    if bad_close.any():
        raise _fail(source, "NaN, infinite or non-positive close", symbols, dates, bad_close)
    for col in ("open", "high", "low"):
        values = numeric[col]
        nonfinite = ~np.isfinite(values)
        if nonfinite.any():
            raise _fail(source, f"NaN or infinite {col}", symbols, dates, nonfinite)
        nonpositive = ~(values > 0)
        if nonpositive.any():
            raise _fail(source, f"non-positive {col}", symbols, dates, nonpositive)
    _check_price_order(source, symbols, dates, numeric)
    volume = numeric["volume"]
    bad_volume = ~np.isfinite(volume) | (volume < 0)
    if bad_volume.any():
        raise _fail(source, "NaN, infinite or negative volume", symbols, dates, bad_volume)

    out = pd.DataFrame(
        {
            "symbol": pd.array(symbols, dtype="str"),
            "date": pd.Series(dates, dtype=object),
            **{col: numeric[col] for col in _NUMERIC_COLUMNS},
        },
        columns=list(BAR_COLUMNS),
    )
    return out


def _check_sessions(
    source: str,
    symbols: npt.NDArray[np.object_],
    days: npt.NDArray[np.datetime64],
    dates: npt.NDArray[np.object_],
) -> None:
    """Every date is an NYSE session in the calendar's range; no symbol skips one (sorted input)."""
    first, last = calendar_bounds()
    outside = (days < np.datetime64(first, "D")) | (days > np.datetime64(last, "D"))
    if outside.any():
        raise _fail(
            source,
            f"date outside the NYSE calendar's range {first}..{last} (no session is known there)",
            symbols,
            dates,
            outside,
        )
    sessions = session_days()
    position = np.searchsorted(sessions, days)
    not_session = sessions[position] != days
    if not_session.any():
        raise _fail(
            source,
            "date that is not an NYSE session (a weekend or an exchange holiday)",
            symbols,
            dates,
            not_session,
        )
    if len(days) < 2:
        return
    gap = (symbols[1:] == symbols[:-1]) & (np.diff(position) > 1)
    if gap.any():
        symbol = symbols[int(np.flatnonzero(gap)[0])]
        own = np.flatnonzero(symbols == symbol)
        held = position[own]
        missing = np.setdiff1d(np.arange(held[0], held[-1] + 1), held)
        shown = ", ".join(str(_as_date(sessions[i])) for i in missing[:_SHOWN_GAPS])
        more = f" and {len(missing) - _SHOWN_GAPS} more" if len(missing) > _SHOWN_GAPS else ""
        others = len({str(s) for s in symbols[1:][gap]}) - 1
        also = f" ({others} more symbol(s) have gaps)" if others else ""
        raise MarketDataError(
            f"{source}: {symbol} lacks {len(missing)} session(s) after its first bar {dates[own[0]]}:"
            f" {shown}{more}{also}"
        )


def _check_price_order(
    source: str,
    symbols: npt.NDArray[np.object_],
    dates: npt.NDArray[np.object_],
    numeric: dict[str, npt.NDArray[np.float64]],
) -> None:
    """``low <= high`` and ``open``/``close`` within ``[low, high]`` (relative tolerance)."""
    high, low = numeric["high"], numeric["low"]
    slack = PRICE_TOLERANCE * high
    inverted = high < low - slack
    if inverted.any():
        raise _fail(source, "high below low", symbols, dates, inverted)
    for col in ("open", "close"):
        values = numeric[col]
        outside = (values > high + slack) | (values < low - slack)
        if outside.any():
            raise _fail(source, f"{col} outside [low, high]", symbols, dates, outside)


def _as_date(day: np.datetime64) -> dt.date:
    value = day.astype("datetime64[D]").astype(object)
    assert isinstance(value, dt.date)
    return value


def read_bars(path: str | Path) -> pd.DataFrame:
    """Read a parquet bars file and return it normalized (see :func:`normalize_bars`).

    A missing or unreadable file raises :class:`MarketDataError` naming the path.
    """
    p = Path(path)
    if not p.is_file():
        raise MarketDataError(f"{p}: bars file not found")
    try:
        df = pd.read_parquet(p)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise MarketDataError(f"{p}: cannot read bars parquet: {exc}") from exc
    return normalize_bars(df, source=str(p))


def write_bars(df: pd.DataFrame, path: str | Path) -> Path:
    """Validate ``df`` and write it as parquet (``date`` as ``date32``); returns the path.

    Creates the parent directory. Invalid bars raise :class:`MarketDataError` and nothing
    is written.
    """
    p = Path(path)
    bars = normalize_bars(df, source=str(p))
    p.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(bars, preserve_index=False)
    tmp = p.with_name(p.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(p)
    return p


def close_matrix(
    df: pd.DataFrame, *, sessions: list[dt.date] | None = None
) -> tuple[list[dt.date], list[str], npt.NDArray[np.float64]]:
    """Wide closes: ``(sessions, symbols, matrix)`` with ``matrix[i, j]`` = close of
    ``symbols[j]`` on ``sessions[i]`` (float64, NaN where that symbol has no bar).

    ``sessions`` are the distinct dates of the table ascending, ``symbols`` the distinct
    symbols sorted. Expects normalized bars (from :func:`normalize_bars`,
    :func:`read_bars` or the synthetic generator); duplicate (symbol, date) rows raise
    :class:`MarketDataError`. With ``sessions`` (ascending, holding every date of the
    table, e.g. ``SymbolBars.sessions`` of a file), those are the rows instead.
    """
    for col in ("symbol", "date", "close"):
        if col not in df.columns:
            raise MarketDataError(f"<frame>: bars are missing column {col}")
    days = pd.to_datetime(df["date"]).to_numpy().astype("datetime64[D]")
    if sessions is None:
        day_codes, day_uniques = pd.factorize(days, sort=True)
    else:
        day_uniques = np.asarray(sessions, dtype="datetime64[D]")
        day_codes = np.minimum(np.searchsorted(day_uniques, days), max(len(day_uniques) - 1, 0))
        if len(days) and (len(day_uniques) == 0 or (day_uniques[day_codes] != days).any()):
            raise MarketDataError("<frame>: bars have a date that is not among the given sessions")
    sym_codes, sym_uniques = pd.factorize(df["symbol"].astype(str).to_numpy(), sort=True)
    matrix = np.full((len(day_uniques), len(sym_uniques)), np.nan, dtype=np.float64)
    counts = np.zeros(matrix.shape, dtype=np.int64)
    np.add.at(counts, (day_codes, sym_codes), 1)
    if (counts > 1).any():
        i, j = np.argwhere(counts > 1)[0]
        session = np.datetime64(day_uniques[i], "D").astype(object)
        raise MarketDataError(
            f"<frame>: duplicate (symbol, date) rows for symbol {sym_uniques[j]} on "
            f"{session} ({int((counts[counts > 1]).sum())} rows affected)"
        )
    matrix[day_codes, sym_codes] = df["close"].to_numpy(dtype=np.float64, na_value=np.nan)
    sessions = [d for d in np.asarray(day_uniques, dtype="datetime64[D]").astype(object)]
    return sessions, [str(s) for s in sym_uniques], matrix

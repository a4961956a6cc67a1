"""Reading only some symbols' bars, with the same result and the same errors as a full read.

One `strategy eval` reads a handful of symbols; converting and validating every row of a
bars file of hundreds of symbols costs most of its time. :func:`read_symbol_bars` first
checks the whole file column-wise in Arrow (cheap: no per-row Python objects) against
the rules :func:`~alchemiser_dagster.domain.marketdata.bars.normalize_bars` enforces, then
converts and validates only the requested symbols' rows with ``normalize_bars`` itself.
When the whole-file check has any doubt (a rule broken, or a column not of the plain
parquet type that :func:`~alchemiser_dagster.domain.marketdata.bars.write_bars` writes) it
falls back to the full read, so a bad file fails exactly as it always did: same error,
naming the same first offending row. The check can only send more files to the full
read, never let a row of a requested symbol skip ``normalize_bars``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alchemiser_dagster.domain.calendar import calendar_bounds, session_days
from alchemiser_dagster.domain.errors import MarketDataError
from alchemiser_dagster.domain.marketdata.bars import (
    BAR_COLUMNS,
    PRICE_TOLERANCE,
    normalize_bars,
    read_bars,
)

__all__ = ["SymbolBars", "read_symbol_bars"]


@dataclass(frozen=True)
class SymbolBars:
    """Some symbols' normalized bars, and the sessions (distinct dates) of the whole file."""

    bars: pd.DataFrame
    sessions: list[dt.date]


def read_symbol_bars(path: str | Path, symbols: Iterable[str]) -> SymbolBars:
    """The rows of ``symbols`` that the file has, normalized; a symbol it lacks is simply absent.

    ``sessions`` are the distinct dates of the whole file, as a full read's are, so the
    session list does not depend on which symbols were asked for.
    """
    p = Path(path)
    wanted = sorted(set(symbols))
    table = _read_table(p)
    sessions = _sessions_if_valid(table)
    if sessions is None:
        full = read_bars(p)
        own = full.loc[full["symbol"].isin(wanted)].reset_index(drop=True)
        return SymbolBars(own, sorted(set(full["date"])))
    mask = pc.is_in(table.column("symbol"), value_set=pa.array(wanted, type=pa.string()))
    own = normalize_bars(table.filter(mask).to_pandas(), source=str(p))
    return SymbolBars(own, sessions)


def _read_table(p: Path) -> pa.Table:
    if not p.is_file():
        raise MarketDataError(f"{p}: bars file not found")
    try:
        return pq.read_table(p)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise MarketDataError(f"{p}: cannot read bars parquet: {exc}") from exc


def _sessions_if_valid(table: pa.Table) -> list[dt.date] | None:
    """The file's distinct dates when every row passes ``normalize_bars``'s rules, else None."""
    if not set(table.column_names).issuperset(BAR_COLUMNS):
        return None
    if any(table.column(name).null_count for name in BAR_COLUMNS):
        return None
    symbol, date = table.column("symbol"), table.column("date")
    if not (pa.types.is_string(symbol.type) or pa.types.is_large_string(symbol.type)):
        return None
    if not pa.types.is_date32(date.type):
        return None
    if not all(pa.types.is_float64(table.column(name).type) for name in BAR_COLUMNS[2:]):
        return None
    if table.num_rows == 0:
        return []
    encoded = pc.dictionary_encode(symbol.combine_chunks())
    if any(not name.strip() for name in encoded.dictionary.to_pylist()):
        return None
    dates = date.to_numpy().astype("datetime64[D]")
    days = np.unique(dates)
    known = _known_positions(days)
    if known is None or not _prices_valid(table):
        return None
    # No duplicate (symbol, date) and no symbol skipping a session: in (symbol, session)
    # order, each row of a symbol is exactly one session after the one before it.
    position = known[np.searchsorted(days, dates)]
    keys = np.sort((encoded.indices.to_numpy().astype(np.int64) << 32) | position)
    same_symbol = (keys[1:] >> 32) == (keys[:-1] >> 32)
    if (np.diff(keys & 0xFFFFFFFF)[same_symbol] != 1).any():
        return None
    sessions: list[dt.date] = list(days.astype(object))
    return sessions


def _known_positions(days: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int64] | None:
    """Each distinct date's position among the calendar's sessions; None if one is not a session."""
    first, last = calendar_bounds()
    if days[0] < np.datetime64(first, "D") or days[-1] > np.datetime64(last, "D"):
        return None
    sessions = session_days()
    position = np.searchsorted(sessions, days)
    if (sessions[np.minimum(position, len(sessions) - 1)] != days).any():
        return None
    return position.astype(np.int64)


def _prices_valid(table: pa.Table) -> bool:
    """Finite positive prices, finite non-negative volume, ``open``/``close`` in ``[low, high]``."""
    prices = {name: table.column(name).to_numpy() for name in ("open", "high", "low", "close", "volume")}
    high, low = prices["high"], prices["low"]
    ok = all(
        np.isfinite(prices[name]).all() and (prices[name] > 0).all()
        for name in ("open", "high", "low", "close")
    )
    if not ok:
        return False
    volume = prices["volume"]
    if not (np.isfinite(volume).all() and (volume >= 0).all()):
        return False
    slack = PRICE_TOLERANCE * high
    if (high < low - slack).any():
        return False
    return not any(((prices[c] > high + slack) | (prices[c] < low - slack)).any() for c in ("open", "close"))

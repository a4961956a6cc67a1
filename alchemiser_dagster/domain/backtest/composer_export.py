"""Target-weights histories from a file: `date,symbol,weight` CSV or Composer's allocation export.

A history maps each dated decision (taken after that session's close) to its weights, as
fractions of equity; what the weights leave out is cash. Composer's export
(`spec/composer-allocation-export.md`) is recognised by its `Date`/`Day Traded` header: BOM or
none, quoted or not, newest first or any order, `YYYY-MM-DD` or a spreadsheet's `M/D/YYYY`,
`-` for not held, `$USD` as cash, rows summing to 100 +- 0.5 % rescaled to 1. In the plain CSV
the symbol `$USD` is cash too, so an all-cash day can be written down. Duplicate dates and dates
that are not sessions of the bars are errors naming the file and the row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Collection
from pathlib import Path

from alchemiser_dagster.domain.constants import FLOAT_WEIGHT_SUM_TOLERANCE
from alchemiser_dagster.domain.errors import ConfigError

CASH = "$USD"
SUM_TOLERANCE_PCT = 0.5

WeightsHistory = dict[dt.date, dict[str, float]]


class WeightsFileError(ConfigError):
    """A weights history cannot be read; the message names the file and the row (1-based line)."""


def _date(text: str, where: str) -> dt.date:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise WeightsFileError(f"{where}: date {text!r} is neither YYYY-MM-DD nor M/D/YYYY")


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise WeightsFileError(f"{where}: weight {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise WeightsFileError(f"{where}: weight {text!r} must be a finite number >= 0")
    return value


def _rows(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8-sig")  # drops a BOM if there is one
    return [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]


def _composer_rows(path: Path, rows: list[list[str]]) -> list[tuple[dt.date, dict[str, float], str]]:
    header = [cell.strip() for cell in rows[0]]
    symbols = header[2:]
    if not symbols or len(set(symbols)) != len(symbols):
        raise WeightsFileError(f"{path}:1: header needs distinct symbol columns after Date, Day Traded")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        where = f"{path}:{line}"
        if len(row) != len(header):
            raise WeightsFileError(f"{where}: {len(row)} fields, the header has {len(header)}")
        day = _date(row[0], where)
        if row[1].strip() not in ("Yes", "No"):
            raise WeightsFileError(f"{where}: Day Traded is {row[1]!r}, expected Yes or No")
        percents: dict[str, float] = {}
        for symbol, raw in zip(symbols, row[2:], strict=True):
            cell = raw.strip()
            if cell in ("-", ""):
                continue
            if not cell.endswith("%"):
                raise WeightsFileError(f"{where}: {symbol} cell {cell!r} is not a percentage")
            percents[symbol] = _number(cell[:-1], f"{where}: {symbol}")
        total = sum(percents.values())
        if abs(total - 100.0) > SUM_TOLERANCE_PCT:
            raise WeightsFileError(f"{where} ({day}): cells add up to {total:g} %, not 100 +- 0.5 %")
        weights = {s: p / total for s, p in percents.items() if p > 0 and s != CASH}
        out.append((day, weights, where))
    return out


def _plain_rows(path: Path, rows: list[list[str]]) -> list[tuple[dt.date, dict[str, float], str]]:
    header = [cell.strip().lower() for cell in rows[0]]
    symbol_column = "symbol" if "symbol" in header else "ticker"
    if "date" not in header or symbol_column not in header or "weight" not in header:
        raise WeightsFileError(
            f"{path}:1: expected the columns date,symbol,weight (or Composer's export), got {rows[0]}"
        )
    at = {name: header.index(name) for name in ("date", symbol_column, "weight")}
    by_day: dict[dt.date, tuple[dict[str, float], str]] = {}
    for line, row in enumerate(rows[1:], start=2):
        where = f"{path}:{line}"
        if len(row) != len(header):
            raise WeightsFileError(f"{where}: {len(row)} fields, the header has {len(header)}")
        day = _date(row[at["date"]], where)
        symbol = row[at[symbol_column]].strip().upper()
        if not symbol:
            raise WeightsFileError(f"{where}: empty symbol")
        weight = _number(row[at["weight"]].strip(), where)
        weights, first = by_day.setdefault(day, ({}, where))
        if symbol in weights:
            raise WeightsFileError(f"{where}: {symbol} appears twice on {day} (first at {first})")
        weights[symbol] = weight
    out = []
    for day, (weights, where) in by_day.items():
        total = sum(weights.values())
        if total > 1 + FLOAT_WEIGHT_SUM_TOLERANCE:
            raise WeightsFileError(f"{where} ({day}): weights add up to {total:g}, more than 1")
        out.append((day, {s: w for s, w in weights.items() if w > 0 and s != CASH}, where))
    return out


def read_weights_history(path: Path, sessions: Collection[dt.date] | None = None) -> WeightsHistory:
    """The history in `path`, dates ascending; every date must be one of `sessions` (if given)."""
    rows = _rows(path)
    if not rows:
        raise WeightsFileError(f"{path}: empty file")
    first = [cell.strip() for cell in rows[0]]
    is_export = first[:2] == ["Date", "Day Traded"]
    dated = _composer_rows(path, rows) if is_export else _plain_rows(path, rows)
    if not dated:
        raise WeightsFileError(f"{path}: no rows after the header")
    history: WeightsHistory = {}
    seen: dict[dt.date, str] = {}
    allowed = set(sessions) if sessions is not None else None
    for day, weights, where in dated:
        if is_export and day in seen:
            raise WeightsFileError(f"{where}: date {day} repeats {seen[day]}")
        if allowed is not None and day not in allowed:
            raise WeightsFileError(f"{where}: {day} is not a session of the bars")
        seen[day] = where
        history[day] = weights
    return dict(sorted(history.items()))

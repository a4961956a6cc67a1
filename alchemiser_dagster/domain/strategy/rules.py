"""Static rules shared by both symphony readers (text and score JSON).

Each function takes plain values and returns the normalized value or raises
`RuleViolation` with a message; the reader turns that into a `DslValidationError` at
the place it read the value from (`FILE:LINE:COL` or `FILE:$.path`). Keeping the rules
here means a `.clj` file and its score-JSON export are held to exactly the same limits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Final

from alchemiser_dagster.domain.constants import FLOAT_WEIGHT_SUM_TOLERANCE
from alchemiser_dagster.domain.portfolio.trading import FREQUENCIES
from alchemiser_dagster.domain.strategy.ast import CONTROL_CHARS, Asset, Loc, Node, SortKey
from alchemiser_dagster.domain.strategy.indicators import INDICATOR_NAMES

PERCENT_TOTAL: Final = 100.0
# Windows and counts are session counts; anything beyond this is a typo, not a strategy.
MAX_WINDOW: Final = 100_000
# The largest real symphony seen is 2.3 MB (score JSON); a file this big is not a strategy
# but would cost minutes and gigabytes to read.
MAX_SYMPHONY_BYTES: Final = 16 * 1024 * 1024


# Names other tools write for our indicators and nodes (spec §9).
# Composer's spellings of our indicators (text and score JSON); the writers use them too.
COMPOSER_INDICATOR_NAMES: Final[Mapping[str, str]] = {
    "relative-strength-index": "rsi",
    "standard-deviation-return": "stdev-return",
    "standard-deviation-price": "stdev-price",
}
INDICATOR_ALIASES: Final[Mapping[str, str]] = {
    **COMPOSER_INDICATOR_NAMES,
    "moving-average": "moving-average-price",
}
# Score JSON fn names: Composer's own spellings plus the §1 names.
JSON_FN_NAMES: Final[Mapping[str, str]] = {
    **{name: name for name in INDICATOR_NAMES},
    **COMPOSER_INDICATOR_NAMES,
}
NODE_ALIASES: Final[Mapping[str, str]] = {"weight-inverse-vol": "weight-inverse-volatility"}
# Sort keys that have a meaning over a non-asset candidate's return stream (spec §2).
STREAM_SORT_KEYS: Final = frozenset(
    {"moving-average-return", "cumulative-return", "stdev-return", "max-drawdown", "rsi"}
)
# A window of one bar makes these constant zero: a typo, never a strategy.
_ZERO_AT_WINDOW_ONE: Final = frozenset({"stdev-return", "max-drawdown"})

_EQUITY_TICKER = re.compile(r"EQUITIES::(?P<symbol>.+)//USD")


class RuleViolation(ValueError):
    """A value breaks a static rule; the reader adds where it was read."""


def indicator_name(raw: str) -> str | None:
    """The engine's name for an indicator spelled `raw` in text, or None if unknown."""
    name = INDICATOR_ALIASES.get(raw, raw)
    return name if name in INDICATOR_NAMES else None


def ticker(raw: str, what: str = "asset symbol") -> str:
    """The plain US-equity symbol of a ticker: `EQUITIES::SPY//USD` -> `SPY`.

    Crypto and other asset classes are refused (the daily graph trades US equities), as
    are empty symbols and symbols with control characters, which would break the
    one-line `FILE:LINE:COL` error format and every report that prints them.
    """
    if CONTROL_CHARS.search(raw):
        raise RuleViolation(f"{what} {raw!r} contains a control character")
    symbol = raw.strip()
    if not symbol:
        raise RuleViolation(f"{what} is empty")
    if "::" in symbol:
        match = _EQUITY_TICKER.fullmatch(symbol)
        if match is None:
            raise RuleViolation(
                f"{what} {raw!r} is not a US equity (only EQUITIES::SYMBOL//USD is supported;"
                " the daily graph trades US equities)"
            )
        symbol = match.group("symbol").strip()
        if not symbol or "::" in symbol or "//" in symbol:
            raise RuleViolation(f"{what} {raw!r} has no usable symbol")
    return symbol


def window(value: float, what: str) -> int:
    """An integral window/count >= 1 (`10.0` is 10) and at most `MAX_WINDOW`."""
    if math.isnan(value) or value < 1:
        raise RuleViolation(f"{what} must be an integer >= 1, found {_short(value)}")
    if value > MAX_WINDOW:
        raise RuleViolation(f"{what} must be at most {MAX_WINDOW:,}, found {_short(value)}")
    if value != int(value):
        raise RuleViolation(f"{what} must be an integer >= 1, found {_short(value)}")
    return int(value)


def indicator_window(indicator: str, value: int) -> int:
    """Windows that make an indicator meaningless are refused at load."""
    if indicator in _ZERO_AT_WINDOW_ONE and value < 2:
        raise RuleViolation(f"{indicator} with window 1 is always 0; use a window >= 2")
    if indicator == "stdev-price" and value < 2:
        raise RuleViolation("stdev-price needs :window >= 2 (a sample deviation of one close is undefined)")
    return value


def inverse_volatility_window(value: int) -> int:
    if value < 2:
        raise RuleViolation(
            "weight-inverse-volatility window 1 has zero volatility for every child; use a window >= 2"
        )
    return value


def weights(values: Sequence[float]) -> tuple[float, ...]:
    """Fractions from weights given as fractions (sum 1) or percents (sum 100).

    Any other sum is an error, never renormalized: a typo in a weight must not
    silently move money between the other children.
    """
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise RuleViolation(f"weights must be finite and >= 0, found {list(values)}")
    total = math.fsum(values)
    if abs(total - 1.0) <= FLOAT_WEIGHT_SUM_TOLERANCE:
        return tuple(values)
    if abs(total - PERCENT_TOTAL) <= FLOAT_WEIGHT_SUM_TOLERANCE:
        return tuple(v / PERCENT_TOTAL for v in values)
    raise RuleViolation(f"weights must sum to 1 (fractions) or 100 (percents), they sum to {total:.6g}")


def frequency(value: object) -> str:
    if not (isinstance(value, str) and value in FREQUENCIES):
        raise RuleViolation(f"rebalance frequency must be one of {', '.join(FREQUENCIES)}, found {value!r}")
    return value


def threshold(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleViolation(f"rebalance threshold must be a number, found {value!r}")
    fraction = float(value)
    if not (math.isfinite(fraction) and 0.0 < fraction <= 1.0):
        raise RuleViolation(
            f"rebalance threshold must be a weight fraction in (0, 1], found {_short(fraction)}"
        )
    return fraction


def unique_candidates(candidates: tuple[Node, ...]) -> tuple[Node, ...]:
    """A repeated asset in one candidate list keeps its first place (spec §2)."""
    seen: set[str] = set()
    kept: list[Node] = []
    for candidate in candidates:
        if isinstance(candidate, Asset):
            if candidate.symbol in seen:
                continue
            seen.add(candidate.symbol)
        kept.append(candidate)
    return tuple(kept)


def check_sort_key(key: SortKey, candidates: tuple[Node, ...]) -> None:
    """Price-only sort keys cannot rank a candidate that is not an asset (spec §2)."""
    if key.indicator in STREAM_SORT_KEYS:
        return
    for candidate in candidates:
        if not isinstance(candidate, Asset):
            raise RuleViolation(
                f"sort key {key.render()} cannot rank a non-asset candidate ({_where(candidate.loc)});"
                f" use one of {', '.join(sorted(STREAM_SORT_KEYS))}"
            )


def _where(loc: Loc) -> str:
    return f"at {loc.path}" if loc.path is not None else f"line {loc.line} column {loc.column}"


def _short(value: float) -> str:
    return repr(value)[:40]

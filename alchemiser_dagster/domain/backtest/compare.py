"""Our daily targets beside a recorded history (Composer's): which days agree, and the first that does not.

Two decisions for a session agree when they hold the same symbols and every weight is within
`tolerance` (default 0.005, half a percentage point: Composer's export rounds to 0.1 %, the
`date,symbol,weight` files to 0.001) of the other's. Only sessions both sides decided are compared.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import NamedTuple

AGREEMENT_TOLERANCE = 0.005

Decisions = Mapping[dt.date, Mapping[str, float]]


class DayAgreement(NamedTuple):
    session: dt.date
    agree: bool
    max_difference: float  # largest |our weight - their weight| over the symbols of either
    only_ours: tuple[str, ...]  # held by us, not by them
    only_theirs: tuple[str, ...]
    ours: dict[str, float]
    theirs: dict[str, float]


def compare_day(
    session: dt.date, ours: Mapping[str, float], theirs: Mapping[str, float], tolerance: float
) -> DayAgreement:
    mine = {s: float(w) for s, w in ours.items() if w > 0}
    other = {s: float(w) for s, w in theirs.items() if w > 0}
    symbols = set(mine) | set(other)
    largest = max((abs(mine.get(s, 0.0) - other.get(s, 0.0)) for s in symbols), default=0.0)
    only_ours = tuple(sorted(set(mine) - set(other)))
    only_theirs = tuple(sorted(set(other) - set(mine)))
    agree = not only_ours and not only_theirs and largest <= tolerance
    return DayAgreement(session, agree, largest, only_ours, only_theirs, mine, other)


def compare_decisions(
    ours: Decisions, theirs: Decisions, tolerance: float = AGREEMENT_TOLERANCE
) -> list[DayAgreement]:
    """One row per session both sides decided, in session order."""
    return [compare_day(day, ours[day], theirs[day], tolerance) for day in sorted(set(ours) & set(theirs))]


def first_divergence(days: list[DayAgreement]) -> DayAgreement | None:
    return next((day for day in days if not day.agree), None)


def weights_text(weights: Mapping[str, float]) -> str:
    return (
        ", ".join(f"{s} {w:.2%}" for s, w in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0])))
        or "cash"
    )

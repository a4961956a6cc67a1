"""A symphony's trading setting (spec §10): when its sleeve goes back to target.

Parsed from the symphony's own options, `:rebalance-frequency` and `:rebalance-threshold`
(the score-JSON reader maps `rebalance` and `rebalance-corridor-width` onto the same keys).
A frequency absent means daily, except next to a threshold: Composer's own exports write a
threshold symphony as `{:rebalance-threshold 0.1}` with no frequency (its JSON says
`rebalance: "none"`), so a threshold alone is the threshold rule only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import Field

from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.model import FrozenModel

Frequency = Literal["daily", "weekly", "monthly", "quarterly", "yearly", "none"]
FREQUENCIES: tuple[str, ...] = get_args(Frequency)
FREQUENCY_OPTION = "rebalance-frequency"
THRESHOLD_OPTION = "rebalance-threshold"


class TradingSetting(FrozenModel):
    """`frequency` plus an optional `threshold` (a weight fraction in (0, 1], absolute)."""

    frequency: Frequency = "daily"
    threshold: float | None = Field(default=None, gt=0, le=1)

    def label(self) -> str:
        """How people say it: "weekly", "threshold 5 %", "monthly or threshold 10 %"."""
        corridor = f"threshold {percent_points(self.threshold)} %" if self.threshold is not None else ""
        if self.frequency == "none":
            return corridor or "none (buy and hold)"
        return f"{self.frequency} or {corridor}" if corridor else self.frequency


def percent_points(fraction: float) -> str:
    """0.05 -> "5", 0.125 -> "12.5": a weight fraction in percent, without noise."""
    return f"{fraction * 100:.4g}"


def trading_setting(source: str, options: Mapping[str, object]) -> TradingSetting:
    """The setting of a symphony's options; a bad value is a ConfigError naming `source`."""
    raw_frequency = options.get(FREQUENCY_OPTION)
    raw_threshold = options.get(THRESHOLD_OPTION)
    threshold: float | None = None
    if raw_threshold is not None:
        if (
            isinstance(raw_threshold, bool)
            or not isinstance(raw_threshold, int | float)
            or not 0 < raw_threshold <= 1
        ):
            raise ConfigError(
                f"{source}: :{THRESHOLD_OPTION} must be a number in (0, 1], got {raw_threshold!r}"
            )
        threshold = float(raw_threshold)
    if raw_frequency is None:
        return TradingSetting(frequency="daily" if threshold is None else "none", threshold=threshold)
    frequency = str(raw_frequency).removeprefix(":").lower()
    if isinstance(raw_frequency, bool) or frequency not in FREQUENCIES:
        raise ConfigError(
            f"{source}: :{FREQUENCY_OPTION} must be one of {', '.join(FREQUENCIES)}, got {raw_frequency!r}"
        )
    return TradingSetting(frequency=frequency, threshold=threshold)  # type: ignore[arg-type]


def period_of(frequency: Frequency, session: dt.date) -> tuple[int, ...]:
    """The calendar period a session lies in: ISO week, month, quarter or year."""
    if frequency == "weekly":
        iso = session.isocalendar()
        return (iso.year, iso.week)
    if frequency == "monthly":
        return (session.year, session.month)
    if frequency == "quarterly":
        return (session.year, (session.month - 1) // 3)
    if frequency == "yearly":
        return (session.year,)
    raise ValueError(f"{frequency!r} has no calendar period")


def rebalance_day(frequency: Frequency, last_marked: dt.date, session: dt.date) -> bool:
    """Whether a rebalance session of `frequency` lies in (last_marked, session].

    The first session of a period is the first one whose previous session lies in an
    earlier period, so with `last_marked` the previous session this is "`session` opens a
    new ISO week / month / quarter / year" on the NYSE calendar (a holiday Monday makes
    Tuesday the week's first session). With a gap (sessions not run) it also says whether
    a rebalance session was missed in between.
    """
    if frequency == "daily":
        return True
    if frequency == "none":
        return False
    return period_of(frequency, last_marked) != period_of(frequency, session)

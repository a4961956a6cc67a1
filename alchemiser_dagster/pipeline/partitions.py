"""The daily partitions: one key per NYSE session, nothing else.

Weekends are excluded by cron and every weekday that is not a session (holidays) by
date, so requesting a holiday's key fails loudly. `end_offset=1` makes today's key
exist during the trading day (without it, it appears only at midnight).
"""

import datetime as dt
import warnings
from functools import cache

import dagster as dg

from alchemiser_dagster.domain.calendar import calendar_bounds, is_session
from alchemiser_dagster.domain.constants import MARKET_TIMEZONE

# Checks are partitioned by session too (each result tied to its day in the UI and the
# alerts). Dagster 1.13 calls partitioned checks a preview; the version is pinned exactly,
# so the warning is known and silenced here, where every check module gets its partitions.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec is currently in preview"
)

FIRST_SESSION = "2019-01-02"
TIMEZONE = MARKET_TIMEZONE


@cache
def non_session_weekdays() -> tuple[dt.datetime, ...]:
    """Every Monday-Friday without an NYSE session from FIRST_SESSION to the calendar's horizon."""
    start = dt.date.fromisoformat(FIRST_SESSION)
    _, horizon = calendar_bounds()
    days = (start + dt.timedelta(days=n) for n in range((horizon - start).days + 1))
    return tuple(dt.datetime(d.year, d.month, d.day) for d in days if d.weekday() < 5 and not is_session(d))


nyse_sessions = dg.DailyPartitionsDefinition(
    start_date=FIRST_SESSION,
    timezone=TIMEZONE,
    end_offset=1,
    exclusions=["0 0 * * 6,0", *non_session_weekdays()],
)

"""The daily partitions: one key per NYSE session, nothing else.

Weekends are excluded by cron and every weekday that is not a session (holidays) by
date, so requesting a holiday's key fails loudly. `end_offset=1` makes today's key
exist during the trading day (without it, it appears only at midnight).
"""

import datetime as dt
from functools import cache

import dagster as dg

from alchemiser_dagster.domain.calendar import calendar_bounds, is_session

FIRST_SESSION = "2019-01-02"
TIMEZONE = "America/New_York"


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

"""The daily trigger: 15 minutes before the close of every NYSE session, nothing otherwise.

One schedule ticks at 12:45 and 15:45 New York time on weekdays; each tick asks the
calendar whether today is a session and whether this tick is 15 minutes before its
close (16:00, or 13:00 on half days). Only that tick requests D's partition, with
run_key D so a tick can never start a second run for the same day.
"""

import datetime as dt
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from alchemiser_dagster.domain.calendar import is_session, session_close
from alchemiser_dagster.domain.constants import NEW_YORK
from alchemiser_dagster.pipeline.partitions import TIMEZONE

LEAD = dt.timedelta(minutes=15)
CRON = "45 12,15 * * 1-5"


def decide_tick(now: dt.datetime) -> dg.RunRequest | dg.SkipReason:
    """RunRequest for D when `now` (New York) is 15 minutes before D's close, else why not."""
    day = now.date()
    if not is_session(day):
        return dg.SkipReason(f"{day} is not an NYSE session")
    run_at = session_close(day) - LEAD
    if (now.hour, now.minute) != (run_at.hour, run_at.minute):
        return dg.SkipReason(f"{day} runs at {run_at:%H:%M} New York time (close {session_close(day):%H:%M})")
    key = day.isoformat()
    return dg.RunRequest(partition_key=key, run_key=key)


def build_daily_schedule(job: "dg.JobDefinition | UnresolvedAssetJobDefinition") -> dg.ScheduleDefinition:
    @dg.schedule(job=job, cron_schedule=CRON, execution_timezone=TIMEZONE, name="daily_rebalance_schedule")
    def daily_rebalance_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        scheduled = context.scheduled_execution_time
        if scheduled is None:
            return dg.SkipReason("no scheduled execution time")
        return decide_tick(scheduled.astimezone(NEW_YORK))

    return daily_rebalance_schedule

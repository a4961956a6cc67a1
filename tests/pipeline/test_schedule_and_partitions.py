"""The daily trigger and the partition set follow the NYSE calendar, half days included."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from alchemiser_dagster.pipeline.jobs import daily_rebalance_job
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.schedules import build_daily_schedule, decide_tick

NY = ZoneInfo("America/New_York")
schedule = build_daily_schedule(daily_rebalance_job)


@dg.asset(partitions_def=nyse_sessions)
def _probe(context: dg.AssetExecutionContext) -> None:
    context.log.info(context.partition_key)


REPOSITORY = dg.Definitions(
    assets=[_probe], jobs=[daily_rebalance_job], schedules=[schedule]
).get_repository_def()


def tick(day: str, hour: int, minute: int) -> dg.RunRequest | dg.SkipReason:
    when = dt.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=NY)
    context = dg.build_schedule_context(scheduled_execution_time=when, repository_def=REPOSITORY)
    result = schedule.evaluate_tick(context)
    if result.run_requests:
        (request,) = result.run_requests
        return request
    return dg.SkipReason(result.skip_message)


@pytest.mark.parametrize(
    ("day", "why"),
    [
        ("2024-06-29", "not an NYSE session"),
        ("2024-07-04", "not an NYSE session"),
        ("2024-03-29", "not an NYSE session"),
    ],
)
def test_weekends_and_holidays_skip(day: str, why: str) -> None:
    for hour in (12, 15):
        result = tick(day, hour, 45)
        assert isinstance(result, dg.SkipReason) and why in (result.skip_message or "")


def test_regular_session_runs_at_1545_only() -> None:
    assert isinstance(tick("2024-06-28", 12, 45), dg.SkipReason)
    request = tick("2024-06-28", 15, 45)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2024-06-28" and request.run_key == "2024-06-28"


def test_half_day_runs_15_minutes_before_the_early_close() -> None:
    request = tick("2024-11-29", 12, 45)  # day after Thanksgiving: close 13:00
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2024-11-29"
    late = tick("2024-11-29", 15, 45)
    assert isinstance(late, dg.SkipReason) and "12:45" in (late.skip_message or "")


def test_decide_tick_is_pure_and_rejects_other_minutes() -> None:
    assert isinstance(decide_tick(dt.datetime(2024, 6, 28, 15, 44, tzinfo=NY)), dg.SkipReason)


def test_partitions_are_exactly_the_sessions() -> None:
    assert nyse_sessions.has_partition_key("2024-06-28")
    for not_a_session in ("2024-06-29", "2024-07-04", "2024-03-29", "2024-12-25"):
        assert not nyse_sessions.has_partition_key(not_a_session)
    keys = nyse_sessions.get_partition_keys()
    assert len([k for k in keys if k.startswith("2024-01")]) == 21


def test_holiday_partition_key_is_rejected() -> None:
    assert dg.materialize([_probe], partition_key="2024-07-05").success
    with pytest.raises(dg.DagsterUnknownPartitionError, match="2024-07-04"):
        dg.materialize([_probe], partition_key="2024-07-04")

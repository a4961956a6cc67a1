from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from alchemiser_dagster.domain import calendar

D = dt.date


@pytest.mark.parametrize(
    "holiday",
    [D(2024, 7, 4), D(2024, 12, 25), D(2024, 3, 29), D(2024, 1, 1), D(2025, 1, 9)],
    ids=["independence", "christmas", "good-friday", "new-year", "carter-mourning"],
)
def test_holidays_are_not_sessions(holiday: dt.date) -> None:
    assert holiday.weekday() < 5
    assert not calendar.is_session(holiday)


def test_weekdays_and_weekends() -> None:
    assert calendar.is_session(D(2024, 7, 5))
    assert not calendar.is_session(D(2024, 7, 6))  # Saturday
    assert not calendar.is_session(D(2024, 7, 7))  # Sunday


def test_session_counts() -> None:
    assert len(calendar.nyse_sessions(D(2024, 1, 1), D(2024, 1, 31))) == 21
    assert len(calendar.nyse_sessions(D(2024, 1, 1), D(2024, 12, 31))) == 252
    july = calendar.nyse_sessions(D(2024, 7, 1), D(2024, 7, 31))
    assert D(2024, 7, 4) not in july
    assert july[0] == D(2024, 7, 1) and july[-1] == D(2024, 7, 31)
    assert all(type(d) is dt.date for d in july)
    assert july == sorted(july)


def test_nyse_sessions_inclusive_and_empty() -> None:
    assert calendar.nyse_sessions(D(2024, 7, 5), D(2024, 7, 5)) == [D(2024, 7, 5)]
    assert calendar.nyse_sessions(D(2024, 7, 6), D(2024, 7, 7)) == []
    assert calendar.nyse_sessions(D(2024, 7, 8), D(2024, 7, 1)) == []


def test_early_close_day_after_thanksgiving() -> None:
    close = calendar.session_close(D(2024, 11, 29))
    assert close.tzinfo is not None
    assert close == dt.datetime(2024, 11, 29, 13, 0, tzinfo=ZoneInfo("America/New_York"))
    assert close.hour == 13


def test_regular_close_is_16_et_across_dst() -> None:
    summer = calendar.session_close(D(2024, 7, 1))
    winter = calendar.session_close(D(2024, 12, 2))
    assert (summer.hour, winter.hour) == (16, 16)
    assert summer.utcoffset() == dt.timedelta(hours=-4)
    assert winter.utcoffset() == dt.timedelta(hours=-5)


def test_session_close_rejects_non_session() -> None:
    with pytest.raises(ValueError, match="not an NYSE session"):
        calendar.session_close(D(2024, 7, 4))


def test_previous_and_latest_session() -> None:
    assert calendar.previous_session(D(2024, 7, 5)) == D(2024, 7, 3)  # skips July 4th
    assert calendar.previous_session(D(2024, 7, 8)) == D(2024, 7, 5)  # Monday -> Friday
    assert calendar.previous_session(D(2024, 7, 6)) == D(2024, 7, 5)  # non-session input
    assert calendar.latest_session_on_or_before(D(2024, 7, 5)) == D(2024, 7, 5)
    assert calendar.latest_session_on_or_before(D(2024, 7, 7)) == D(2024, 7, 5)
    assert calendar.latest_session_on_or_before(D(2024, 3, 31)) == D(2024, 3, 28)


def test_datetime_arguments_are_reduced_to_dates() -> None:
    assert calendar.is_session(dt.datetime(2024, 7, 5, 23, 59))
    assert not calendar.is_session(dt.datetime(2024, 7, 4, 12, 0))


def test_outside_range_is_a_clear_value_error() -> None:
    first, last = calendar.calendar_bounds()
    assert first <= D(2000, 1, 3) and last >= D(2026, 1, 1)
    too_early = first - dt.timedelta(days=1)
    too_late = last + dt.timedelta(days=400)
    for func in (calendar.is_session, calendar.previous_session, calendar.session_close):
        with pytest.raises(ValueError, match="outside the NYSE calendar range"):
            func(too_early)
        with pytest.raises(ValueError, match="outside the NYSE calendar range"):
            func(too_late)
    with pytest.raises(ValueError, match="outside"):
        calendar.nyse_sessions(D(2024, 1, 1), too_late)
    with pytest.raises(ValueError, match="no NYSE session before"):
        calendar.previous_session(D(2000, 1, 3))

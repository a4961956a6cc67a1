"""Kill-switch states: what each allows, and the log that only grows."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from alchemiser_dagster.domain.broker import Side
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.risk.killswitch import (
    KILL_STATES,
    KillState,
    KillSwitchFlip,
    KillSwitchLog,
    allows,
    parse_state,
)

AT = dt.datetime(2024, 6, 28, 19, 45, tzinfo=dt.UTC)


def flip(state: KillState, minutes: int = 0, why: str = "because") -> KillSwitchFlip:
    return KillSwitchFlip(state=state, at=AT + dt.timedelta(minutes=minutes), who="ops", why=why)


@pytest.mark.parametrize(
    ("state", "side", "allowed"),
    [
        ("ACTIVE", "buy", True),
        ("ACTIVE", "sell", True),
        ("REDUCING", "buy", False),
        ("REDUCING", "sell", True),
        ("HALTED", "buy", False),
        ("HALTED", "sell", False),
    ],
)
def test_allows_table(state: KillState, side: Side, allowed: bool) -> None:
    assert allows(state, side) is allowed


def test_an_unknown_state_allows_nothing() -> None:
    assert not allows("PAUSED", "sell")  # type: ignore[arg-type]


def test_an_empty_log_is_active() -> None:
    log = KillSwitchLog()
    assert log.flips == ()
    assert log.current == "ACTIVE"


def test_the_log_keeps_every_flip_in_order_and_the_last_one_rules() -> None:
    first, second, third = flip("HALTED", 0, "one"), flip("REDUCING", 1, "two"), flip("ACTIVE", 2, "three")
    empty = KillSwitchLog()
    log = empty.with_flip(first).with_flip(second)
    assert log.current == "REDUCING"
    final = log.with_flip(third)
    assert [f.why for f in final.flips] == ["one", "two", "three"]
    assert final.current == "ACTIVE"
    # with_flip returns a new log; the old ones are unchanged.
    assert empty.flips == ()
    assert log.flips == (first, second)


def test_the_log_survives_a_json_round_trip() -> None:
    log = KillSwitchLog().with_flip(flip("HALTED")).with_flip(flip("ACTIVE", 5))
    assert KillSwitchLog.model_validate_json(log.model_dump_json()) == log


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"at": dt.datetime(2024, 6, 28, 15, 45)}, "timezone-aware"),
        ({"why": "   "}, "must not be empty"),
        ({"who": ""}, "must not be empty"),
        ({"state": "PAUSED"}, "state"),
    ],
)
def test_a_flip_rejects_bad_fields(changes: dict[str, object], problem: str) -> None:
    fields: dict[str, object] = {"state": "HALTED", "at": AT, "who": "ops", "why": "because"}
    with pytest.raises(ValidationError, match=problem):
        KillSwitchFlip(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["halted", "Halted", " HALTED "])
def test_parse_state_ignores_case(text: str) -> None:
    assert parse_state(text) == "HALTED"


def test_parse_state_rejects_unknown_text_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"'stop'.*ACTIVE, REDUCING, HALTED"):
        parse_state("stop")
    assert KILL_STATES == ("ACTIVE", "REDUCING", "HALTED")

"""Trading settings (spec §10), each rule on a case computed by hand."""

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from alchemiser_dagster.domain.calendar import is_session, previous_session
from alchemiser_dagster.domain.errors import ConfigError, MarketDataError, PortfolioError
from alchemiser_dagster.domain.portfolio.sleeves import (
    SleeveBook,
    advance_sleeves,
    decide_sleeve,
    ledger_attribution,
)
from alchemiser_dagster.domain.portfolio.trading import TradingSetting, rebalance_day, trading_setting

DAILY = TradingSetting()
WEEKLY = TradingSetting(frequency="weekly")
MONTHLY = TradingSetting(frequency="monthly")
CORRIDOR = TradingSetting(frequency="none", threshold=0.05)
HOLD = TradingSetting(frequency="none")
HALF = {"AAA": 0.5, "BBB": 0.5}
PAR = {"AAA": 100.0, "BBB": 100.0}


def start(setting: TradingSetting, day: dt.date, target: dict[str, float] = HALF) -> SleeveBook:
    book = decide_sleeve("s", setting, day, None, PAR, target)
    assert book.traded and book.reason == "first session: to target"
    return book


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, TradingSetting()),
        ({"rebalance-frequency": "weekly"}, WEEKLY),
        ({"rebalance-frequency": ":monthly"}, MONTHLY),
        # Composer exports a threshold symphony without a frequency: the threshold alone rules.
        ({"rebalance-threshold": 0.05}, CORRIDOR),
        ({"rebalance-frequency": "none", "rebalance-threshold": 0.05}, CORRIDOR),
        (
            {"rebalance-frequency": "weekly", "rebalance-threshold": 1},
            TradingSetting(frequency="weekly", threshold=1.0),
        ),
        ({"rebalance-frequency": "none"}, HOLD),
    ],
)
def test_settings_are_read_from_the_symphony_options(
    options: dict[str, object], expected: TradingSetting
) -> None:
    assert trading_setting("x.clj", options) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"rebalance-threshold": "often"},
            r"x.clj: :rebalance-threshold must be a number in \(0, 1\], got 'often'",
        ),
        ({"rebalance-threshold": 0}, r"in \(0, 1\], got 0"),
        ({"rebalance-threshold": 1.5}, r"got 1.5"),
        (
            {"rebalance-frequency": "hourly"},
            r"x.clj: :rebalance-frequency must be one of daily, weekly, .*got 'hourly'",
        ),
    ],
)
def test_bad_settings_name_the_file(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        trading_setting("x.clj", options)


def test_labels() -> None:
    assert [s.label() for s in (DAILY, WEEKLY, CORRIDOR, HOLD)] == [
        "daily",
        "weekly",
        "threshold 5 %",
        "none (buy and hold)",
    ]
    assert TradingSetting(frequency="monthly", threshold=0.1).label() == "monthly or threshold 10 %"


def test_a_week_with_a_holiday_monday() -> None:
    """MLK day 2024-01-15 is a Monday holiday: Tuesday the 16th is the week's first session."""
    friday, monday, tuesday, wednesday = (dt.date(2024, 1, d) for d in (12, 15, 16, 17))
    assert not is_session(monday) and previous_session(tuesday) == friday
    book = start(WEEKLY, dt.date(2024, 1, 10))
    book = decide_sleeve("s", WEEKLY, friday, book, {"AAA": 120.0, "BBB": 100.0}, HALF)
    # Held: 0.5 x 1.2 / (0.5 x 1.2 + 0.5) = 6/11.
    assert not book.traded and book.reason == "not a rebalance day (weekly): held"
    assert book.weights == {"AAA": Decimal("0.5454545455"), "BBB": Decimal("0.4545454545")}
    book = decide_sleeve("s", WEEKLY, tuesday, book, {"AAA": 120.0, "BBB": 100.0}, HALF)
    assert (
        book.traded
        and book.reason == "rebalance day (weekly)"
        and book.weights == {"AAA": Decimal("0.5"), "BBB": Decimal("0.5")}
    )
    book = decide_sleeve("s", WEEKLY, wednesday, book, {"AAA": 180.0, "BBB": 100.0}, HALF)
    assert not book.traded and book.weights["AAA"] == Decimal("0.6") and book.rebalanced_on == tuesday


def test_a_month_that_starts_on_a_holiday() -> None:
    """2024-01-01 (New Year's Day) is a holiday: the month's first session is the 2nd."""
    last_of_december, second = dt.date(2023, 12, 29), dt.date(2024, 1, 2)
    assert previous_session(second) == last_of_december
    book = start(MONTHLY, dt.date(2023, 12, 27))
    book = decide_sleeve("s", MONTHLY, last_of_december, book, PAR, {"AAA": 1.0})
    assert not book.traded and book.weights == {"AAA": Decimal("0.5"), "BBB": Decimal("0.5")}
    book = decide_sleeve("s", MONTHLY, second, book, PAR, {"AAA": 1.0})
    assert book.traded and book.reason == "rebalance day (monthly)" and book.weights == {"AAA": Decimal(1)}
    assert not decide_sleeve("s", MONTHLY, dt.date(2024, 1, 3), book, PAR, HALF).traded
    # Quarter and year open on the same session; a skipped session still counts (a gap).
    assert rebalance_day("quarterly", last_of_december, second) and rebalance_day(
        "yearly", last_of_december, second
    )
    assert rebalance_day("weekly", dt.date(2024, 1, 3), dt.date(2024, 1, 9))
    assert not rebalance_day("monthly", dt.date(2024, 1, 3), dt.date(2024, 1, 31))


def test_a_corridor_crossed_by_drift_alone() -> None:
    """50/50 with a 5 % corridor, the target never changes: AAA +10 % holds, AAA +25 % trades."""
    book = start(CORRIDOR, dt.date(2024, 3, 4))
    book = decide_sleeve("s", CORRIDOR, dt.date(2024, 3, 5), book, {"AAA": 110.0, "BBB": 100.0}, HALF)
    # 1.1 / 2.1 = 0.5238: 2.4 pp from 0.5, inside.
    assert not book.traded and book.reason == "within corridor 5 %: held"
    assert book.weights == {"AAA": Decimal("0.5238095238"), "BBB": Decimal("0.4761904762")}
    book = decide_sleeve("s", CORRIDOR, dt.date(2024, 3, 6), book, {"AAA": 125.0, "BBB": 100.0}, HALF)
    # 1.25 / 2.25 = 0.5556: 5.6 pp from 0.5, outside.
    assert book.traded and book.reason == "corridor 5 % broken by AAA (+5.6 pp): back to target"
    assert book.weights == {"AAA": Decimal("0.5"), "BBB": Decimal("0.5")}
    assert book.prices == {"AAA": Decimal("125.0"), "BBB": Decimal("100.0")}  # marked where it traded


def test_a_target_switch_inside_and_outside_the_corridor() -> None:
    book = start(CORRIDOR, dt.date(2024, 3, 4))
    # The target moves 3 pp (53/47): the held 50/50 is still within 5 %, so nothing trades.
    moved = decide_sleeve("s", CORRIDOR, dt.date(2024, 3, 5), book, PAR, {"AAA": 0.53, "BBB": 0.47})
    assert not moved.traded and moved.weights == {"AAA": Decimal("0.5"), "BBB": Decimal("0.5")}
    assert moved.target == {"AAA": Decimal("0.53"), "BBB": Decimal("0.47")}
    # The logic picks another asset: CCC's full 50 % is missing, so it trades at once.
    switched = decide_sleeve(
        "s", CORRIDOR, dt.date(2024, 3, 5), book, {**PAR, "CCC": 10.0}, {"AAA": 0.5, "CCC": 0.5}
    )
    assert switched.traded and switched.reason == "corridor 5 % broken by BBB (+50.0 pp): back to target"
    assert switched.weights == {"AAA": Decimal("0.5"), "CCC": Decimal("0.5")}


def test_daily_none_and_both_triggers() -> None:
    day = dt.date(2024, 3, 5)
    assert (
        decide_sleeve("s", DAILY, day, start(DAILY, dt.date(2024, 3, 4)), PAR, HALF).reason
        == "rebalance day (daily)"
    )
    held = decide_sleeve("s", HOLD, day, start(HOLD, dt.date(2024, 3, 4)), {"AAA": 300.0, "BBB": 100.0}, HALF)
    assert (
        not held.traded
        and held.reason == "buy and hold (none): held"
        and held.weights["AAA"] == Decimal("0.75")
    )
    both = TradingSetting(frequency="weekly", threshold=0.05)
    book = start(both, dt.date(2024, 3, 4))  # a Monday
    assert decide_sleeve("s", both, day, book, {"AAA": 125.0, "BBB": 100.0}, HALF).traded
    assert not decide_sleeve("s", both, day, book, {"AAA": 110.0, "BBB": 100.0}, HALF).traded
    assert decide_sleeve("s", both, dt.date(2024, 3, 11), book, PAR, HALF).reason == "rebalance day (weekly)"


def test_failures_setting_changes_and_missing_prices() -> None:
    book = start(HOLD, dt.date(2024, 3, 4))
    failed = decide_sleeve("s", HOLD, dt.date(2024, 3, 5), book, {}, None)  # its symbols need no price
    assert not failed.traded and failed.target is None and failed.weights == {}
    assert (
        failed.reason == "strategy failed: the failed-strategy policy decides"
        and failed.rebalanced_on == book.session
    )
    after = decide_sleeve("s", HOLD, dt.date(2024, 3, 6), failed, PAR, HALF)
    assert after.traded and after.reason == "strategy failed on 2024-03-05: back to target"
    changed = decide_sleeve("s", WEEKLY, dt.date(2024, 3, 6), book, PAR, HALF)
    assert (
        changed.traded
        and changed.reason == "trading setting changed (none (buy and hold) -> weekly): to target"
    )
    edited = decide_sleeve(
        "s", HOLD, dt.date(2024, 3, 6), book.model_copy(update={"fingerprint": "a"}), PAR, HALF, "b"
    )
    assert edited.traded and edited.reason == "symphony changed: to target"
    with pytest.raises(MarketDataError, match="sleeve s holds AAA but there is no price for it"):
        decide_sleeve("s", HOLD, dt.date(2024, 3, 6), book, {"BBB": 1.0}, HALF)


def test_advance_adds_new_sleeves_and_drops_removed_ones() -> None:
    first = advance_sleeves(dt.date(2024, 3, 4), None, {"a": HOLD, "b": HOLD}, {"a": HALF, "b": HALF}, PAR)
    assert first.carried_from is None and first.origin == "first session"
    second = advance_sleeves(dt.date(2024, 3, 5), first, {"a": HOLD, "c": DAILY}, {"a": HALF, "c": HALF}, PAR)
    assert [s.strategy for s in second.sleeves] == ["a", "c"] and second.origin == "carried from 2024-03-04"
    assert not second.book("a").traded and second.book("c").reason == "first session: to target"
    with pytest.raises(ValueError, match="not before"):
        advance_sleeves(dt.date(2024, 3, 5), second, {"a": HOLD}, {"a": HALF}, PAR)


def test_the_previous_ledger_is_evidence_split_as_it_attributes() -> None:
    day = dt.date(2024, 3, 4)
    ledger = pd.DataFrame(
        [
            {"notional": "1000.00", "attribution": '{"a": "0.750000", "b": "0.250000"}'},
            {"notional": "-0.00", "attribution": "{}"},  # an exit: the ledger names nobody
            {"notional": "200.01", "attribution": '{"b": "1.000000"}'},
        ]
    )
    assert ledger_attribution(ledger, day) == (
        {"a": Decimal("750.00"), "b": Decimal("450.01")},
        "fill ledger of 2024-03-04: 3 fills",
    )
    assert ledger_attribution(None, day) == (
        {},
        "no fill ledger stored for 2024-03-04 (plan only or not run): no fills assumed",
    )
    with pytest.raises(PortfolioError, match="the fill ledger of 2024-03-04 has no column attribution"):
        ledger_attribution(ledger.drop(columns=["attribution"]), day)

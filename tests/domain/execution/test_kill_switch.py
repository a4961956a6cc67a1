"""The kill switch inside execution: HALTED stops before the next order, REDUCING sells only."""

from __future__ import annotations

from decimal import Decimal as D  # noqa: N817 - reads as money

from alchemiser_dagster.domain.execution.engine import execute_plan
from alchemiser_dagster.domain.risk.killswitch import KillState
from tests.domain.execution.fake_broker import FakeBroker, account
from tests.domain.execution.test_engine import QQQ_BUY, SETTINGS, SPY_BUY, TLT_SELL, Sleeps, coid, make_plan


def test_halted_before_the_run_places_nothing_and_cancels_our_open_orders() -> None:
    broker = FakeBroker(account())
    broker.add_order(coid("QQQ", "buy"), "QQQ", "buy", "3", status="new", fill_after_reads=99)
    broker.add_order("manual-order-1", "IWM", "buy", "1", status="new", fill_after_reads=99)
    result = execute_plan(
        broker, make_plan(TLT_SELL, SPY_BUY), settings=SETTINGS, sleep=Sleeps(), kill_switch=lambda: "HALTED"
    )
    assert broker.called("submit_order") == []
    assert result.status == "HALTED" and "canceled 1 open orders" in result.reason
    assert broker.orders[coid("QQQ", "buy")].status == "canceled"
    assert broker.orders["manual-order-1"].status == "new"  # never touch orders that are not ours
    assert {o.symbol: o.status for o in result.outcomes} == {"TLT": "not_placed", "SPY": "not_placed"}


def test_reducing_lets_only_sells_through() -> None:
    broker = FakeBroker(account())
    result = execute_plan(
        broker,
        make_plan(TLT_SELL, SPY_BUY),
        settings=SETTINGS,
        sleep=Sleeps(),
        kill_switch=lambda: "REDUCING",
    )
    assert broker.called("submit_order") == [coid("TLT", "sell")]
    spy = next(o for o in result.outcomes if o.symbol == "SPY")
    assert spy.status == "not_placed" and "REDUCING" in (spy.error or "")
    assert result.status == "PARTIAL"


def test_halted_mid_run_stops_before_the_next_order() -> None:
    broker = FakeBroker(account())
    broker.fill_modes["TLT"] = "never"

    def switch() -> KillState:  # flipped by the operator once the first order is out
        return "HALTED" if broker.called("submit_order") else "ACTIVE"

    result = execute_plan(
        broker, make_plan(TLT_SELL, SPY_BUY, QQQ_BUY), settings=SETTINGS, sleep=Sleeps(), kill_switch=switch
    )
    assert broker.called("submit_order") == [coid("TLT", "sell")]
    assert broker.called("cancel_order") == [broker.orders[coid("TLT", "sell")].id]
    assert result.status == "HALTED"
    assert [(o.symbol, o.status) for o in result.outcomes] == [
        ("TLT", "canceled"),
        ("SPY", "not_placed"),
        ("QQQ", "not_placed"),
    ]
    assert result.outcomes[0].filled_qty == D(0)

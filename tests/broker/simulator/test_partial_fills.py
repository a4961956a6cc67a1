"""Fill mode 'partial': fraction of the remaining quantity per fill opportunity, over real HTTP.

A fill opportunity is an engine advance: the first one (the next request after the submit,
even with a frozen clock), then one per advance after simulated time moved. Each partial
fill happens at the first marketable instant of the advanced stretch.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order, Position
from alpaca.trading.requests import GetOrdersRequest, MarketOrderRequest

from alchemiser_dagster.broker.simulator.server import SimulatorServer
from tests.broker.simulator.conftest import OPEN_NOW, buy_and_fill, clients, ny

CENT = Decimal("0.01")


def market(qty: float | None = None, symbol: str = "SPY", **kw: Any) -> MarketOrderRequest:
    kw.setdefault("side", OrderSide.BUY)
    kw.setdefault("time_in_force", TimeInForce.GTC if qty is not None else TimeInForce.DAY)
    return MarketOrderRequest(symbol=symbol, qty=qty, **kw)


def get(trading: TradingClient, order_id: Any) -> Order:
    got = trading.get_order_by_id(order_id)
    assert isinstance(got, Order)
    return got


def fills_of(sim: SimulatorServer, order_id: Any) -> list[tuple[Decimal, Decimal]]:
    return [
        (Decimal(f["qty"]), Decimal(f["price"])) for f in sim.engine.fills() if f["order_id"] == str(order_id)
    ]


def assert_books_match_fills(sim: SimulatorServer, trading: TradingClient, start_cash: Decimal) -> None:
    """Cash to the cent, positions and cost basis exactly: replayed from the fills table."""
    cash = start_cash
    held: dict[str, Decimal] = {}
    for f in sim.engine.fills():
        qty, price = Decimal(f["qty"]), Decimal(f["price"])
        amount = (qty * price).quantize(CENT, rounding=ROUND_HALF_UP)
        sign = 1 if f["side"] == "buy" else -1
        cash -= sign * amount
        held[f["symbol"]] = held.get(f["symbol"], Decimal(0)) + sign * qty
    assert Decimal(str(trading.get_account().cash)) == cash  # type: ignore[union-attr]
    positions = trading.get_all_positions()
    assert isinstance(positions, list)
    got = {p.symbol: Decimal(p.qty) for p in positions if isinstance(p, Position)}
    assert got == {s: q for s, q in held.items() if q}


def test_fraction_half_on_ten_fractionable_shares(sim: SimulatorServer, trading: TradingClient) -> None:
    resp = requests.post(
        f"{sim.base_url}/_sim/fills", json={"symbol": "SPY", "mode": "partial", "fraction": "0.5"}, timeout=5
    )
    assert resp.status_code == 200 and resp.json() == {"SPY": "partial"}
    detail = requests.get(f"{sim.base_url}/_sim/fills?detail=1", timeout=5).json()
    assert detail == {"SPY": {"mode": "partial", "fraction": "0.5"}}

    order = trading.submit_order(market(10))
    first = get(trading, order.id)  # first fill opportunity: the next request
    assert (first.status, first.filled_qty, first.filled_at) == ("partially_filled", "5", None)
    again = get(trading, order.id)  # frozen clock: no new opportunity
    assert again.filled_qty == "5"

    sim.set_clock(OPEN_NOW + dt.timedelta(minutes=1))
    assert get(trading, order.id).filled_qty == "7.5"
    sim.set_clock(OPEN_NOW + dt.timedelta(minutes=2))
    assert get(trading, order.id).filled_qty == "8.75"
    assert [q for q, _ in fills_of(sim, order.id)] == [Decimal(5), Decimal("2.5"), Decimal("1.25")]
    assert_books_match_fills(sim, trading, Decimal(100000))


def test_whole_share_asset_rounds_down_and_fills_at_least_one_share(
    tmp_path: Path, sim_bars: pd.DataFrame
) -> None:
    with SimulatorServer(tmp_path / "s", bars=sim_bars, now=OPEN_NOW) as sim:
        trading = clients(sim)[0]
        sim.set_fill_rule("MARA", "partial", "0.5")  # MARA is the non-fractionable test symbol
        order = trading.submit_order(market(10, "MARA"))
        seen = [get(trading, order.id).filled_qty]
        for minute in range(1, 6):
            sim.set_clock(OPEN_NOW + dt.timedelta(minutes=minute))
            seen.append(get(trading, order.id).filled_qty)
        # 10 -> 5 (2.5 rounds down to 2) -> 7 (1.5 -> 1) -> 8 -> 9 -> the last share (0.5 -> at least 1)
        assert seen == ["5", "7", "8", "9", "10", "10"]
        done = get(trading, order.id)
        assert done.status == "filled" and done.filled_at is not None
        assert [q for q, _ in fills_of(sim, order.id)] == [Decimal(n) for n in (5, 2, 1, 1, 1)]
        assert_books_match_fills(sim, trading, Decimal(100000))


def test_vwap_over_two_prices(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.set_fill_rule("SPY", "partial", Decimal("0.5"))
    order = trading.submit_order(market(10))
    sim.set_clock(ny(2024, 7, 1, 9, 0))  # the stretch starts Friday 15:45: 5 fill there
    sim.set_clock(ny(2024, 7, 1, 10, 0))  # the next stretch opens Monday 09:30: 2.5 more
    got = get(trading, order.id)
    fills = fills_of(sim, order.id)
    assert [q for q, _ in fills] == [Decimal(5), Decimal("2.5")]
    (q1, p1), (q2, p2) = fills
    assert p1 != p2
    assert p1 == sim.engine.book.quote("SPY", OPEN_NOW).ask  # type: ignore[union-attr]
    assert p2 == sim.engine.book.quote("SPY", ny(2024, 7, 1, 9, 30)).ask  # type: ignore[union-attr]
    assert got.filled_qty == "7.5" and got.status == "partially_filled"
    vwap = (q1 * p1 + q2 * p2) / (q1 + q2)
    assert abs(Decimal(str(got.filled_avg_price)) - vwap) < Decimal("0.000000001")
    position = trading.get_open_position("SPY")
    assert isinstance(position, Position)
    assert Decimal(position.cost_basis) == q1 * p1 + q2 * p2
    assert_books_match_fills(sim, trading, Decimal(100000))


def test_partially_filled_order_is_open_and_cancel_keeps_its_fills(
    sim: SimulatorServer, trading: TradingClient
) -> None:
    sim.set_fill_rule("SPY", "partial", "0.5")
    order = trading.submit_order(market(10))
    assert get(trading, order.id).status == "partially_filled"
    open_orders = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert [o.id for o in open_orders if isinstance(o, Order)] == [order.id]
    price = fills_of(sim, order.id)[0][1]
    # the open remainder (5 shares at the submit-time ask) still holds buying power
    reserved = Decimal(sim.engine.order(str(order.id))["reserved"])  # type: ignore[index]
    assert reserved == 5 * price

    trading.cancel_order_by_id(order.id)
    canceled = get(trading, order.id)
    assert (canceled.status, canceled.filled_qty) == ("canceled", "5")
    assert Decimal(str(canceled.filled_avg_price)) == price
    closed = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    assert [o.id for o in closed if isinstance(o, Order)] == [order.id]
    sim.set_clock(OPEN_NOW + dt.timedelta(minutes=5))
    assert get(trading, order.id).filled_qty == "5"  # no fill after the cancel
    account = trading.get_account()
    assert Decimal(str(account.buying_power)) == Decimal(str(account.cash))  # type: ignore[union-attr]
    assert_books_match_fills(sim, trading, Decimal(100000))


def test_day_expiry_keeps_the_fills(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.set_fill_rule("SPY", "partial", "0.5")
    order = trading.submit_order(market(10, time_in_force=TimeInForce.DAY))
    assert get(trading, order.id).filled_qty == "5"
    sim.set_clock(ny(2024, 7, 1, 10, 0))  # one more fill before Friday's close, then expiry
    expired = get(trading, order.id)
    assert (expired.status, expired.filled_qty) == ("expired", "7.5")
    assert expired.expired_at is not None
    assert_books_match_fills(sim, trading, Decimal(100000))


def test_partial_sell_holds_only_the_remainder(sim: SimulatorServer, trading: TradingClient) -> None:
    buy_and_fill(trading, "SPY", 10)
    sim.set_fill_rule("SPY", "partial", "0.4")
    sell = trading.submit_order(market(10, side=OrderSide.SELL))
    got = get(trading, sell.id)
    assert (got.status, got.filled_qty) == ("partially_filled", "4")
    position = trading.get_open_position("SPY")
    assert isinstance(position, Position)
    assert (position.qty, position.qty_available) == ("6", "0")  # the 6 still to sell are held
    sim.set_fill_rule("SPY", "spread_crossing")  # the rest fills in full at the next opportunity
    sim.set_clock(OPEN_NOW + dt.timedelta(minutes=1))
    done = get(trading, sell.id)
    assert (done.status, done.filled_qty) == ("filled", "10")
    assert trading.get_all_positions() == []
    assert_books_match_fills(sim, trading, Decimal(100000))


def test_notional_order_fills_a_fraction_of_the_remaining_value(
    sim: SimulatorServer, trading: TradingClient
) -> None:
    sim.set_fill_rule("SPY", "partial", "0.5")
    order = trading.submit_order(market(notional=1000))
    got = get(trading, order.id)
    ((qty, price),) = fills_of(sim, order.id)
    assert got.status == "partially_filled"
    assert qty == (Decimal(500) / price).quantize(Decimal("0.000001"), rounding="ROUND_DOWN")
    for minute in range(1, 30):
        sim.set_clock(OPEN_NOW + dt.timedelta(minutes=minute))
        if get(trading, order.id).status == "filled":
            break
    done = get(trading, order.id)
    assert done.status == "filled"
    value = sum((q * p for q, p in fills_of(sim, order.id)), Decimal(0))
    assert Decimal(1000) - value < 1  # completes once what remains is worth under $1
    assert_books_match_fills(sim, trading, Decimal(100000))


def test_fill_rule_validation(sim: SimulatorServer) -> None:
    url = f"{sim.base_url}/_sim/fills"
    for body in (
        {"symbol": "SPY", "mode": "partial"},
        {"symbol": "SPY", "mode": "partial", "fraction": "0"},
        {"symbol": "SPY", "mode": "partial", "fraction": "1.5"},
        {"symbol": "SPY", "mode": "partial", "fraction": "half"},
        {"symbol": "SPY", "mode": "never", "fraction": "0.5"},
    ):
        assert requests.post(url, json=body, timeout=5).status_code == 422, body
    assert requests.get(url, timeout=5).json() == {}


def test_partial_rule_persists_for_another_server_on_the_same_state(
    tmp_path: Path, sim_bars: pd.DataFrame
) -> None:
    state = tmp_path / "state"
    with SimulatorServer(state, bars=sim_bars, now=OPEN_NOW) as setup:
        setup.set_fill_rule("SPY", "partial", "0.25")
    with SimulatorServer(state, bars=sim_bars) as pipeline:
        trading = clients(pipeline)[0]
        order = trading.submit_order(market(8))
        assert get(trading, order.id).filled_qty == "2"
        assert pipeline.engine.fill_rule_details() == {"SPY": {"mode": "partial", "fraction": "0.25"}}


def test_old_state_dir_fill_rules_are_migrated(tmp_path: Path, sim_bars: pd.DataFrame) -> None:
    """A state written before 'partial' existed (narrower CHECK, no fraction column) still opens."""
    state = tmp_path / "old"
    state.mkdir()
    conn = sqlite3.connect(state / "sim.sqlite3")
    conn.execute(
        "CREATE TABLE fill_rules (symbol TEXT PRIMARY KEY, "
        "mode TEXT NOT NULL CHECK (mode IN ('immediate', 'never')))"
    )
    conn.execute("INSERT INTO fill_rules VALUES ('QQQ', 'never')")
    conn.execute("INSERT INTO fill_rules VALUES ('TQQQ', 'immediate')")  # today's spread_crossing
    conn.commit()
    conn.close()
    with SimulatorServer(state, bars=sim_bars, now=OPEN_NOW) as sim:
        assert sim.engine.fill_rules() == {"QQQ": "never", "TQQQ": "spread_crossing"}
        sim.set_fill_rule("SPY", "partial", "0.5")
        assert sim.engine.fill_rules() == {"QQQ": "never", "TQQQ": "spread_crossing", "SPY": "partial"}
    with SimulatorServer(state, bars=sim_bars) as again:  # migrating twice is a no-op
        assert again.engine.fill_rule_details()["SPY"] == {"mode": "partial", "fraction": "0.5"}

"""Business rules of the stand-in, exercised through the real alpaca-py client over HTTP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

from alchemiser_dagster.broker.simulator.prices import PriceBook
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from tests.broker.simulator.conftest import OPEN_NOW, buy_and_fill, clients, ny

DAY = TimeInForce.DAY


def market(
    symbol: str = "SPY", side: OrderSide = OrderSide.BUY, tif: TimeInForce = DAY, **kw: Any
) -> MarketOrderRequest:
    return MarketOrderRequest(symbol=symbol, side=side, time_in_force=tif, **kw)


def limit(
    price: float, qty: float = 1, side: OrderSide = OrderSide.BUY, symbol: str = "SPY", **kw: Any
) -> LimitOrderRequest:
    return LimitOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=DAY, limit_price=price, **kw)


def rejected(trading: TradingClient, req: Any) -> APIError:
    with pytest.raises(APIError) as err:
        trading.submit_order(req)
    return err.value


def order(trading: TradingClient, order_id: Any) -> Order:
    got = trading.get_order_by_id(order_id)
    assert isinstance(got, Order)
    return got


def raw_post(sim: SimulatorServer, body: dict[str, Any]) -> requests.Response:
    headers = {"APCA-API-KEY-ID": sim.api_key, "APCA-API-SECRET-KEY": sim.secret_key}
    return requests.post(f"{sim.base_url}/v2/orders", json=body, headers=headers, timeout=10)


# --- rejects -----------------------------------------------------------------------------


def test_duplicate_client_order_id_is_rejected_forever(trading: TradingClient) -> None:
    first = trading.submit_order(market(qty=1, client_order_id="rebalance-2024-06-28-SPY"))
    assert order(trading, first.id).status == "filled"
    err = rejected(trading, market(qty=1, client_order_id="rebalance-2024-06-28-SPY"))
    assert (err.status_code, err.code) == (422, 40010001)
    canceled = trading.submit_order(limit(1.0, client_order_id="canceled-one"))
    trading.cancel_order_by_id(canceled.id)
    assert rejected(trading, limit(1.0, client_order_id="canceled-one")).code == 40010001


def test_client_order_id_longer_than_48_is_rejected(trading: TradingClient) -> None:
    err = rejected(trading, market(qty=1, client_order_id="x" * 49))
    assert (err.status_code, err.code) == (422, 40010001)
    assert trading.submit_order(market(qty=1, client_order_id="x" * 48)).client_order_id == "x" * 48


@pytest.mark.parametrize(
    "req",
    [market(qty=0.5, tif=TimeInForce.GTC), market(notional=100, tif=TimeInForce.GTC)],
    ids=["fractional-gtc", "notional-gtc"],
)
def test_fractional_and_notional_must_be_day(trading: TradingClient, req: MarketOrderRequest) -> None:
    err = rejected(trading, req)
    assert (err.status_code, err.code) == (422, 42210000)


def test_whole_share_gtc_is_accepted(trading: TradingClient) -> None:
    assert trading.submit_order(market(qty=1, tif=TimeInForce.GTC)).time_in_force == "gtc"


def test_non_fractionable_asset_rejects_fractional_qty(
    trading: TradingClient, whole_share_symbol: str
) -> None:
    assert trading.get_asset(whole_share_symbol).fractionable is False
    for req in (market(whole_share_symbol, qty=1.5), market(whole_share_symbol, notional=50)):
        err = rejected(trading, req)
        assert (err.status_code, err.code) == (403, 40310000)
    assert trading.submit_order(market(whole_share_symbol, qty=2)).status == "pending_new"


def test_order_value_under_one_dollar_is_rejected(trading: TradingClient) -> None:
    err = rejected(trading, market(notional=0.5))
    assert (err.status_code, err.code) == (403, 40310000)
    err = rejected(trading, limit(0.5, qty=1))
    assert (err.status_code, err.code) == (403, 40310000)


def test_insufficient_buying_power_counts_open_buy_orders(
    trading: TradingClient, sim: SimulatorServer, sim_bars: pd.DataFrame
) -> None:
    err = rejected(trading, market(notional=100_001))
    assert (err.status_code, err.code) == (403, 40310000)
    quote = PriceBook(sim_bars).quote("SPY", sim.now())
    assert quote is not None
    below = (quote.bid / 2).quantize(Decimal("0.01"))  # never marketable today
    qty = int(Decimal(90_000) / below)
    resting = trading.submit_order(limit(float(below), qty=qty))  # reserves ~90,000 and stays open
    assert Decimal(trading.get_account().buying_power) == Decimal(100000) - qty * below
    err = rejected(trading, market(notional=20_000))
    assert (err.status_code, err.code) == (403, 40310000)
    trading.cancel_order_by_id(resting.id)
    assert trading.submit_order(market(notional=20_000)).notional == "20000"


def test_selling_more_than_available_is_rejected(trading: TradingClient) -> None:
    buy_and_fill(trading, qty=10)
    held = trading.submit_order(limit(100_000.0, qty=4, side=OrderSide.SELL))  # holds 4 of 10
    err = rejected(trading, market(qty=7, side=OrderSide.SELL))
    assert (err.status_code, err.code) == (403, 40310000)
    assert "insufficient qty available" in err.message
    assert trading.get_open_position("SPY").qty_available == "6"
    trading.cancel_order_by_id(held.id)
    assert trading.submit_order(market(qty=7, side=OrderSide.SELL)).status == "pending_new"


def test_short_sale_is_rejected(trading: TradingClient) -> None:
    err = rejected(trading, market("QQQ", side=OrderSide.SELL, qty=1))
    assert (err.status_code, err.code) == (403, 40310000)
    assert err.message == "account is not allowed to short"


def test_sub_penny_limit_price_is_rejected(trading: TradingClient) -> None:
    err = rejected(trading, limit(100.123))
    assert (err.status_code, err.code) == (422, 42210000)


def test_unknown_symbol_is_rejected(trading: TradingClient) -> None:
    err = rejected(trading, market("NOSUCH", qty=1))
    assert (err.status_code, err.code) == (422, 42210000)
    with pytest.raises(APIError) as asset_err:
        trading.get_asset("NOSUCH")
    assert (asset_err.value.status_code, asset_err.value.code) == (404, 40410000)


def test_notional_limit_order_is_rejected(sim: SimulatorServer) -> None:
    body = {
        "symbol": "SPY",
        "notional": 100,
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "limit_price": 100,
    }
    resp = raw_post(sim, body)
    assert (resp.status_code, resp.json()["code"]) == (422, 42210000)


def test_bad_keys_get_401_without_code(sim: SimulatorServer) -> None:
    resp = requests.get(
        f"{sim.base_url}/v2/account",
        headers={"APCA-API-KEY-ID": "nope", "APCA-API-SECRET-KEY": "x"},
        timeout=10,
    )
    assert (resp.status_code, resp.json()) == (401, {"message": "unauthorized."})


def test_cancel_rules(trading: TradingClient) -> None:
    filled = buy_and_fill(trading, qty=1)
    with pytest.raises(APIError) as err:
        trading.cancel_order_by_id(filled.id)
    assert (err.value.status_code, err.value.code) == (422, 42210000)
    with pytest.raises(APIError) as err:
        trading.cancel_order_by_id("00000000-0000-0000-0000-000000000007")
    assert (err.value.status_code, err.value.code) == (404, 40410000)
    resting = trading.submit_order(limit(1.0, qty=5))
    assert trading.cancel_order_by_id(resting.id) is None
    got = order(trading, resting.id)
    assert got.status == "canceled" and got.canceled_at is not None
    a, b = trading.submit_order(limit(1.0, qty=5)), trading.submit_order(limit(2.0, qty=5))
    results = trading.cancel_orders()
    assert sorted(str(r.id) for r in results) == sorted([str(a.id), str(b.id)])
    assert {r.status for r in results} == {200}
    assert trading.get_orders() == []


# --- lifecycle ---------------------------------------------------------------------------


def test_market_buy_fills_at_the_ask_and_books_it(
    trading: TradingClient, sim: SimulatorServer, sim_bars: pd.DataFrame
) -> None:
    quote = PriceBook(sim_bars).quote("SPY", sim.now())
    assert quote is not None
    submitted = trading.submit_order(market(qty=10))
    assert submitted.status == "pending_new" and submitted.filled_qty == "0"
    filled = order(trading, submitted.id)
    assert filled.status == "filled"
    assert Decimal(filled.filled_avg_price) == quote.ask
    assert filled.filled_qty == "10" and filled.filled_at == sim.now()
    account = trading.get_account()
    assert Decimal(account.cash) == Decimal(100000) - 10 * quote.ask
    assert Decimal(account.equity) == Decimal(account.cash) + 10 * quote.price
    position = trading.get_open_position("SPY")
    assert (position.qty, Decimal(position.avg_entry_price)) == ("10", quote.ask)
    assert Decimal(position.market_value) == 10 * quote.price


def test_notional_buy_gets_fractional_qty(trading: TradingClient) -> None:
    filled = order(trading, trading.submit_order(market(notional=1000)).id)
    qty, price = Decimal(filled.filled_qty), Decimal(filled.filled_avg_price)
    assert qty == (Decimal(1000) / price).quantize(Decimal("1e-9"), rounding="ROUND_DOWN")
    assert filled.qty is None and filled.notional == "1000"


def test_sell_fills_at_the_bid_and_keeps_avg_entry(
    trading: TradingClient, sim: SimulatorServer, sim_bars: pd.DataFrame
) -> None:
    bought = buy_and_fill(trading, qty=10)
    cash_before = Decimal(trading.get_account().cash)
    bid = PriceBook(sim_bars).quote("SPY", sim.now())
    assert bid is not None
    sold = order(trading, trading.submit_order(market(qty=4, side=OrderSide.SELL)).id)
    assert Decimal(sold.filled_avg_price) == bid.bid
    assert Decimal(trading.get_account().cash) == cash_before + 4 * bid.bid
    position = trading.get_open_position("SPY")
    assert position.qty == "6" and Decimal(position.avg_entry_price) == Decimal(bought.filled_avg_price)
    order(trading, trading.submit_order(market(qty=6, side=OrderSide.SELL)).id)
    assert trading.get_all_positions() == []
    with pytest.raises(APIError) as err:
        trading.get_open_position("SPY")
    assert (err.value.status_code, err.value.code) == (404, 40410000)


def _falling_session(book: PriceBook, after: dt.date) -> dt.date:
    """First session after ``after`` whose SPY close is at least 1% under its open."""
    for bar in book.bars("SPY"):
        if bar.date > after and bar.close < bar.open * Decimal("0.99"):
            return bar.date
    raise AssertionError("no falling session in the test bars")


def test_limit_buy_below_the_ask_rests_then_fills_when_the_path_crosses(
    trading: TradingClient, sim: SimulatorServer, sim_bars: pd.DataFrame
) -> None:
    book = PriceBook(sim_bars)
    day = _falling_session(book, OPEN_NOW.date())
    morning = ny(day.year, day.month, day.day, 10, 0)
    sim.set_clock(morning)
    start_quote, end_quote = (
        book.quote("SPY", morning),
        book.quote("SPY", ny(day.year, day.month, day.day, 15, 59)),
    )
    assert start_quote is not None and end_quote is not None
    limit_price = float(((start_quote.ask + end_quote.ask) / 2).quantize(Decimal("0.01")))
    resting = trading.submit_order(limit(limit_price, qty=3))
    assert order(trading, resting.id).status == "new"  # not marketable at 10:00
    sim.set_clock(ny(day.year, day.month, day.day, 15, 59))
    filled = order(trading, resting.id)
    assert filled.status == "filled"
    assert Decimal(filled.filled_avg_price) <= Decimal(str(limit_price))
    assert filled.filled_at is not None and morning < filled.filled_at < ny(
        day.year, day.month, day.day, 15, 59
    )
    # the fill is the FIRST marketable second: one second earlier the ask was still above the limit
    before = book.quote("SPY", filled.filled_at - dt.timedelta(seconds=1))
    assert before is not None and before.ask > Decimal(str(limit_price))


def test_order_outside_hours_is_accepted_and_fills_at_the_open(
    trading: TradingClient, sim: SimulatorServer, sim_bars: pd.DataFrame
) -> None:
    sim.set_clock(ny(2024, 6, 29, 12, 0))  # Saturday
    assert trading.get_clock().is_open is False
    queued = trading.submit_order(market(qty=2))
    assert queued.status == "accepted"
    assert order(trading, queued.id).status == "accepted"
    sim.set_clock(ny(2024, 7, 1, 11, 0))
    filled = order(trading, queued.id)
    open_ = ny(2024, 7, 1, 9, 30)
    expected = PriceBook(sim_bars).quote("SPY", open_)
    assert expected is not None
    assert filled.status == "filled" and filled.filled_at == open_
    assert Decimal(filled.filled_avg_price) == expected.ask
    bar = next(b for b in PriceBook(sim_bars).bars("SPY") if b.date == dt.date(2024, 7, 1))
    assert expected.price == bar.open


def test_day_order_expires_at_the_close(trading: TradingClient, sim: SimulatorServer) -> None:
    resting = trading.submit_order(limit(1.0, qty=100))
    assert Decimal(trading.get_account().buying_power) == Decimal(99900)
    sim.set_clock(ny(2024, 6, 28, 16, 5))
    expired = order(trading, resting.id)
    assert expired.status == "expired" and expired.expired_at == ny(2024, 6, 28, 16, 0)
    assert trading.get_account().buying_power == "100000"


def test_day_order_expires_at_an_early_close(trading: TradingClient, sim: SimulatorServer) -> None:
    sim.set_clock(ny(2024, 11, 29, 10, 0))  # the day after Thanksgiving closes at 13:00
    resting = trading.submit_order(limit(1.0, qty=100))
    sim.set_clock(ny(2024, 11, 29, 13, 30))
    assert order(trading, resting.id).expired_at == ny(2024, 11, 29, 13, 0)


def test_gtc_order_survives_the_close(trading: TradingClient, sim: SimulatorServer) -> None:
    resting = trading.submit_order(
        LimitOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=1.0
        )
    )
    sim.set_clock(ny(2024, 7, 2, 10, 0))
    assert order(trading, resting.id).status == "new"


def test_order_listing_filters(trading: TradingClient, sim: SimulatorServer) -> None:
    filled = buy_and_fill(trading, qty=1)
    sim.set_clock(OPEN_NOW + dt.timedelta(minutes=5))
    resting = trading.submit_order(limit(1.0, qty=5, symbol="QQQ"))
    assert [o.id for o in trading.get_orders()] == [resting.id]  # default: open
    closed = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    assert [o.id for o in closed] == [filled.id]
    both = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, direction="asc"))
    assert [o.id for o in both] == [filled.id, resting.id]
    after = trading.get_orders(
        GetOrdersRequest(status=QueryOrderStatus.ALL, after=OPEN_NOW + dt.timedelta(minutes=1))
    )
    assert [o.id for o in after] == [resting.id]
    until = trading.get_orders(
        GetOrdersRequest(status=QueryOrderStatus.ALL, until=OPEN_NOW + dt.timedelta(minutes=1))
    )
    assert [o.id for o in until] == [filled.id]
    by_symbol = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, symbols=["QQQ"]))
    assert [o.id for o in by_symbol] == [resting.id]
    assert len(trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=1))) == 1
    assert trading.get_order_by_client_id(resting.client_order_id).id == resting.id
    with pytest.raises(APIError) as err:
        trading.get_order_by_client_id("never-sent")
    assert err.value.status_code == 404


def test_clock_cannot_go_backwards(sim: SimulatorServer) -> None:
    with pytest.raises(ValueError, match="cannot go back"):
        sim.set_clock(OPEN_NOW - dt.timedelta(minutes=1))


def test_restart_keeps_orders_positions_and_cash(tmp_path: Any, sim_bars: pd.DataFrame) -> None:
    state = tmp_path / "state"
    with SimulatorServer(state, bars=sim_bars, now=OPEN_NOW) as first:
        trading, _ = clients(first)
        filled = buy_and_fill(trading, qty=3)
        resting = trading.submit_order(limit(1.0, qty=5, client_order_id="resting-1"))
        account = trading.get_account()
    with SimulatorServer(state, bars=sim_bars, cash=Decimal(5)) as second:
        trading, _ = clients(second)
        assert second.now() == OPEN_NOW
        again = trading.get_account()
        assert (again.id, again.cash, again.buying_power) == (account.id, account.cash, account.buying_power)
        assert trading.get_open_position("SPY").qty == "3"
        assert order(trading, filled.id).status == "filled"
        assert trading.get_order_by_client_id("resting-1").id == resting.id
        assert rejected(trading, limit(1.0, client_order_id="resting-1")).code == 40010001
        second.set_clock(ny(2024, 6, 28, 16, 1))
        assert order(trading, resting.id).status == "expired"


def test_fill_rule_never_keeps_orders_open_until_restored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import requests as http

    from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time

    with SimulatorServer(tmp_path / "s", now=session_time(dt.date(2024, 6, 28))) as server:
        headers = {"APCA-API-KEY-ID": server.api_key, "APCA-API-SECRET-KEY": server.secret_key}
        assert http.post(
            f"{server.base_url}/_sim/fills", json={"symbol": "spy", "mode": "never"}, timeout=5
        ).json() == {"SPY": "never"}
        body = {
            "symbol": "SPY",
            "qty": "1",
            "side": "buy",
            "type": "market",
            "time_in_force": "day",
            "client_order_id": "hold-1",
        }
        http.post(f"{server.base_url}/v2/orders", json=body, headers=headers, timeout=5).raise_for_status()
        order = http.get(
            f"{server.base_url}/v2/orders:by_client_order_id",
            params={"client_order_id": "hold-1"},
            headers=headers,
            timeout=5,
        ).json()
        assert order["status"] in ("new", "accepted", "pending_new")
        server.set_fill_rule("SPY", "spread_crossing")
        order = http.get(
            f"{server.base_url}/v2/orders:by_client_order_id",
            params={"client_order_id": "hold-1"},
            headers=headers,
            timeout=5,
        ).json()
        assert order["status"] == "filled"
    with SimulatorServer(tmp_path / "s") as again:  # persisted with the state
        assert again.engine.fill_rules() == {"SPY": "spread_crossing"}
    bad = SimulatorServer(tmp_path / "t", now=session_time(dt.date(2024, 6, 28))).start()
    try:
        assert (
            http.post(
                f"{bad.base_url}/_sim/fills", json={"symbol": "SPY", "mode": "sometimes"}, timeout=5
            ).status_code
            == 422
        )
    finally:
        bad.stop()

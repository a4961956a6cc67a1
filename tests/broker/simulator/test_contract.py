"""Contract: the stand-in's responses have the shape of real Alpaca bodies (the shared fixtures).

For every fixture whose endpoint the simulator serves, the same call goes through the real
alpaca-py client (asserting the parsed model type) and through ``requests`` (asserting same
keys and JSON types as the fixture, recursively, per the fixtures README). Then every field
of every SDK model we get back is checked against the same model parsed from the fixture:
what the SDK fills from Alpaca's body it must fill from ours, with the same type.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.models import Bar, BarSet, Quote, Trade
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.models import Asset, Calendar, Clock, Order, Position, TradeAccount
from alpaca.trading.requests import (
    CancelOrderResponse,
    GetCalendarRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
)
from pydantic import BaseModel

from alchemiser_dagster.broker.simulator.server import SimulatorServer
from tests.broker.simulator.conftest import buy_and_fill, clients

ROOT = Path(__file__).resolve().parents[3]


def fixtures_dir() -> Path:
    shared = Path(os.environ.get("ALCHEMISER_SHARED", ROOT.parent / "shared"))
    return shared / "spec" / "alpaca-fixtures"


FIXTURES = fixtures_dir()
pytestmark = pytest.mark.skipif(
    not (FIXTURES / "index.json").is_file(), reason="shared Alpaca fixtures not found"
)

PDT_KEYS = {"pattern_day_trader", "daytrade_count", "daytrading_buying_power"}
#: Keys whose values are decimals: Alpaca sends strings even where a test fixture has a number.
DECIMAL_KEYS = {
    "qty", "notional", "filled_qty", "filled_avg_price", "limit_price", "stop_price",
    "available", "existing_qty", "held_for_orders",
}  # fmt: skip
#: Maps keyed by symbol: each of our values is compared with the fixture's first value.
SYMBOL_MAPS = {"bars", "quotes", "trades"}
TRADING_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
OFFSET_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


def assert_shape(fixture: Any, actual: Any, where: str = "$", key: str = "") -> None:
    """Same keys (extra allowed, PDT keys absent) and JSON types as ``fixture``, recursively."""
    if fixture is None:
        assert actual is None or isinstance(actual, str), f"{where}: expected string-or-null, got {actual!r}"
    elif isinstance(fixture, bool):
        assert isinstance(actual, bool), f"{where}: expected bool, got {actual!r}"
    elif isinstance(fixture, int | float):
        if key in DECIMAL_KEYS:
            assert isinstance(actual, str), f"{where}: decimal must be a JSON string, got {actual!r}"
        else:
            assert isinstance(actual, int | float) and not isinstance(actual, bool), (
                f"{where}: expected number, got {actual!r}"
            )
    elif isinstance(fixture, str):
        assert isinstance(actual, str), f"{where}: expected string, got {actual!r}"
    elif isinstance(fixture, list):
        assert isinstance(actual, list), f"{where}: expected array, got {actual!r}"
        if fixture:
            for i, item in enumerate(actual):
                assert_shape(fixture[0], item, f"{where}[{i}]", key)
    elif isinstance(fixture, dict):
        assert isinstance(actual, dict), f"{where}: expected object, got {actual!r}"
        if key in SYMBOL_MAPS:
            assert bool(actual) == bool(fixture), f"{where}: emptiness differs ({actual!r})"
            if fixture:
                sample = next(iter(fixture.values()))
                for sym, value in actual.items():
                    assert_shape(sample, value, f"{where}.{sym}", sym)
            return
        for k, v in fixture.items():
            if k in PDT_KEYS:
                assert k not in actual, f"{where}: {k} must not be sent (PDT is not simulated)"
                continue
            assert k in actual, f"{where}: missing key {k!r}"
            assert_shape(v, actual[k], f"{where}.{k}", k)
    else:  # pragma: no cover - JSON has no other types
        raise AssertionError(f"{where}: unexpected fixture type {type(fixture)}")


def assert_keys_only(fixture: Any, actual: Any) -> None:
    """For the OpenAPI-placeholder GET /v2/orders fixture: array of objects with its keys."""
    assert isinstance(actual, list) and actual
    for item in actual:
        assert set(fixture[0]) <= set(item)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class Ctx:
    """A running simulator, both SDK clients and a raw ``requests`` session with the keys."""

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server
        self.trading, self.data = clients(server)
        self.http = requests.Session()
        self.http.headers.update(
            {"APCA-API-KEY-ID": server.api_key, "APCA-API-SECRET-KEY": server.secret_key}
        )

    def raw(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        resp = self.http.request(method, self.server.base_url + path, timeout=10, **kwargs)
        assert resp.status_code == expect, resp.text
        return resp.json()

    def limit_buy(self, price: float = 1.0, qty: int = 5) -> Order:
        return self.trading.submit_order(
            LimitOrderRequest(
                symbol="SPY", qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, limit_price=price
            )
        )


Case = Callable[[Ctx], tuple[Any, Any]]  # -> (sdk result, raw json)


def _account(c: Ctx) -> tuple[Any, Any]:
    buy_and_fill(c.trading)
    return c.trading.get_account(), c.raw("GET", "/v2/account")


def _positions(c: Ctx) -> tuple[Any, Any]:
    buy_and_fill(c.trading)
    return c.trading.get_all_positions(), c.raw("GET", "/v2/positions")


def _position(c: Ctx) -> tuple[Any, Any]:
    buy_and_fill(c.trading)
    return c.trading.get_open_position("SPY"), c.raw("GET", "/v2/positions/SPY")


def _asset(c: Ctx) -> tuple[Any, Any]:
    return c.trading.get_asset("AAPL"), c.raw("GET", "/v2/assets/AAPL")


def _post(body: dict[str, Any], sdk_req: Any) -> Case:
    def run(c: Ctx) -> tuple[Any, Any]:
        if body["side"] == "sell":
            buy_and_fill(c.trading, qty=20)
        return c.trading.submit_order(sdk_req), c.raw("POST", "/v2/orders", json=body)

    return run


def _order_by_id(c: Ctx) -> tuple[Any, Any]:
    order = c.limit_buy()
    return c.trading.get_order_by_id(order.id), c.raw("GET", f"/v2/orders/{order.id}")


def _order_by_client_id(c: Ctx) -> tuple[Any, Any]:
    order = c.limit_buy()
    raw = c.raw("GET", "/v2/orders:by_client_order_id", params={"client_order_id": order.client_order_id})
    return c.trading.get_order_by_client_id(order.client_order_id), raw


def _orders(c: Ctx) -> tuple[Any, Any]:
    c.limit_buy()
    buy_and_fill(c.trading)
    after = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    sdk = c.trading.get_orders(GetOrdersRequest(status="all", after=after, nested=True, symbols=["SPY"]))
    raw = c.raw("GET", "/v2/orders", params={"status": "all", "after": after.isoformat(), "nested": "True"})
    return sdk, raw


def _cancel_all(c: Ctx) -> tuple[Any, Any]:
    c.limit_buy()
    sdk = c.trading.cancel_orders()
    c.limit_buy()
    return sdk, c.raw("DELETE", "/v2/orders", expect=207)


def _clock(c: Ctx) -> tuple[Any, Any]:
    return c.trading.get_clock(), c.raw("GET", "/v2/clock")


def _calendar(c: Ctx) -> tuple[Any, Any]:
    req = GetCalendarRequest(start=dt.date(2024, 11, 26), end=dt.date(2024, 11, 29))
    return c.trading.get_calendar(req), c.raw(
        "GET", "/v2/calendar", params={"start": "2024-11-26", "end": "2024-11-29"}
    )


def _bars(symbols: list[str], limit: int | None, start: dt.datetime) -> Case:
    def run(c: Ctx) -> tuple[Any, Any]:
        sdk = c.data.get_stock_bars(
            StockBarsRequest(symbol_or_symbols=symbols, timeframe=TimeFrame.Day, start=start)
        )
        params: dict[str, Any] = {
            "symbols": ",".join(symbols),
            "timeframe": "1Day",
            "start": start.isoformat(),
        }
        if limit is not None:
            params["limit"] = limit
        return sdk, c.raw("GET", "/v2/stocks/bars", params=params)

    return run


def _latest(kind: str, symbols: list[str]) -> Case:
    def run(c: Ctx) -> tuple[Any, Any]:
        if kind == "quotes":
            sdk = c.data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=symbols))
        else:
            sdk = c.data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols=symbols))
        return sdk, c.raw("GET", f"/v2/stocks/{kind}/latest", params={"symbols": ",".join(symbols)})

    return run


def _error(
    status: int, path: str, method: str = "GET", body: dict[str, Any] | None = None, setup: bool = False
) -> Case:
    def run(c: Ctx) -> tuple[Any, Any]:
        if setup:
            buy_and_fill(c.trading, qty=5)
        return None, c.raw(method, path, expect=status, json=body)

    return run


def _is_list_of(kind: type) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, kind) for x in v)


def _is_dict_of(kind: type, allow_empty: bool = False) -> Callable[[Any], bool]:
    return lambda v: (
        isinstance(v, dict) and (allow_empty or bool(v)) and all(isinstance(x, kind) for x in v.values())
    )


def _is_barset(empty: bool) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        if not isinstance(v, BarSet):
            return False
        bars = [b for rows in v.data.values() for b in rows]
        return (not bars) if empty else all(isinstance(b, Bar) for b in bars) and bool(bars)

    return check


def _cid() -> str:
    return f"contract-{uuid.uuid4().hex[:12]}"


START = dt.datetime(2024, 6, 3, tzinfo=dt.UTC)
CASES: dict[str, tuple[Case, Callable[[Any], bool] | None]] = {
    "GET_v2_account.json": (_account, lambda v: isinstance(v, TradeAccount)),
    "GET_v2_positions.json": (_positions, _is_list_of(Position)),
    "GET_v2_positions_symbol.json": (_position, lambda v: isinstance(v, Position)),
    "GET_v2_assets_symbol.json": (_asset, lambda v: isinstance(v, Asset)),
    "POST_v2_orders_market.json": (
        _post(
            {
                "symbol": "SPY",
                "qty": 1,
                "side": "buy",
                "type": "market",
                "time_in_force": "day",
                "client_order_id": _cid(),
            },
            MarketOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
        ),
        lambda v: isinstance(v, Order),
    ),
    "POST_v2_orders_limit.json": (
        _post(
            {
                "symbol": "SPY",
                "qty": 1,
                "side": "buy",
                "type": "limit",
                "time_in_force": "day",
                "limit_price": 300,
            },
            LimitOrderRequest(
                symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, limit_price=300
            ),
        ),
        lambda v: isinstance(v, Order),
    ),
    "POST_v2_orders_limit_sell_to_open.json": (
        _post(
            {
                "symbol": "SPY",
                "qty": 1,
                "side": "sell",
                "type": "limit",
                "time_in_force": "day",
                "limit_price": 90000,
            },
            LimitOrderRequest(
                symbol="SPY", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.DAY, limit_price=90000
            ),
        ),
        lambda v: isinstance(v, Order),
    ),
    # the README names this close-position body as THE notional-order shape
    "DELETE_v2_positions_symbol.json": (
        _post(
            {"symbol": "SPY", "notional": 500, "side": "buy", "type": "market", "time_in_force": "day"},
            MarketOrderRequest(symbol="SPY", notional=500, side=OrderSide.BUY, time_in_force=TimeInForce.DAY),
        ),
        lambda v: isinstance(v, Order) and v.notional == "500" and v.qty is None,
    ),
    "GET_v2_orders_id.json": (_order_by_id, lambda v: isinstance(v, Order)),
    "GET_v2_orders_by_client_order_id.json": (_order_by_client_id, lambda v: isinstance(v, Order)),
    "GET_v2_orders.json": (_orders, _is_list_of(Order)),
    "DELETE_v2_orders_207.json": (_cancel_all, _is_list_of(CancelOrderResponse)),
    "GET_v2_clock.json": (_clock, lambda v: isinstance(v, Clock)),
    "GET_v2_calendar.json": (_calendar, _is_list_of(Calendar)),
    "GET_v2_stocks_bars_multi.json": (_bars(["AAPL", "QQQ"], None, START), _is_barset(empty=False)),
    "GET_v2_stocks_bars_paged.json": (_bars(["AAPL"], 2, START), _is_barset(empty=False)),
    "GET_v2_stocks_bars_empty.json": (
        _bars(["AAPL"], None, dt.datetime(2024, 12, 1, tzinfo=dt.UTC)),
        _is_barset(empty=True),
    ),
    "GET_v2_stocks_trades_latest.json": (_latest("trades", ["AAPL", "QQQ"]), _is_dict_of(Trade)),
    "GET_v2_stocks_quotes_latest.json": (_latest("quotes", ["AAPL"]), _is_dict_of(Quote)),
    "GET_v2_stocks_quotes_latest_empty.json": (_latest("quotes", ["NOSUCHSYM"]), lambda v: v == {}),
    "ERROR_403_40310000_insufficient_qty.json": (
        _error(
            403,
            "/v2/orders",
            "POST",
            {"symbol": "SPY", "qty": 50, "side": "sell", "type": "market", "time_in_force": "day"},
            setup=True,
        ),
        None,
    ),
    "ERROR_403_40310000_not_allowed_to_short.json": (
        _error(
            403,
            "/v2/orders",
            "POST",
            {"symbol": "QQQ", "qty": 1, "side": "sell", "type": "market", "time_in_force": "day"},
        ),
        None,
    ),
    "ERROR_404_40410000_order_not_found.json": (_error(404, f"/v2/orders/{uuid.UUID(int=7)}"), None),
}
#: Fixtures for endpoints the simulator does not serve (the project never calls them).
NOT_SERVED = {"GET_v2_stocks_snapshots.json", "DELETE_v2_positions_207.json"}


def test_every_fixture_is_covered_or_knowingly_skipped() -> None:
    names = {k for k in json.loads((FIXTURES / "index.json").read_text()) if not k.startswith("_")}
    assert names == set(CASES) | NOT_SERVED


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_contract(name: str, sim: SimulatorServer) -> None:
    run, is_model = CASES[name]
    index = json.loads((FIXTURES / "index.json").read_text())[name]
    sdk_result, raw = run(Ctx(sim))
    expected = fixture(name)
    if name == "GET_v2_orders.json":
        assert_keys_only(expected, raw)  # OpenAPI placeholder: shape only (see index.json note)
    elif name == "DELETE_v2_orders_207.json":
        assert_shape(expected[:1], raw)  # we only ever produce successful items
    else:
        assert_shape(expected, raw)
    if is_model is not None:
        assert is_model(sdk_result), f"{index['sdk_model']}: got {sdk_result!r}"
    _assert_timestamps(raw)


def _models(value: Any) -> list[BaseModel]:
    """The SDK models in a result: itself, a list's items, a dict's values, a BarSet's bars."""
    if isinstance(value, BarSet):
        return [bar for bars in value.data.values() for bar in bars]
    if isinstance(value, list):
        return [m for item in value for m in _models(item)]
    if isinstance(value, dict):
        return [m for item in value.values() for m in _models(item)]
    return [value] if isinstance(value, BaseModel) else []


def _reference(model: BaseModel, name: str) -> BaseModel | None:
    """The same SDK model parsed from real Alpaca's body (the fixture)."""
    body = fixture(name)
    if isinstance(model, Bar | Quote | Trade):
        key = "bars" if isinstance(model, Bar) else "quotes" if isinstance(model, Quote) else "trades"
        symbol, items = next(iter(body[key].items()))
        return type(model)(symbol, items[0] if isinstance(items, list) else items)
    item = body[0] if isinstance(body, list) else body
    return type(model)(**item)


def assert_fields_like_alpaca(
    ours: BaseModel, theirs: BaseModel, where: str, *, values_are_real: bool
) -> None:
    """Every field the SDK fills from real Alpaca's body it fills from ours, with the same type.

    With ``values_are_real`` False (the OpenAPI placeholder) a field the placeholder fills may
    be None in ours; where both are set the types must still agree.
    """
    for field in type(ours).model_fields:
        if field in PDT_KEYS:
            continue
        mine, real = getattr(ours, field), getattr(theirs, field)
        if real is None or (mine is None and not values_are_real):
            continue
        assert mine is not None, f"{where}.{field}: None from the stand-in, {real!r} from Alpaca"
        if isinstance(real, BaseModel):
            assert_fields_like_alpaca(mine, real, f"{where}.{field}", values_are_real=values_are_real)
        elif isinstance(real, list) and real and isinstance(real[0], BaseModel):
            assert mine, f"{where}.{field}: empty where Alpaca has items"
            for i, item in enumerate(mine):
                assert_fields_like_alpaca(
                    item, real[0], f"{where}.{field}[{i}]", values_are_real=values_are_real
                )
        elif field in DECIMAL_KEYS:
            # Alpaca sends decimals as strings; some fixtures were recorded with numbers.
            assert isinstance(mine, str), f"{where}.{field}: decimal {mine!r} must stay a string"
        else:
            assert type(mine) is type(real), f"{where}.{field}: {mine!r} vs Alpaca's {real!r}"


@pytest.mark.parametrize("name", sorted(n for n, (_, is_model) in CASES.items() if is_model is not None))
def test_sdk_models_have_every_field_alpaca_fills(name: str, sim: SimulatorServer) -> None:
    """Each SDK call we make parses our answer into a model whose every field is set as from Alpaca."""
    run, _ = CASES[name]
    sdk_result, _ = run(Ctx(sim))
    models = _models(sdk_result)
    if name.endswith("_empty.json"):
        assert not models
        return
    assert models, f"{name}: no SDK model in {sdk_result!r}"
    for i, model in enumerate(models):
        reference = _reference(model, name)
        assert reference is not None
        assert_fields_like_alpaca(
            model, reference, f"{type(model).__name__}[{i}]", values_are_real=name != "GET_v2_orders.json"
        )


@pytest.mark.parametrize("state", ["filled", "rejected", "canceled"])
def test_terminal_orders_fill_their_state_fields_like_alpaca(state: str, sim: SimulatorServer) -> None:
    """The sample order is open; Alpaca fills these fields once it is terminal: so must we."""
    c = Ctx(sim)
    stamp = fixture("GET_v2_orders_id.json")["updated_at"]
    real = {**fixture("GET_v2_orders_id.json"), "status": state}
    if state == "filled":
        order = buy_and_fill(c.trading, qty=2)
        real |= {"filled_at": stamp, "filled_qty": "2", "filled_avg_price": "100.01"}
    elif state == "rejected":
        sim.set_fill_rule(None, "reject", client_order_id="contract-rejected")
        order = c.trading.submit_order(
            MarketOrderRequest(
                symbol="SPY",
                qty=1,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.DAY,
                client_order_id="contract-rejected",
            )
        )
        real |= {"failed_at": stamp}
    else:
        order = c.limit_buy()
        c.trading.cancel_order_by_id(order.id)
        real |= {"canceled_at": stamp}
    ours = c.trading.get_order_by_id(order.id)
    assert isinstance(ours, Order) and ours.status.value == state
    assert_fields_like_alpaca(ours, Order(**real), f"Order({state})", values_are_real=True)


def _assert_timestamps(raw: Any) -> None:
    """Trading timestamps are ``...Z`` with fractional seconds; the clock carries an offset."""
    items = raw if isinstance(raw, list) else [raw]
    for item in items:
        if not isinstance(item, dict):
            continue
        for key in ("created_at", "updated_at", "submitted_at", "filled_at", "expires_at"):
            if isinstance(item.get(key), str):
                assert TRADING_TS.match(item[key]), (key, item[key])
        for key in ("timestamp", "next_open", "next_close"):
            if isinstance(item.get(key), str):
                assert OFFSET_TS.match(item[key]) and not item[key].endswith("Z"), (key, item[key])


def test_error_fixtures_raise_api_error_with_code(trading: TradingClient) -> None:
    """The SDK exposes status_code/code/message of our error bodies like Alpaca's."""
    with pytest.raises(APIError) as err:
        trading.get_order_by_id(uuid.UUID(int=7))
    assert (err.value.status_code, err.value.code) == (404, 40410000)


def test_data_client_types(data: StockHistoricalDataClient) -> None:
    quotes = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=["SPY"]))
    assert quotes["SPY"].ask_price > quotes["SPY"].bid_price > 0

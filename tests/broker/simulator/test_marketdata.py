"""Market data, clock, calendar and the control plane of the stand-in."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import requests
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import GetCalendarRequest

from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.domain.calendar import NEW_YORK
from tests.broker.simulator.conftest import OPEN_NOW, ny

START = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def get(sim: SimulatorServer, path: str, params: dict[str, Any] | None = None) -> requests.Response:
    headers = {"APCA-API-KEY-ID": sim.api_key, "APCA-API-SECRET-KEY": sim.secret_key}
    return requests.get(sim.base_url + path, params=params, headers=headers, timeout=10)


def expected_bars(
    bars: pd.DataFrame, symbols: list[str], first: dt.date, before: dt.date
) -> set[tuple[str, dt.date]]:
    rows = bars[bars["symbol"].isin(symbols) & (bars["date"] >= first) & (bars["date"] < before)]
    return {(str(s), d) for s, d in zip(rows["symbol"], rows["date"], strict=True)}


def bar_date(t: str) -> dt.date:
    return dt.datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(NEW_YORK).date()


def test_bars_pagination_returns_every_bar_exactly_once(sim: SimulatorServer, sim_bars: pd.DataFrame) -> None:
    symbols = ["TQQQ", "AAPL", "SPY"]
    params: dict[str, Any] = {
        "symbols": ",".join(symbols),
        "timeframe": "1Day",
        "start": START.isoformat(),
        "limit": 7,
        "adjustment": "all",
        "feed": "iex",
    }
    seen: list[tuple[str, dt.date]] = []
    pages = 0
    while True:
        body = get(sim, "/v2/stocks/bars", params).json()
        pages += 1
        page = [(sym, bar_date(b["t"])) for sym, rows in body["bars"].items() for b in rows]
        assert 1 <= len(page) <= 7
        seen += page
        if body["next_page_token"] is None:
            break
        params["page_token"] = body["next_page_token"]
    assert len(seen) == len(set(seen))
    assert set(seen) == expected_bars(sim_bars, symbols, START.date(), OPEN_NOW.date())
    assert pages == -(-len(seen) // 7)
    assert seen == sorted(seen)  # by symbol, then time


def test_sdk_bars_match_and_only_completed_sessions(
    sim: SimulatorServer, data: StockHistoricalDataClient
) -> None:
    req = StockBarsRequest(symbol_or_symbols=["SPY", "QQQ"], timeframe=TimeFrame.Day, start=START)
    barset = data.get_stock_bars(req)
    assert set(barset.data) == {"SPY", "QQQ"}
    assert barset.data["SPY"][-1].timestamp.astimezone(NEW_YORK).date() == dt.date(
        2024, 6, 27
    )  # 06-28 still open
    assert barset.data["SPY"][-1].timestamp.astimezone(NEW_YORK).time() == dt.time(0, 0)
    sim.set_clock(ny(2024, 6, 28, 16, 0))
    after_close = data.get_stock_bars(req)
    last = after_close.data["SPY"][-1]
    assert last.timestamp.astimezone(NEW_YORK).date() == dt.date(2024, 6, 28)
    trade = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="SPY"))["SPY"]
    assert trade.price == last.close  # the last trade of the day is the bar's close


def test_bars_end_filter_and_empty_result(sim: SimulatorServer) -> None:
    body = get(
        sim,
        "/v2/stocks/bars",
        {"symbols": "SPY", "timeframe": "1Day", "start": "2024-06-03", "end": "2024-06-07"},
    ).json()
    assert [bar_date(b["t"]) for b in body["bars"]["SPY"]] == [dt.date(2024, 6, d) for d in (3, 4, 5, 6, 7)]
    assert {"o", "h", "l", "c", "v", "n", "vw"} <= set(body["bars"]["SPY"][0])
    empty = get(sim, "/v2/stocks/bars", {"symbols": "NOSUCH", "timeframe": "1Day"}).json()
    assert empty == {"bars": {}, "next_page_token": None}
    bad = get(sim, "/v2/stocks/bars", {"symbols": "SPY", "timeframe": "1Min"})
    assert bad.status_code == 422 and isinstance(bad.json()["code"], int)


def test_quotes_and_trades(sim: SimulatorServer, data: StockHistoricalDataClient) -> None:
    quote = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols=["SPY", "NOSUCH"]))
    assert set(quote) == {"SPY"}
    q = quote["SPY"]
    trade = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="SPY"))["SPY"]
    assert q.bid_price < trade.price < q.ask_price
    assert round(q.ask_price - q.bid_price, 2) >= 0.02
    assert Decimal(str(q.ask_price)) == Decimal(str(q.ask_price)).quantize(Decimal("0.01"))
    assert q.timestamp == sim.now()
    sim.set_clock(OPEN_NOW + dt.timedelta(minutes=10))
    later = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="SPY"))["SPY"]
    assert later.timestamp == OPEN_NOW + dt.timedelta(minutes=10)


def test_clock_fields(sim: SimulatorServer, trading: TradingClient) -> None:
    clock = trading.get_clock()
    assert clock.is_open is True
    assert clock.timestamp == OPEN_NOW
    assert clock.next_close == ny(2024, 6, 28, 16, 0)
    assert clock.next_open == ny(2024, 7, 1, 9, 30)
    raw = get(sim, "/v2/clock").json()
    assert raw["timestamp"].endswith("-04:00") and raw["next_open"] == "2024-07-01T09:30:00-04:00"
    sim.set_clock(ny(2024, 6, 28, 17, 0))
    clock = trading.get_clock()
    assert (clock.is_open, clock.next_open, clock.next_close) == (
        False,
        ny(2024, 7, 1, 9, 30),
        ny(2024, 7, 1, 16, 0),
    )
    sim.set_clock(ny(2024, 11, 29, 8, 0))  # early close
    clock = trading.get_clock()
    assert (clock.is_open, clock.next_open, clock.next_close) == (
        False,
        ny(2024, 11, 29, 9, 30),
        ny(2024, 11, 29, 13, 0),
    )


def test_calendar_fields(sim: SimulatorServer, trading: TradingClient) -> None:
    days = trading.get_calendar(GetCalendarRequest(start=dt.date(2024, 11, 26), end=dt.date(2024, 12, 2)))
    assert [d.date for d in days] == [dt.date(2024, 11, d) for d in (26, 27, 29)] + [dt.date(2024, 12, 2)]
    early = days[2]
    assert (early.open.time(), early.close.time()) == (dt.time(9, 30), dt.time(13, 0))
    raw = get(sim, "/v2/calendar", {"start": "2024-11-29", "end": "2024-11-29"}).json()
    assert raw == [
        {
            "date": "2024-11-29",
            "open": "09:30",
            "close": "13:00",
            "session_open": "0400",
            "session_close": "2000",
        }
    ]


def test_rate_limit_headers_and_error_body(sim: SimulatorServer) -> None:
    resp = get(sim, "/v2/account")
    assert resp.headers["X-Ratelimit-Limit"] == "200"
    assert 0 <= int(resp.headers["X-Ratelimit-Remaining"]) < 200
    assert int(resp.headers["X-Ratelimit-Reset"]) > 0
    missing = get(sim, "/v2/nothing-here")
    assert missing.status_code == 404 and set(missing.json()) == {"code", "message"}


def test_control_plane(sim: SimulatorServer, trading: TradingClient) -> None:
    base = sim.base_url
    assert requests.get(f"{base}/_sim/health", timeout=10).json()["status"] == "ok"
    moved = requests.post(f"{base}/_sim/clock", json={"now": "2024-07-01T10:00:00-04:00"}, timeout=10)
    assert moved.status_code == 200 and moved.json()["is_open"] is True
    assert sim.now() == ny(2024, 7, 1, 10, 0)
    assert requests.get(f"{base}/_sim/clock", timeout=10).json()["now"] == "2024-07-01T10:00:00-04:00"
    back = requests.post(f"{base}/_sim/clock", json={"now": "2024-06-01T10:00:00-04:00"}, timeout=10)
    assert back.status_code == 409
    old_id = trading.get_account().id
    reset = requests.post(f"{base}/_sim/reset", json={"cash": "2500"}, timeout=10)
    assert reset.status_code == 200
    account = trading.get_account()
    assert account.cash == "2500" and account.id != old_id
    log = requests.get(f"{base}/_sim/requests", timeout=10).json()["requests"]
    assert {k: log[-1][k] for k in ("method", "path", "status")} == {
        "method": "GET",
        "path": "/v2/account",
        "status": 200,
    }
    assert all({"method", "path", "status", "time"} <= set(e) for e in log)

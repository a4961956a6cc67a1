"""Fault injection by rule, observed as the clients see it (real alpaca-py over HTTP and raw requests)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.models import Clock, Order
from alpaca.trading.requests import MarketOrderRequest

from alchemiser_dagster.broker.simulator.server import SimulatorServer
from tests.broker.simulator.conftest import OPEN_NOW, clients


def no_retry(trading: TradingClient) -> TradingClient:
    """The SDK retries 429/504 itself (3 x 3 s); tests that observe one answer turn it off."""
    trading._retry = 0
    return trading


def buy(qty: float = 1, client_order_id: str | None = None) -> MarketOrderRequest:
    return MarketOrderRequest(
        symbol="SPY",
        qty=qty,
        side=OrderSide.BUY,
        time_in_force=TimeInForce.DAY,
        client_order_id=client_order_id,
    )


def raw(sim: SimulatorServer, method: str, path: str, **kw: Any) -> requests.Response:
    headers = {"APCA-API-KEY-ID": sim.api_key, "APCA-API-SECRET-KEY": sim.secret_key}
    return requests.request(
        method, f"{sim.base_url}{path}", headers=headers, timeout=kw.pop("timeout", 10), **kw
    )


def api_error(call: Any, *args: Any) -> APIError:
    with pytest.raises(APIError) as err:
        call(*args)
    return err.value


# --- kinds -------------------------------------------------------------------------------


def test_status_fault_is_an_alpaca_error(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.add_fault("GET", "/v2/account", "status", status=500)
    err = api_error(no_retry(trading).get_account)
    assert (err.status_code, err.code) == (500, 50010000)
    assert trading.get_account().status == "ACTIVE"  # times=1: the next request is served


def test_status_fault_with_custom_code_and_message(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.add_fault(
        "POST", "/v2/orders", "status", status=403, code=40310000, message="insufficient buying power"
    )
    err = api_error(trading.submit_order, buy())
    assert (err.status_code, err.code, err.message) == (403, 40310000, "insufficient buying power")
    assert sim.engine.orders() == []  # a status fault answers instead of handling


def test_429_has_retry_after_and_rate_limit_headers(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.add_fault("GET", "/v2/clock", "status", status=429, retry_after=7)
    resp = raw(sim, "GET", "/v2/clock")
    assert resp.status_code == 429
    assert resp.json() == {"code": 42910000, "message": "rate limit exceeded"}
    assert resp.headers["Retry-After"] == "7"
    assert resp.headers["X-Ratelimit-Limit"] == "200"
    assert resp.headers["X-Ratelimit-Remaining"] == "0"
    assert int(resp.headers["X-Ratelimit-Reset"]) >= int(time.time()) + 6

    sim.add_fault("GET", "/v2/clock", "status", status=429)
    err = api_error(no_retry(trading).get_clock)
    assert (err.status_code, err.code) == (429, 42910000)
    assert err.response.headers["Retry-After"] == "1"  # the default


def test_sdk_retries_429_by_itself(sim: SimulatorServer, trading: TradingClient) -> None:
    trading._retry_wait = 0  # keep the SDK's own retry loop, without its 3 s sleeps
    sim.add_fault("GET", "/v2/clock", "status", status=429, times=2)
    assert isinstance(trading.get_clock(), Clock)
    log = requests.get(f"{sim.base_url}/_sim/requests", timeout=5).json()["requests"]
    assert [e["status"] for e in log if e["path"] == "/v2/clock"] == [429, 429, 200]


def test_html_gateway_error(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.add_fault("GET", "/v2/positions", "html", status=503)
    resp = raw(sim, "GET", "/v2/positions")
    assert resp.status_code == 503
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "<h1>503 Service Unavailable</h1>" in resp.text
    sim.add_fault("GET", "/v2/positions", "html")
    err = api_error(trading.get_all_positions)
    assert err.status_code == 502 and "Bad Gateway" in str(err)
    with pytest.raises(ValueError):  # no JSON body: the SDK's .code cannot parse it
        _ = err.code


def test_delay_then_normal_answer(sim: SimulatorServer) -> None:
    sim.add_fault("GET", "/v2/clock", "delay", seconds=0.4)
    started = time.monotonic()
    resp = raw(sim, "GET", "/v2/clock")
    assert resp.status_code == 200 and "is_open" in resp.json()
    assert time.monotonic() - started >= 0.4

    sim.add_fault("GET", "/v2/clock", "delay", seconds=0.6)
    with pytest.raises(requests.exceptions.ReadTimeout):
        raw(sim, "GET", "/v2/clock", timeout=0.2)
    time.sleep(0.6)  # let the stalled handler finish before the fixture stops the server


def test_delay_adds_to_another_fault(sim: SimulatorServer) -> None:
    sim.add_fault("GET", "/v2/clock", "delay", seconds=0.3)
    sim.add_fault("GET", "/v2/clock", "status", status=500)
    started = time.monotonic()
    assert raw(sim, "GET", "/v2/clock").status_code == 500
    assert time.monotonic() - started >= 0.3


def test_drop_closes_without_a_response(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.add_fault("GET", "/v2/account", "drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        raw(sim, "GET", "/v2/account")
    sim.add_fault("POST", "/v2/orders", "drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        trading.submit_order(buy(client_order_id="dropped-before"))
    assert sim.engine.orders() == []  # dropped before handling: nothing stored
    assert trading.get_account().status == "ACTIVE"


def test_drop_after_headers_is_a_broken_body(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.add_fault("GET", "/v2/account", "drop", after_headers=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        trading.get_account()


def test_garbage_body(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.add_fault("GET", "/v2/account", "garbage")
    resp = raw(sim, "GET", "/v2/account")
    assert resp.status_code == 200
    with pytest.raises(requests.exceptions.JSONDecodeError):
        resp.json()
    sim.add_fault("GET", "/v2/account", "garbage", body="<<<>>>")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        trading.get_account()


# --- commit then fail: the order is stored, the answer is lost ----------------------------


def test_commit_then_504_stores_the_order_once(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.add_fault("POST", "/v2/orders", "commit_then_fail", then="504")
    err = api_error(no_retry(trading).submit_order, buy(2, client_order_id="rebalance-1-SPY"))
    assert (err.status_code, err.code) == (504, 50410000)
    found = trading.get_order_by_client_id("rebalance-1-SPY")
    assert isinstance(found, Order) and found.qty == "2"
    assert len(sim.engine.orders()) == 1
    # a retry with the same client_order_id is refused: still one order
    dup = api_error(trading.submit_order, buy(2, client_order_id="rebalance-1-SPY"))
    assert (dup.status_code, dup.code) == (422, 40010001)
    assert len(sim.engine.orders()) == 1
    log = requests.get(f"{sim.base_url}/_sim/requests", timeout=5).json()["requests"]
    faulted = [e for e in log if e.get("faults")]
    assert len(faulted) == 1
    assert (faulted[0]["status"], faulted[0]["handled_status"]) == (504, 200)
    assert faulted[0]["faults"] == [{"id": 1, "kind": "commit_then_fail", "then": "504"}]


def test_commit_then_drop_stores_the_order(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.add_fault("POST", "/v2/orders", "commit_then_fail", then="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        trading.submit_order(buy(3, client_order_id="rebalance-2-SPY"))
    found = trading.get_order_by_client_id("rebalance-2-SPY")
    assert isinstance(found, Order) and found.status == "filled"
    assert len(sim.engine.orders()) == 1
    entry = requests.get(f"{sim.base_url}/_sim/requests", timeout=5).json()["requests"][0]
    assert (entry["status"], entry["handled_status"]) == (None, 200)


def test_sdk_retry_after_commit_then_504_duplicates_an_order_without_client_id(
    sim: SimulatorServer, trading: TradingClient
) -> None:
    """Why the adapter turns the SDK retry off: its re-POST after a committed 504 is a second order."""
    trading._retry_wait = 0
    sim.add_fault("POST", "/v2/orders", "commit_then_fail")
    trading.submit_order(buy(1))
    assert len(sim.engine.orders()) == 2


# --- matching and counting ---------------------------------------------------------------


def test_skip_then_times(sim: SimulatorServer) -> None:
    rule = sim.add_fault("GET", "/v2/clock", "status", status=500, skip=2, times=2)
    assert (rule["id"], rule["seen"], rule["applied"]) == (1, 0, 0)
    assert [raw(sim, "GET", "/v2/clock").status_code for _ in range(6)] == [200, 200, 500, 500, 200, 200]
    (stored,) = sim.faults()
    assert (stored["seen"], stored["applied"]) == (4, 2)


def test_times_none_applies_until_cleared(sim: SimulatorServer) -> None:
    sim.add_fault("*", "/v2/clock", "status", status=503, times=None)
    assert [raw(sim, "GET", "/v2/clock").status_code for _ in range(3)] == [503, 503, 503]
    assert sim.clear_faults() == 1
    assert raw(sim, "GET", "/v2/clock").status_code == 200


def test_probability_hits_a_seeded_share_of_the_requests(tmp_path: Path, sim_bars: pd.DataFrame) -> None:
    """p = 0.3 over 200 requests: about 60 hit; the same rule on a fresh state hits the same ones."""

    def hits(state: Path) -> list[int]:
        with SimulatorServer(state, bars=sim_bars, now=OPEN_NOW) as server:
            server.add_fault("GET", "/v2/clock", "status", status=503, times=None, probability=0.3)
            codes = [raw(server, "GET", "/v2/clock").status_code for _ in range(200)]
            (stored,) = server.faults()
            assert (stored["seen"], stored["applied"]) == (200, codes.count(503))
            assert set(codes) == {200, 503}
            return [i for i, code in enumerate(codes) if code == 503]

    first = hits(tmp_path / "a")
    assert 40 <= len(first) <= 80
    assert hits(tmp_path / "b") == first


def test_the_same_probability_rule_added_again_hits_the_same_requests(sim: SimulatorServer) -> None:
    def hits() -> list[int]:
        sim.add_fault("GET", "/v2/clock", "status", status=503, times=None, probability=0.5)
        codes = [raw(sim, "GET", "/v2/clock").status_code for _ in range(40)]
        sim.clear_faults()
        return [i for i, code in enumerate(codes) if code == 503]

    assert hits() == hits()  # a new rule id, the same draws


def test_probability_counts_toward_times(sim: SimulatorServer) -> None:
    sim.add_fault("GET", "/v2/clock", "status", status=500, times=3, probability=0.5)
    codes = [raw(sim, "GET", "/v2/clock").status_code for _ in range(60)]
    assert codes.count(500) == 3 and codes[-20:] == [200] * 20


def test_method_and_path_matching(sim: SimulatorServer, trading: TradingClient) -> None:
    order = trading.submit_order(buy(1, client_order_id="match-1"))
    sim.add_fault("GET", "/v2/orders", "status", status=500, times=None)  # exact: the list only
    assert raw(sim, "GET", "/v2/orders").status_code == 500
    assert raw(sim, "GET", f"/v2/orders/{order.id}").status_code == 200
    assert raw(sim, "GET", "/v2/orders", params={"status": "all"}).status_code == 500  # query ignored
    assert raw(sim, "DELETE", "/v2/orders").status_code == 207  # other method
    sim.clear_faults()
    sim.add_fault("GET", "/v2/orders*", "status", status=502, times=None)  # prefix
    for path in (
        "/v2/orders",
        f"/v2/orders/{order.id}",
        "/v2/orders:by_client_order_id?client_order_id=match-1",
    ):
        assert raw(sim, "GET", path).status_code == 502, path
    assert raw(sim, "GET", "/v2/account").status_code == 200


def test_control_plane_is_never_faulted(sim: SimulatorServer) -> None:
    sim.add_fault("*", "*", "drop", times=None)
    with pytest.raises(requests.exceptions.ConnectionError):
        raw(sim, "GET", "/v2/clock")
    assert requests.get(f"{sim.base_url}/_sim/health", timeout=5).json()["status"] == "ok"
    resp = requests.post(
        f"{sim.base_url}/_sim/faults", json={"method": "*", "path": "/_sim/health", "kind": "drop"}, timeout=5
    )
    assert resp.status_code == 422


def test_control_plane_json_api(sim: SimulatorServer) -> None:
    url = f"{sim.base_url}/_sim/faults"
    one = {"method": "POST", "path": "/v2/orders", "kind": "commit_then_fail", "then": "drop"}
    added = requests.post(url, json=one, timeout=5).json()["faults"]
    assert added == [
        {
            "id": 1, "method": "POST", "path": "/v2/orders", "kind": "commit_then_fail",
            "times": 1, "skip": 0, "probability": 1.0, "then": "drop", "seen": 0, "applied": 0,
        }
    ]  # fmt: skip
    many: list[dict[str, Any]] = [
        {"method": "get", "path": "/v2/clock", "kind": "delay", "seconds": 0.5, "times": 3},
        {"path": "/v2/account", "kind": "status", "params": {"status": 429, "retry_after": 4}},
    ]
    added = requests.post(url, json=many, timeout=5).json()["faults"]
    assert [(r["id"], r["method"], r["kind"]) for r in added] == [(2, "GET", "delay"), (3, "*", "status")]
    assert added[1]["code"] == 42910000 and added[1]["retry_after"] == 4
    assert [r["id"] for r in requests.get(url, timeout=5).json()["faults"]] == [1, 2, 3]
    assert requests.delete(f"{url}/2", timeout=5).json() == {"removed": 1}
    assert requests.delete(f"{url}/2", timeout=5).status_code == 404
    assert requests.delete(url, timeout=5).json() == {"removed": 2}
    assert requests.get(url, timeout=5).json() == {"faults": []}


@pytest.mark.parametrize(
    "body",
    [
        {"path": "/v2/orders", "kind": "explode"},
        {"method": "PUT", "path": "/v2/orders", "kind": "drop"},
        {"path": "v2/orders", "kind": "drop"},
        {"path": "/v2/orders", "kind": "status"},
        {"path": "/v2/orders", "kind": "status", "status": 200},
        {"path": "/v2/orders", "kind": "html", "status": 404},
        {"path": "/v2/orders", "kind": "delay", "seconds": 31},
        {"path": "/v2/orders", "kind": "delay"},
        {"path": "/v2/orders", "kind": "commit_then_fail", "then": "500"},
        {"path": "/v2/orders", "kind": "garbage", "body": "{}"},
        {"path": "/v2/orders", "kind": "drop", "times": 0},
        {"path": "/v2/orders", "kind": "drop", "skip": -1},
        {"path": "/v2/orders", "kind": "drop", "seconds": 1},
        {"path": "/v2/orders", "kind": "drop", "probability": 0},
        {"path": "/v2/orders", "kind": "drop", "probability": 1.5},
        {"path": "/v2/orders", "kind": "drop", "probability": "half"},
    ],
)
def test_invalid_rules_are_rejected(sim: SimulatorServer, body: dict[str, Any]) -> None:
    resp = requests.post(f"{sim.base_url}/_sim/faults", json=body, timeout=5)
    assert resp.status_code == 422 and resp.json()["code"] == 40010001
    assert sim.faults() == []


# --- persistence across servers / processes on one state dir -----------------------------


def test_rules_persist_for_a_new_server_on_the_same_state(tmp_path: Path, sim_bars: pd.DataFrame) -> None:
    state = tmp_path / "state"
    with SimulatorServer(state, bars=sim_bars, now=OPEN_NOW) as setup:
        setup.add_fault("POST", "/v2/orders", "commit_then_fail", then="504")
        setup.add_fault("GET", "/v2/account", "status", status=500, skip=1)
    with SimulatorServer(state, bars=sim_bars) as pipeline:
        trading = no_retry(clients(pipeline)[0])
        assert [r["kind"] for r in pipeline.faults()] == ["commit_then_fail", "status"]
        err = api_error(trading.submit_order, buy(1, client_order_id="persisted-1"))
        assert err.status_code == 504
        assert isinstance(trading.get_order_by_client_id("persisted-1"), Order)
        assert trading.get_account().status == "ACTIVE"  # skip=1
        assert api_error(trading.get_account).status_code == 500


def test_counts_are_shared_by_servers_running_on_one_state(tmp_path: Path, sim_bars: pd.DataFrame) -> None:
    state = tmp_path / "state"
    with SimulatorServer(state, bars=sim_bars, now=OPEN_NOW) as a, SimulatorServer(state, bars=sim_bars) as b:
        a.add_fault("GET", "/v2/clock", "status", status=500, skip=1, times=2)
        statuses = [raw(server, "GET", "/v2/clock").status_code for server in (b, a, b, a)]
        assert statuses == [200, 500, 500, 200]
        assert [(r["seen"], r["applied"]) for r in b.faults()] == [(3, 2)]


def test_rewrite_kinds_market_closed_and_stale_quotes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import datetime as _dt

    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.data.requests import StockLatestQuoteRequest
    from alpaca.trading.client import TradingClient

    from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time

    with SimulatorServer(tmp_path / "rw", now=session_time(_dt.date(2024, 6, 28))) as server:
        trading = TradingClient(server.api_key, server.secret_key, paper=True, url_override=server.base_url)
        data = StockHistoricalDataClient(server.api_key, server.secret_key, url_override=server.base_url)
        assert trading.get_clock().is_open is True
        server.add_fault("GET", "/v2/clock", "market_closed", times=1)
        assert trading.get_clock().is_open is False
        assert trading.get_clock().is_open is True  # spent
        fresh = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="SPY"))["SPY"].timestamp
        server.add_fault("GET", "/v2/stocks/quotes/latest", "stale_quotes", times=1)
        stale = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="SPY"))["SPY"].timestamp
        assert fresh - stale == _dt.timedelta(days=1)

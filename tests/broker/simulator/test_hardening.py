"""The stand-in refuses hostile or impossible input with a 4xx in Alpaca's error shape, never a 500.

Each test talks HTTP to a real server on loopback, as a client (or a browser page) would.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from alchemiser_dagster.broker.simulator.httpapi import MAX_BODY_BYTES, SimHTTPServer
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.domain.calendar import calendar_bounds


def v2(sim: SimulatorServer) -> dict[str, str]:
    return {"APCA-API-KEY-ID": sim.api_key, "APCA-API-SECRET-KEY": sim.secret_key}


def assert_alpaca_error(resp: requests.Response, status: int) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert isinstance(body.get("code"), int) and isinstance(body.get("message"), str), body


def still_answers(sim: SimulatorServer) -> None:
    assert requests.get(f"{sim.base_url}/v2/account", headers=v2(sim), timeout=10).status_code == 200
    assert requests.get(f"{sim.base_url}/v2/clock", headers=v2(sim), timeout=10).status_code == 200


@pytest.mark.parametrize("cash", ["-1", -1, "NaN", "Infinity", "-Infinity", "1e999999999", True, None, [1]])
def test_reset_refuses_cash_that_is_not_a_finite_non_negative_amount(
    sim: SimulatorServer, cash: object
) -> None:
    before = requests.get(f"{sim.base_url}/v2/account", headers=v2(sim), timeout=10).json()
    resp = requests.post(f"{sim.base_url}/_sim/reset", json={"cash": cash}, timeout=10)
    assert_alpaca_error(resp, 422)
    after = requests.get(f"{sim.base_url}/v2/account", headers=v2(sim), timeout=10).json()
    assert (after["id"], after["cash"]) == (before["id"], before["cash"])  # nothing was reset


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_reset_refuses_non_json_number_literals(sim: SimulatorServer, literal: bytes) -> None:
    resp = requests.post(
        f"{sim.base_url}/_sim/reset",
        data=b'{"cash": ' + literal + b"}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert_alpaca_error(resp, 400)


def test_reset_accepts_zero_cash(sim: SimulatorServer) -> None:
    assert requests.post(f"{sim.base_url}/_sim/reset", json={"cash": "0"}, timeout=10).status_code == 200
    assert requests.get(f"{sim.base_url}/v2/account", headers=v2(sim), timeout=10).json()["cash"] == "0"


@pytest.mark.parametrize("endpoint", ["/_sim/reset", "/_sim/clock"])
def test_a_clock_past_the_calendar_is_refused_and_the_api_keeps_working(
    sim: SimulatorServer, endpoint: str
) -> None:
    _, last = calendar_bounds()
    resp = requests.post(
        f"{sim.base_url}{endpoint}",
        json={"cash": "1000", "now": f"{last.year + 5}-01-02T15:00:00Z"},
        timeout=10,
    )
    assert resp.status_code in (409, 422)
    assert_alpaca_error(resp, resp.status_code)
    assert "outside the NYSE calendar" in resp.json()["message"]
    still_answers(sim)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"cash": "1"}'),
        ("application/x-www-form-urlencoded", b"cash=1"),
        ("multipart/form-data; boundary=x", b"--x--"),
        (None, b""),
    ],
)
def test_control_posts_must_be_json(sim: SimulatorServer, content_type: str | None, body: bytes) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    for endpoint in ("/_sim/reset", "/_sim/clock", "/_sim/fills", "/_sim/faults"):
        resp = requests.post(f"{sim.base_url}{endpoint}", data=body, headers=headers, timeout=10)
        assert_alpaca_error(resp, 415)
    assert requests.post(f"{sim.base_url}/_sim/reset", json={"cash": "7"}, timeout=10).status_code == 200
    charset = requests.post(
        f"{sim.base_url}/_sim/reset",
        data=b'{"cash": "8"}',
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
        timeout=10,
    )
    assert charset.status_code == 200


@pytest.mark.parametrize("field", ["qty", "notional", "limit_price"])
@pytest.mark.parametrize("value", ["1e999999999", "1E+999999999", "-1e999999999", "1e13"])
def test_a_huge_number_in_an_order_is_a_422(sim: SimulatorServer, field: str, value: str) -> None:
    body = {
        "symbol": "SPY",
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "qty": "1",
        "limit_price": "100",
    }
    if field == "notional":
        body = {"symbol": "SPY", "side": "buy", "type": "market", "time_in_force": "day"}
    raw = (
        "{" + ", ".join(f'"{k}": "{v}"' for k, v in body.items()) + f', "{field}": {value}' + "}"
    ).encode()  # an unquoted JSON number, as a hostile client would send it
    resp = requests.post(
        f"{sim.base_url}/v2/orders",
        data=raw,
        headers={**v2(sim), "Content-Type": "application/json"},
        timeout=10,
    )
    assert_alpaca_error(resp, 422)
    assert field in resp.json()["message"]
    still_answers(sim)


def test_deeply_nested_json_is_a_400(sim: SimulatorServer) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for url, headers in ((f"{sim.base_url}/v2/orders", v2(sim)), (f"{sim.base_url}/_sim/faults", {})):
        resp = requests.post(
            url, data=deep, headers={**headers, "Content-Type": "application/json"}, timeout=10
        )
        assert_alpaca_error(resp, 400)
        assert "deeper than" in resp.json()["message"]
    brackets_in_strings = b'{"symbol": "' + b"[" * 100 + b'"}'
    resp = requests.post(
        f"{sim.base_url}/v2/orders",
        data=brackets_in_strings,
        headers={**v2(sim), "Content-Type": "application/json"},
        timeout=10,
    )
    assert (
        resp.status_code == 422
    )  # parsed (brackets inside a string are not nesting), then refused as an order
    still_answers(sim)


def read_all(conn: socket.socket) -> str:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_an_oversized_body_is_a_413_without_being_read(sim: SimulatorServer) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as conn:
        conn.sendall(
            b"POST /v2/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
            + b"{"
        )
        answer = read_all(conn)
    assert answer.startswith("HTTP/1.1 413"), answer
    assert '"code": 41310000' in answer
    still_answers(sim)


def test_a_bad_content_length_is_a_400(sim: SimulatorServer) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as conn:
        conn.sendall(
            b"POST /_sim/reset HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: lots\r\n\r\n"
        )
        answer = read_all(conn)
    assert answer.startswith("HTTP/1.1 400"), answer
    still_answers(sim)


def test_a_burst_of_connections_is_queued_not_refused(sim: SimulatorServer) -> None:
    def one(_: int) -> int:
        return requests.get(f"{sim.base_url}/_sim/health", timeout=30).status_code

    with ThreadPoolExecutor(max_workers=64) as pool:
        assert set(pool.map(one, range(256))) == {200}
    assert SimHTTPServer.request_queue_size >= 128  # socketserver's default of 5 drops SYNs in a burst


@pytest.mark.parametrize(("start", "end"), [("0001-01-01", "2024-06-28"), ("2024-06-01", "9999-12-31")])
def test_bar_bounds_at_the_ends_of_time_are_a_422_or_an_answer(
    sim: SimulatorServer, start: str, end: str
) -> None:
    resp = requests.get(
        f"{sim.base_url}/v2/stocks/bars",
        params={"symbols": "SPY", "timeframe": "1Day", "start": start, "end": end},
        headers=v2(sim),
        timeout=10,
    )
    assert resp.status_code in (200, 422), resp.text
    if resp.status_code == 422:
        assert_alpaca_error(resp, 422)

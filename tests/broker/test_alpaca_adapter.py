"""The Alpaca adapter over real HTTP on loopback: the real alpaca-py clients, no SDK mocks.

Two kinds of server: small scripted ``http.server`` servers written here (hangs, dropped
connections, 429/5xx/HTML/401 answers, paging and chunking), and the project's simulator
(the Alpaca stand-in) for the business behaviour of every Broker method.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.domain.broker import (
    AccountInfo,
    AssetInfo,
    Broker,
    MarketClock,
    OrderInfo,
    OrderRequest,
    PositionInfo,
    QuoteInfo,
    TradeInfo,
)
from alchemiser_dagster.domain.errors import (
    AmbiguousSubmit,
    BrokerAuthError,
    BrokerError,
    BrokerNotFound,
    BrokerUnavailable,
    ConfigError,
    DuplicateClientOrderId,
    OrderRejected,
    RateLimited,
)
from alchemiser_dagster.domain.marketdata.bars import BAR_COLUMNS

NY = ZoneInfo("America/New_York")
KEY = "AKTESTKEY0123456789"
SECRET = "SeCrEtTeStKeY9876543210abcdef"
TIMEOUT = 0.5


# --- scripted loopback servers ----------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes -> as is, None -> empty
    headers: dict[str, str] = field(default_factory=dict)
    truncate: bool = False  # announce the full body, send half of it, close


HANG = "hang"  # accept, read the request, never answer
DROP = "drop"  # close the connection without a response

Responder = Callable[[Seen], "Reply | str"]


class ScriptedServer:
    """A real HTTP server on 127.0.0.1:0 whose answers a test function decides."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.seen: list[Seen] = []
        self._release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seen = Seen(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers=dict(self.headers.items()),
                    body=json.loads(raw) if raw else None,
                )
                owner.seen.append(seen)
                reply = owner.responder(seen)
                if reply == HANG:
                    owner._release.wait(30)
                    self.close_connection = True
                    return
                if reply == DROP or not isinstance(reply, Reply):
                    self.close_connection = True
                    return
                if isinstance(reply.body, dict | list):
                    payload = json.dumps(reply.body).encode()
                    ctype = "application/json"
                elif isinstance(reply.body, str):
                    payload = reply.body.encode()
                    ctype = "text/html" if reply.body.lstrip().startswith("<") else "text/plain"
                elif isinstance(reply.body, bytes):
                    payload = reply.body
                    ctype = "application/octet-stream"
                else:
                    payload = b""
                    ctype = "application/json"
                self.send_response(reply.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                if reply.truncate:
                    payload = payload[: len(payload) // 2]
                    self.close_connection = True
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PATCH = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(responder: Responder) -> ScriptedServer:
        server = ScriptedServer(responder).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def broker_for(url: str, timeout: float = TIMEOUT, **kwargs: Any) -> AlpacaBroker:
    return AlpacaBroker(KEY, SECRET, base_url=url, timeout_seconds=timeout, **kwargs)


def assert_no_keys(exc: BaseException) -> None:
    """Neither key in the message of the error or of anything it chains to."""
    current: BaseException | None = exc
    while current is not None:
        for text in (str(current), repr(current)):
            assert KEY not in text
            assert SECRET not in text
        current = current.__cause__ or current.__context__


def order_request(coid: str = "alch-20240628-abcdef12-SPY-b1", **kwargs: Any) -> OrderRequest:
    fields: dict[str, Any] = {"client_order_id": coid, "symbol": "SPY", "side": "buy", "qty": Decimal("1.5")}
    fields.update(kwargs)
    return OrderRequest(**fields)


# --- Alpaca-shaped bodies (as in alpaca-py's own test fixtures, decimals as strings) ------------


def order_json(
    *,
    submitted_at: dt.datetime | None = None,
    coid: str = "alch-20240628-abcdef12-SPY-b1",
    symbol: str = "SPY",
    order_id: str | None = None,
    status: str = "accepted",
) -> dict[str, Any]:
    ts = (submitted_at or dt.datetime(2024, 6, 28, 19, 45, tzinfo=dt.UTC)).astimezone(dt.UTC)
    stamp = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "id": order_id or str(uuid.uuid4()),
        "client_order_id": coid,
        "created_at": stamp,
        "updated_at": stamp,
        "submitted_at": stamp,
        "filled_at": None,
        "expired_at": None,
        "canceled_at": None,
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": "904837e3-3b76-47ec-b432-046db621571b",
        "symbol": symbol,
        "asset_class": "us_equity",
        "notional": None,
        "qty": "1.5",
        "filled_qty": "0",
        "filled_avg_price": None,
        "order_class": "simple",
        "order_type": "market",
        "type": "market",
        "side": "buy",
        "time_in_force": "day",
        "limit_price": None,
        "stop_price": None,
        "status": status,
        "extended_hours": False,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
    }


ACCOUNT_JSON = {
    "id": "e6fe16f3-64a4-4921-8928-cadf02f92f98",
    "account_number": "010203ABCD",
    "status": "ACTIVE",
    "currency": "USD",
    "cash": "-23140.2",
    "equity": "103820.56",
    "buying_power": "262113.632",
    "trading_blocked": False,
    "account_blocked": False,
}


# --- construction, repr, URLs -------------------------------------------------------------


def test_repr_hides_keys_and_config_is_checked() -> None:
    broker = broker_for("http://127.0.0.1:9/")
    text = repr(broker) + str(broker)
    assert KEY not in text and SECRET not in text
    assert "http://127.0.0.1:9'" in text  # trailing '/' stripped
    as_protocol: Broker = broker  # checked by mypy: AlpacaBroker implements Broker
    assert as_protocol is broker
    with pytest.raises(ConfigError):
        AlpacaBroker(KEY, SECRET, timeout_seconds=0)
    with pytest.raises(ConfigError):
        AlpacaBroker("", SECRET)
    with pytest.raises(ConfigError):
        AlpacaBroker(KEY, SECRET, base_url="127.0.0.1:9")


def test_trailing_slash_and_one_port_for_trading_and_data(
    serve: Callable[[Responder], ScriptedServer],
) -> None:
    def answer(seen: Seen) -> Reply:
        if seen.path == "/v2/account":
            return Reply(body=ACCOUNT_JSON)
        if seen.path == "/v2/stocks/trades/latest":
            return Reply(body={"trades": {}})
        return Reply(404, {"message": "not found"})

    server = serve(answer)
    broker = broker_for(server.base_url + "/")
    account = broker.get_account()
    assert account == AccountInfo(
        account_number="010203ABCD",
        status="ACTIVE",
        currency="USD",
        cash=Decimal("-23140.2"),
        equity=Decimal("103820.56"),
        buying_power=Decimal("262113.632"),
        trading_blocked=False,
        account_blocked=False,
    )
    assert broker.get_latest_trades(["SPY"]) == {}
    assert [s.path for s in server.seen] == ["/v2/account", "/v2/stocks/trades/latest"]
    assert server.seen[0].headers["APCA-API-KEY-ID"] == KEY  # sent as a header, nowhere else


# --- timeouts and dropped connections -----------------------------------------------------


def test_hung_server_read_raises_unavailable_within_timeout(
    serve: Callable[[Responder], ScriptedServer],
) -> None:
    server = serve(lambda seen: HANG)
    broker = broker_for(server.base_url)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable) as info:
        broker.get_account()
    elapsed = time.monotonic() - started
    assert elapsed < 3
    assert info.value.status is None
    assert info.value.retryable
    assert len(server.seen) == 1
    assert_no_keys(info.value)


def test_hung_server_submit_is_ambiguous_with_client_order_id(
    serve: Callable[[Responder], ScriptedServer],
) -> None:
    server = serve(lambda seen: HANG)
    broker = broker_for(server.base_url)
    started = time.monotonic()
    with pytest.raises(AmbiguousSubmit) as info:
        broker.submit_order(order_request("alch-hang-1"))
    assert time.monotonic() - started < 3
    assert info.value.client_order_id == "alch-hang-1"
    assert len(server.seen) == 1
    assert server.seen[0].method == "POST"
    assert server.seen[0].body["client_order_id"] == "alch-hang-1"
    assert server.seen[0].body["time_in_force"] == "day"
    assert_no_keys(info.value)


def test_hung_market_data_call_is_bounded_too(serve: Callable[[Responder], ScriptedServer]) -> None:
    server = serve(lambda seen: HANG)
    broker = broker_for(server.base_url)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        broker.get_daily_bars(["SPY"], dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    assert time.monotonic() - started < 3


def test_dropped_connection(serve: Callable[[Responder], ScriptedServer]) -> None:
    server = serve(lambda seen: DROP)
    broker = broker_for(server.base_url)
    with pytest.raises(BrokerUnavailable) as read_info:
        broker.get_positions()
    with pytest.raises(AmbiguousSubmit) as submit_info:
        broker.submit_order(order_request("alch-drop-1"))
    assert submit_info.value.client_order_id == "alch-drop-1"
    assert len(server.seen) == 2  # no retry of either call
    assert_no_keys(read_info.value)
    assert_no_keys(submit_info.value)


def test_connection_refused_is_unavailable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    broker = broker_for(f"http://127.0.0.1:{port}")
    with pytest.raises(BrokerUnavailable):
        broker.get_clock()


# --- HTTP error answers ----------------------------------------------------------------------


def test_429_retry_after_no_sdk_retry(serve: Callable[[Responder], ScriptedServer]) -> None:
    body = {"code": 42910000, "message": "rate limit exceeded"}
    server = serve(lambda seen: Reply(429, body, {"Retry-After": "7"}))
    broker = broker_for(server.base_url)
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        broker.get_account()
    assert time.monotonic() - started < 2  # the SDK's 3 s sleep did not happen
    assert info.value.retry_after == 7.0
    assert info.value.status == 429
    assert info.value.code == 42910000
    assert len(server.seen) == 1
    with pytest.raises(RateLimited):
        broker.submit_order(order_request())
    assert len(server.seen) == 2
    assert_no_keys(info.value)


def test_429_ratelimit_reset_header(serve: Callable[[Responder], ScriptedServer]) -> None:
    reset = str(int(time.time()) + 5)
    server = serve(lambda seen: Reply(429, "", {"X-Ratelimit-Reset": reset, "X-Ratelimit-Limit": "200"}))
    broker = broker_for(server.base_url)
    with pytest.raises(RateLimited) as info:
        broker.get_clock()
    assert info.value.retry_after is not None
    assert 3.0 <= info.value.retry_after <= 6.0
    assert info.value.code is None
    assert "429" in str(info.value)


def test_504_on_submit_is_ambiguous_and_sent_once(serve: Callable[[Responder], ScriptedServer]) -> None:
    server = serve(lambda seen: Reply(504, "<html><body>Gateway Time-out</body></html>"))
    broker = broker_for(server.base_url)
    with pytest.raises(AmbiguousSubmit) as info:
        broker.submit_order(order_request("alch-504-1"))
    assert info.value.client_order_id == "alch-504-1"
    assert info.value.status == 504
    assert len(server.seen) == 1
    assert [s.method for s in server.seen] == ["POST"]
    assert_no_keys(info.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_on_submit_is_ambiguous(serve: Callable[[Responder], ScriptedServer], status: int) -> None:
    server = serve(lambda seen: Reply(status, {"code": 50010000, "message": "internal"}))
    with pytest.raises(AmbiguousSubmit) as info:
        broker_for(server.base_url).submit_order(order_request("alch-5xx"))
    assert info.value.status == status
    assert len(server.seen) == 1


def test_502_html_is_unavailable_without_json_error(serve: Callable[[Responder], ScriptedServer]) -> None:
    html = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center></body></html>"
    server = serve(lambda seen: Reply(502, html))
    broker = broker_for(server.base_url)
    with pytest.raises(BrokerUnavailable) as info:
        broker.get_account()
    exc = info.value
    assert exc.status == 502
    assert exc.code is None
    assert not isinstance(exc, json.JSONDecodeError)
    assert "502" in str(exc)
    assert "Bad Gateway" in str(exc)  # a short excerpt of the body
    assert len(str(exc)) < 400
    assert len(server.seen) == 1
    assert_no_keys(exc)


def test_504_on_read_is_unavailable_and_not_retried(serve: Callable[[Responder], ScriptedServer]) -> None:
    server = serve(lambda seen: Reply(504, ""))
    with pytest.raises(BrokerUnavailable) as info:
        broker_for(server.base_url).get_orders()
    assert info.value.status == 504
    assert "<empty body>" in str(info.value)
    assert len(server.seen) == 1


def test_401_without_code_is_auth_error(serve: Callable[[Responder], ScriptedServer]) -> None:
    server = serve(lambda seen: Reply(401, {"message": "unauthorized."}))
    broker = broker_for(server.base_url)
    with pytest.raises(BrokerAuthError) as info:
        broker.get_account()
    assert info.value.status == 401
    assert info.value.code is None
    assert "401" in str(info.value) and "unauthorized." in str(info.value)
    assert not info.value.retryable
    assert_no_keys(info.value)
    with pytest.raises(BrokerAuthError):
        broker.submit_order(order_request())


def test_403_without_code_is_auth_error_with_code_is_reject(
    serve: Callable[[Responder], ScriptedServer],
) -> None:
    def answer(seen: Seen) -> Reply:
        if seen.method == "POST":
            return Reply(403, {"code": 40310000, "message": "insufficient buying power"})
        return Reply(403, "<html>Forbidden</html>")

    server = serve(answer)
    broker = broker_for(server.base_url)
    with pytest.raises(BrokerAuthError) as auth:
        broker.get_account()
    assert auth.value.status == 403
    with pytest.raises(OrderRejected) as rejected:
        broker.submit_order(order_request())
    assert (rejected.value.status, rejected.value.code) == (403, 40310000)
    assert "insufficient buying power" in str(rejected.value)
    assert not rejected.value.retryable


def test_422_business_codes(serve: Callable[[Responder], ScriptedServer]) -> None:
    def answer(seen: Seen) -> Reply:
        if seen.method == "POST":
            return Reply(422, {"code": 40010001, "message": "client_order_id must be unique"})
        if seen.method == "DELETE":
            return Reply(422, {"code": 42210000, "message": 'order is already in "filled" state'})
        return Reply(422, {"code": 42210000, "message": "invalid parameter"})

    server = serve(answer)
    broker = broker_for(server.base_url)
    with pytest.raises(OrderRejected) as dup:
        broker.submit_order(order_request())
    assert (dup.value.status, dup.value.code) == (422, 40010001)
    with pytest.raises(OrderRejected) as cancel:
        broker.cancel_order(str(uuid.uuid4()))
    assert cancel.value.code == 42210000
    # a read rejected for its parameters is a plain (non-retryable) BrokerError, not an order reject
    with pytest.raises(BrokerError) as read:
        broker.get_orders()
    assert type(read.value) is BrokerError
    assert read.value.code == 42210000


@pytest.mark.parametrize(
    ("message", "duplicate"),
    [
        ("client_order_id must be unique", True),
        ("Client_Order_ID must be unique", True),
        ("qty must be > 0", False),  # the same code for any malformed field: not a taken id
    ],
)
def test_a_taken_client_id_is_a_typed_duplicate_carrying_the_id(
    serve: Callable[[Responder], ScriptedServer], message: str, duplicate: bool
) -> None:
    server = serve(lambda seen: Reply(422, {"code": 40010001, "message": message}))
    broker = broker_for(server.base_url)
    request = order_request()
    with pytest.raises(OrderRejected) as rejected:
        broker.submit_order(request)
    assert isinstance(rejected.value, DuplicateClientOrderId) is duplicate
    assert (rejected.value.status, rejected.value.code) == (422, 40010001)
    if duplicate:
        assert isinstance(rejected.value, DuplicateClientOrderId)
        assert rejected.value.client_order_id == request.client_order_id
    assert len(server.seen) == 1  # one POST, never resent


def test_404_not_found_and_by_client_id_none(serve: Callable[[Responder], ScriptedServer]) -> None:
    server = serve(lambda seen: Reply(404, {"code": 40410000, "message": "order not found"}))
    broker = broker_for(server.base_url)
    assert broker.get_order_by_client_id("alch-unknown") is None
    assert server.seen[0].path == "/v2/orders:by_client_order_id"
    assert server.seen[0].query == {"client_order_id": ["alch-unknown"]}
    with pytest.raises(BrokerNotFound) as info:
        broker.cancel_order(str(uuid.uuid4()))
    assert (info.value.status, info.value.code) == (404, 40410000)
    with pytest.raises(BrokerNotFound):
        broker.get_asset("NOPE")
    with pytest.raises(BrokerNotFound):
        broker.cancel_order("not-a-uuid")
    assert len(server.seen) == 3  # the non-UUID id was refused before any request


def test_404_html_without_code(serve: Callable[[Responder], ScriptedServer]) -> None:
    server = serve(lambda seen: Reply(404, "<html>404 page not found</html>"))
    with pytest.raises(BrokerNotFound) as info:
        broker_for(server.base_url).get_asset("SPY")
    assert info.value.code is None
    assert "404" in str(info.value)


def test_garbage_2xx_answers(serve: Callable[[Responder], ScriptedServer]) -> None:
    def answer(seen: Seen) -> Reply:
        if seen.path == "/v2/positions":
            return Reply(200, {"not": "a list"})
        return Reply(200, "}{ not json")

    server = serve(answer)
    broker = broker_for(server.base_url)
    with pytest.raises(BrokerUnavailable):
        broker.get_account()
    with pytest.raises(BrokerError):
        broker.get_positions()
    with pytest.raises(AmbiguousSubmit) as info:
        broker.submit_order(order_request("alch-garbage"))
    assert info.value.client_order_id == "alch-garbage"


def test_truncated_body(serve: Callable[[Responder], ScriptedServer]) -> None:
    def answer(seen: Seen) -> Reply:
        return Reply(200, ACCOUNT_JSON if seen.method == "GET" else order_json(), truncate=True)

    server = serve(answer)
    broker = broker_for(server.base_url)
    with pytest.raises(BrokerUnavailable) as read_info:
        broker.get_account()
    assert read_info.value.status is None
    with pytest.raises(AmbiguousSubmit) as submit_info:
        broker.submit_order(order_request("alch-cut"))
    assert submit_info.value.client_order_id == "alch-cut"
    assert len(server.seen) == 2


def test_invalid_order_requests_are_rejected_locally(serve: Callable[[Responder], ScriptedServer]) -> None:
    server = serve(lambda seen: Reply(200, order_json()))
    broker = broker_for(server.base_url)
    with pytest.raises(OrderRejected):
        broker.submit_order(order_request(type="limit"))
    with pytest.raises(OrderRejected):
        broker.submit_order(order_request(qty=Decimal(0)))
    assert server.seen == []


# --- conversions, paging and chunking over scripted answers ------------------------------


def test_submit_and_order_conversion(serve: Callable[[Responder], ScriptedServer]) -> None:
    oid = str(uuid.uuid4())

    def answer(seen: Seen) -> Reply:
        body = order_json(order_id=oid, coid=seen.body["client_order_id"], symbol=seen.body["symbol"])
        body.update(type=seen.body["type"], order_type=seen.body["type"], limit_price=None)
        if "limit_price" in seen.body:
            body["limit_price"] = str(seen.body["limit_price"])
        return Reply(200, body)

    server = serve(answer)
    broker = broker_for(server.base_url)
    market = broker.submit_order(order_request("alch-m", qty=Decimal("0.123456")))
    assert server.seen[0].body == {
        "symbol": "SPY",
        "qty": 0.123456,
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "client_order_id": "alch-m",
    }
    assert isinstance(market, OrderInfo)
    assert market.id == oid and market.client_order_id == "alch-m"
    assert market.qty == Decimal("1.5") and market.filled_qty == Decimal(0)
    assert market.submitted_at is not None and market.submitted_at.tzinfo is not None
    assert not market.is_terminal
    limit = broker.submit_order(
        order_request("alch-l", side="sell", type="limit", limit_price=Decimal("541.23"))
    )
    assert server.seen[1].body["limit_price"] == 541.23
    assert server.seen[1].body["side"] == "sell"
    assert limit.limit_price == Decimal("541.23")
    assert limit.type == "limit"


def test_get_orders_pages_by_after_without_losing_ties(serve: Callable[[Responder], ScriptedServer]) -> None:
    base = dt.datetime(2024, 6, 28, 13, 30, tzinfo=dt.UTC)
    stamps = [base + dt.timedelta(seconds=i) for i in range(1203)]
    for i in range(498, 504):  # six orders share one timestamp across the first page boundary
        stamps[i] = base + dt.timedelta(seconds=498)
    book = [
        order_json(submitted_at=ts, coid=f"c{i:04d}", symbol="SPY" if i % 2 else "QQQ")
        for i, ts in enumerate(stamps)
    ]

    def answer(seen: Seen) -> Reply:
        q = {k: v[0] for k, v in seen.query.items()}
        assert q["direction"] == "asc" and q["limit"] == "500" and q["status"] == "all"
        after = dt.datetime.fromisoformat(q["after"]) if "after" in q else None
        until = dt.datetime.fromisoformat(q["until"]) if "until" in q else None
        symbols = set(q["symbols"].split(",")) if "symbols" in q else None
        rows = [
            o
            for o in book
            if (after is None or dt.datetime.fromisoformat(o["submitted_at"]) > after)
            and (until is None or dt.datetime.fromisoformat(o["submitted_at"]) < until)
            and (symbols is None or o["symbol"] in symbols)
        ]
        return Reply(200, rows[: int(q["limit"])])

    server = serve(answer)
    broker = broker_for(server.base_url, timeout=5)
    orders = broker.get_orders(status="all")
    assert [o.client_order_id for o in orders] == [f"c{i:04d}" for i in range(1203)]
    assert len(server.seen) == 3
    assert "after" not in server.seen[0].query
    # filters are passed through
    spy = broker.get_orders(status="all", symbols=["SPY"], after=base + dt.timedelta(seconds=999))
    assert all(o.symbol == "SPY" for o in spy)
    assert [o.client_order_id for o in spy] == [f"c{i:04d}" for i in range(1001, 1203, 2)]
    assert broker.get_orders(symbols=[]) == []


def test_quotes_and_trades_chunked_and_absent_symbols(serve: Callable[[Responder], ScriptedServer]) -> None:
    def answer(seen: Seen) -> Reply:
        symbols = seen.query["symbols"][0].split(",")
        present = [s for s in symbols if not s.startswith("ZZ")]
        if seen.path == "/v2/stocks/quotes/latest":
            quotes = {
                s: {
                    "t": "2024-06-28T19:44:59.651613184Z",
                    "ap": 100.11,
                    "as": 13,
                    "bp": 100.1,
                    "bs": 2,
                    "ax": "P",
                    "bx": "K",
                    "c": ["R"],
                    "z": "C",
                }
                for s in present
            }
            return Reply(200, {"quotes": quotes})
        trades = {
            s: {
                "t": "2024-06-28T19:44:59.722539521Z",
                "x": "D",
                "p": 161.2958,
                "s": 100,
                "c": ["@"],
                "i": 1,
                "z": "C",
            }
            for s in present
        }
        return Reply(200, {"trades": trades})

    server = serve(answer)
    broker = broker_for(server.base_url)
    wanted = [f"S{i:03d}" for i in range(230)] + ["ZZNONE"]
    quotes = broker.get_latest_quotes(wanted)
    assert len(server.seen) == 3
    assert all(len(s.query["symbols"][0].split(",")) <= 100 for s in server.seen)
    assert set(quotes) == set(wanted) - {"ZZNONE"}
    q = quotes["S007"]
    assert isinstance(q, QuoteInfo)
    assert (q.bid, q.ask, q.bid_size, q.ask_size) == (
        Decimal("100.1"),
        Decimal("100.11"),
        Decimal(2),
        Decimal(13),
    )
    assert q.timestamp.tzinfo is not None
    trades = broker.get_latest_trades(["SPY", "ZZNONE"])
    assert set(trades) == {"SPY"}
    assert trades["SPY"] == TradeInfo(
        symbol="SPY", price=Decimal("161.2958"), size=Decimal(100), timestamp=trades["SPY"].timestamp
    )
    assert broker.get_latest_quotes([]) == {}


def _sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    return [d.date() for d in pd.bdate_range(start, end)]


def test_daily_bars_from_scripted_pages(serve: Callable[[Responder], ScriptedServer]) -> None:
    days = _sessions(dt.date(2024, 2, 26), dt.date(2024, 3, 22))  # spans the DST change on 2024-03-10

    def bar(symbol: str, day: dt.date, i: int) -> dict[str, Any]:
        midnight = dt.datetime.combine(day, dt.time(0, 0), tzinfo=NY).astimezone(dt.UTC)
        price = 100 + i + (0.5 if symbol == "QQQ" else 0)
        return {
            "t": midnight.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "o": price,
            "h": price + 1,
            "l": price - 1,
            "c": price + 0.25,
            "v": 1000 + i,
            "n": 10,
            "vw": price,
        }

    all_bars = [(s, bar(s, d, i)) for s in ("QQQ", "SPY") for i, d in enumerate(days)]

    def answer(seen: Seen) -> Reply:
        q = {k: v[0] for k, v in seen.query.items()}
        assert q["timeframe"] == "1Day" and q["adjustment"] == "all"
        symbols = q["symbols"].split(",")
        start = dt.datetime.fromisoformat(q["start"])
        end = dt.datetime.fromisoformat(q["end"])
        rows = [
            (s, b) for s, b in all_bars if s in symbols and start <= dt.datetime.fromisoformat(b["t"]) <= end
        ]
        offset = int(q.get("page_token") or 0)
        page = rows[offset : offset + 7]  # small pages: the SDK must follow next_page_token
        out: dict[str, list[dict[str, Any]]] = {}
        for s, b in page:
            out.setdefault(s, []).append(b)
        token = str(offset + 7) if offset + 7 < len(rows) else None
        return Reply(200, {"bars": out, "next_page_token": token})

    server = serve(answer)
    broker = broker_for(server.base_url)
    frame = broker.get_daily_bars(["SPY", "QQQ", "ZZNONE"], dt.date(2024, 3, 1), dt.date(2024, 3, 15))
    assert list(frame.columns) == list(BAR_COLUMNS)
    assert [str(t) for t in frame.dtypes[2:]] == ["float64"] * 5
    expected_days = [d for d in days if dt.date(2024, 3, 1) <= d <= dt.date(2024, 3, 15)]
    assert frame["date"].tolist() == expected_days * 2
    assert frame["symbol"].tolist() == ["QQQ"] * len(expected_days) + ["SPY"] * len(expected_days)
    assert all(type(d) is dt.date for d in frame["date"])
    first_spy = frame[frame["symbol"] == "SPY"].iloc[0]
    i = days.index(dt.date(2024, 3, 1))
    assert (first_spy["open"], first_spy["close"], first_spy["volume"]) == (100.0 + i, 100.25 + i, 1000.0 + i)
    assert len(server.seen) > 2  # paged

    empty = broker.get_daily_bars(["ZZNONE"], dt.date(2024, 3, 1), dt.date(2024, 3, 15))
    assert list(empty.columns) == list(BAR_COLUMNS) and empty.empty
    assert [str(t) for t in empty.dtypes[2:]] == ["float64"] * 5


def test_daily_bars_chunk_symbols(serve: Callable[[Responder], ScriptedServer]) -> None:
    server = serve(lambda seen: Reply(200, {"bars": {}, "next_page_token": None}))
    broker = broker_for(server.base_url)
    frame = broker.get_daily_bars([f"S{i}" for i in range(250)], dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    assert frame.empty
    assert [len(s.query["symbols"][0].split(",")) for s in server.seen] == [100, 100, 50]


def test_account_positions_asset_clock_conversions(serve: Callable[[Responder], ScriptedServer]) -> None:
    bodies: dict[str, Any] = {
        "/v2/positions": [
            {
                "asset_id": "904837e3-3b76-47ec-b432-046db621571b",
                "symbol": "AAPL",
                "exchange": "NASDAQ",
                "asset_class": "us_equity",
                "avg_entry_price": "100.0",
                "qty": "5",
                "side": "long",
                "market_value": "600.0",
                "cost_basis": "500.0",
                "current_price": "120.0",
            },
            {
                "asset_id": "904837e3-3b76-47ec-b432-046db621571c",
                "symbol": "TLT",
                "exchange": "NASDAQ",
                "asset_class": "us_equity",
                "avg_entry_price": "90.5",
                "qty": "-2.5",
                "side": "short",
                "market_value": "-226.25",
                "cost_basis": "-226.25",
                "current_price": None,
            },
        ],
        "/v2/assets/SPY": {
            "id": "b28f4066-5c6d-479b-a2af-85dc1a8f16fb",
            "class": "us_equity",
            "exchange": "ARCA",
            "symbol": "SPY",
            "name": "SPDR",
            "status": "active",
            "tradable": True,
            "marginable": True,
            "shortable": True,
            "easy_to_borrow": True,
            "fractionable": True,
        },
        "/v2/clock": {
            "timestamp": "2024-06-28T15:45:00.000000-04:00",
            "is_open": True,
            "next_open": "2024-07-01T09:30:00-04:00",
            "next_close": "2024-06-28T16:00:00-04:00",
        },
    }
    server = serve(lambda seen: Reply(200, bodies[seen.path]))
    broker = broker_for(server.base_url)
    assert broker.get_positions() == [
        PositionInfo(
            symbol="AAPL",
            qty=Decimal(5),
            side="long",
            market_value=Decimal("600.0"),
            avg_entry_price=Decimal("100.0"),
            current_price=Decimal("120.0"),
        ),
        PositionInfo(
            symbol="TLT",
            qty=Decimal("-2.5"),
            side="short",
            market_value=Decimal("-226.25"),
            avg_entry_price=Decimal("90.5"),
            current_price=None,
        ),
    ]
    assert broker.get_asset("SPY") == AssetInfo(
        symbol="SPY", tradable=True, fractionable=True, shortable=True, status="active"
    )
    clock = broker.get_clock()
    assert clock == MarketClock(
        timestamp=dt.datetime(2024, 6, 28, 15, 45, tzinfo=NY),
        is_open=True,
        next_open=dt.datetime(2024, 7, 1, 9, 30, tzinfo=NY),
        next_close=dt.datetime(2024, 6, 28, 16, 0, tzinfo=NY),
    )
    assert clock.timestamp.utcoffset() is not None


def test_missing_balance_fails_closed(serve: Callable[[Responder], ScriptedServer]) -> None:
    body = {k: v for k, v in ACCOUNT_JSON.items() if k != "equity"}
    server = serve(lambda seen: Reply(200, body))
    with pytest.raises(BrokerError, match="equity is missing"):
        broker_for(server.base_url).get_account()


# --- against the simulator ------------------------------------------------------------------

SIM_SYMBOLS = ["SPY", "QQQ", "TLT", "BIL"]
SIM_NOW = dt.datetime(2024, 6, 28, 15, 45, tzinfo=NY)


@pytest.fixture(scope="module")
def sim_bars() -> pd.DataFrame:
    from alchemiser_dagster.demo.synth import generate_bars

    return generate_bars(symbols=SIM_SYMBOLS, start=dt.date(2024, 1, 2), end=dt.date(2024, 6, 28))


@pytest.fixture
def sim(tmp_path: Path, sim_bars: pd.DataFrame) -> Iterator[Any]:
    server_mod = pytest.importorskip("alchemiser_dagster.broker.simulator.server")
    server = server_mod.SimulatorServer(tmp_path / "sim", bars=sim_bars, now=SIM_NOW).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sim_broker(sim: Any) -> Iterator[AlpacaBroker]:
    broker = AlpacaBroker(sim.api_key, sim.secret_key, base_url=sim.base_url, timeout_seconds=5)
    yield broker
    broker.close()


def _wait_terminal(broker: AlpacaBroker, coid: str, timeout: float = 10) -> OrderInfo:
    deadline = time.monotonic() + timeout
    while True:
        order = broker.get_order_by_client_id(coid)
        assert order is not None
        if order.is_terminal or time.monotonic() > deadline:
            return order
        time.sleep(0.05)


def test_sim_account_clock_asset(sim_broker: AlpacaBroker) -> None:
    account = sim_broker.get_account()
    assert isinstance(account, AccountInfo)
    assert account.status == "ACTIVE"
    assert account.cash == Decimal("100000") and account.equity == Decimal("100000")
    assert isinstance(account.buying_power, Decimal) and account.buying_power >= Decimal("100000")
    assert not account.trading_blocked and not account.account_blocked
    clock = sim_broker.get_clock()
    assert clock.is_open
    assert clock.timestamp == SIM_NOW
    assert clock.next_close == dt.datetime(2024, 6, 28, 16, 0, tzinfo=NY)
    asset = sim_broker.get_asset("SPY")
    assert asset.symbol == "SPY" and asset.tradable
    with pytest.raises(BrokerNotFound):
        sim_broker.get_asset("NOSUCHSYMBOL")


def test_sim_market_buy_positions_and_lookups(sim_broker: AlpacaBroker) -> None:
    assert sim_broker.get_positions() == []
    submitted = sim_broker.submit_order(order_request("alch-sim-b1", symbol="SPY", qty=Decimal("3")))
    assert submitted.client_order_id == "alch-sim-b1"
    assert submitted.symbol == "SPY" and submitted.side == "buy" and submitted.type == "market"
    assert submitted.qty == Decimal(3)
    done = _wait_terminal(sim_broker, "alch-sim-b1")
    assert done.id == submitted.id
    assert done.status == "filled"
    assert done.filled_qty == Decimal(3)
    assert done.filled_avg_price is not None and done.filled_avg_price > 0
    assert done.filled_at is not None and done.filled_at.tzinfo is not None
    positions = sim_broker.get_positions()
    assert [(p.symbol, p.qty, p.side) for p in positions] == [("SPY", Decimal(3), "long")]
    assert isinstance(positions[0].market_value, Decimal) and positions[0].market_value > 0
    assert sim_broker.get_order_by_client_id("alch-never-sent") is None
    account = sim_broker.get_account()
    assert account.cash < Decimal("100000")


def test_sim_get_orders_filters_and_cancel(sim_broker: AlpacaBroker) -> None:
    quote = sim_broker.get_latest_quotes(["QQQ"])["QQQ"]
    far_below = (quote.bid / 2).quantize(Decimal("0.01"))
    limit = sim_broker.submit_order(
        order_request("alch-sim-l1", symbol="QQQ", qty=Decimal(1), type="limit", limit_price=far_below)
    )
    assert limit.limit_price == far_below
    sim_broker.submit_order(order_request("alch-sim-b2", symbol="SPY", qty=Decimal(1)))
    _wait_terminal(sim_broker, "alch-sim-b2")

    open_orders = sim_broker.get_orders(status="open")
    assert [o.client_order_id for o in open_orders] == ["alch-sim-l1"]
    closed = sim_broker.get_orders(status="closed")
    assert [o.client_order_id for o in closed] == ["alch-sim-b2"]
    everything = sim_broker.get_orders(status="all")
    assert {o.client_order_id for o in everything} == {"alch-sim-l1", "alch-sim-b2"}
    assert [o.client_order_id for o in sim_broker.get_orders(status="all", symbols=["QQQ"])] == [
        "alch-sim-l1"
    ]
    later = SIM_NOW + dt.timedelta(hours=1)
    assert sim_broker.get_orders(status="all", after=later) == []
    assert sim_broker.get_orders(status="all", until=SIM_NOW - dt.timedelta(days=1)) == []

    sim_broker.cancel_order(limit.id)
    canceled = _wait_terminal(sim_broker, "alch-sim-l1")
    assert canceled.status == "canceled"
    assert sim_broker.get_orders(status="open") == []
    with pytest.raises(OrderRejected) as info:  # cancel of a terminal order
        sim_broker.cancel_order(limit.id)
    assert (info.value.status, info.value.code) == (422, 42210000)
    with pytest.raises(BrokerNotFound):
        sim_broker.cancel_order(str(uuid.uuid4()))


def test_sim_business_rejects(sim_broker: AlpacaBroker) -> None:
    sim_broker.submit_order(order_request("alch-sim-dup", symbol="BIL", qty=Decimal(1)))
    with pytest.raises(OrderRejected) as dup:
        sim_broker.submit_order(order_request("alch-sim-dup", symbol="BIL", qty=Decimal(1)))
    assert (dup.value.status, dup.value.code) == (422, 40010001)
    with pytest.raises(OrderRejected) as poor:
        sim_broker.submit_order(order_request("alch-sim-big", symbol="SPY", qty=Decimal(100000)))
    assert (poor.value.status, poor.value.code) == (403, 40310000)
    assert not poor.value.retryable


def test_sim_quotes_trades(sim_broker: AlpacaBroker, sim_bars: pd.DataFrame) -> None:
    quotes = sim_broker.get_latest_quotes(["SPY", "TLT", "NOSUCHSYMBOL"])
    assert set(quotes) == {"SPY", "TLT"}
    for symbol, q in quotes.items():
        assert q.symbol == symbol
        assert Decimal(0) < q.bid <= q.ask
        assert q.timestamp.tzinfo is not None
        close = sim_bars[(sim_bars["symbol"] == symbol)]["close"].iloc[-1]
        assert abs(float((q.bid + q.ask) / 2) - close) / close < 0.05
    trades = sim_broker.get_latest_trades(["QQQ", "BIL", "NOSUCHSYMBOL"])
    assert set(trades) == {"QQQ", "BIL"}
    assert all(t.price > 0 and t.timestamp.tzinfo is not None for t in trades.values())


def test_sim_daily_bars_equal_the_frame(sim_broker: AlpacaBroker, sim_bars: pd.DataFrame) -> None:
    start, end = dt.date(2024, 3, 1), dt.date(2024, 4, 30)
    got = sim_broker.get_daily_bars(["TLT", "SPY", "NOSUCHSYMBOL"], start, end)
    want = sim_bars[sim_bars["symbol"].isin(["SPY", "TLT"]) & sim_bars["date"].between(start, end)]
    want = want.sort_values(["symbol", "date"]).reset_index(drop=True)[list(BAR_COLUMNS)]
    assert len(got) == len(want) > 0
    assert got["symbol"].tolist() == want["symbol"].tolist()
    assert got["date"].tolist() == want["date"].tolist()
    # The stand-in serves prices on Alpaca's tick grid (cents at or above $1) and whole volumes.
    for column in ("open", "high", "low", "close"):
        assert got[column].to_numpy() == pytest.approx(want[column].to_numpy(), rel=0, abs=0.005 + 1e-9)
    assert got["volume"].to_numpy() == pytest.approx(want["volume"].to_numpy(), rel=0, abs=0.5 + 1e-9)
    none = sim_broker.get_daily_bars(["SPY"], dt.date(2023, 1, 3), dt.date(2023, 1, 31))
    assert none.empty and list(none.columns) == list(BAR_COLUMNS)


def test_close_releases_every_clients_connections(sim: Any) -> None:
    """Trading, market data and raw bars each keep their own pool; close() must empty all three."""
    broker = AlpacaBroker(sim.api_key, sim.secret_key, base_url=sim.base_url, timeout_seconds=5)
    broker.get_account()
    broker.get_latest_quotes(["SPY"])
    broker.get_daily_bars(["SPY"], dt.date(2024, 6, 3), dt.date(2024, 6, 28))
    sessions = [broker._trading._session, broker._data._session, broker._raw_data._session]

    def open_pools() -> list[int]:
        return [len(s.get_adapter(sim.base_url).poolmanager.pools) for s in sessions]

    assert open_pools() == [1, 1, 1]
    broker.close()
    assert open_pools() == [0, 0, 0]


def test_sim_wrong_keys(sim: Any) -> None:
    broker = AlpacaBroker(KEY, SECRET, base_url=sim.base_url, timeout_seconds=5)
    with pytest.raises(BrokerAuthError) as info:
        broker.get_account()
    assert info.value.status in (401, 403)
    assert_no_keys(info.value)
    with pytest.raises(BrokerAuthError):
        broker.submit_order(order_request("alch-sim-nokeys"))


def test_sim_commit_then_lost_answer_is_ambiguous_and_found_by_client_id(
    sim: Any, serve: Callable[[Responder], ScriptedServer]
) -> None:
    """A forwarding proxy stores the order at the stand-in, then drops the answer."""

    def forward(seen: Seen) -> Reply | str:
        query = "&".join(f"{k}={v}" for k, values in seen.query.items() for v in values)
        url = f"{sim.base_url}{seen.path}" + (f"?{urllib.parse.quote(query, safe='=&,:')}" if query else "")
        data = json.dumps(seen.body).encode() if seen.body is not None else None
        headers = {k: v for k, v in seen.headers.items() if k.lower().startswith("apca-")}
        headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=seen.method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        if seen.method == "POST":
            return DROP  # committed at the broker, answer lost on the way back
        return Reply(status, json.loads(body) if body else None)

    proxy = serve(forward)
    broker = AlpacaBroker(sim.api_key, sim.secret_key, base_url=proxy.base_url, timeout_seconds=5)
    with pytest.raises(AmbiguousSubmit) as info:
        broker.submit_order(order_request("alch-sim-lost", symbol="TLT", qty=Decimal(2)))
    assert info.value.client_order_id == "alch-sim-lost"
    adopted = broker.get_order_by_client_id(info.value.client_order_id)
    assert adopted is not None
    assert (adopted.symbol, adopted.qty, adopted.client_order_id) == ("TLT", Decimal(2), "alch-sim-lost")
    assert [s.method for s in proxy.seen].count("POST") == 1
    # resending with the same id is refused by the broker, never a duplicate order
    broker.close()
    with (
        AlpacaBroker(sim.api_key, sim.secret_key, base_url=sim.base_url) as direct,
        pytest.raises(OrderRejected) as dup,
    ):
        direct.submit_order(order_request("alch-sim-lost", symbol="TLT", qty=Decimal(2)))
    assert dup.value.code == 40010001

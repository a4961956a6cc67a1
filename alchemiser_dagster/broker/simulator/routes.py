"""Request routing: (method, path, query, body) -> (status, JSON) over the engine. No sockets.

Kept apart from the socket server so that tests and future fault injection can call or
wrap it directly. Every ``/v2`` request first checks the API keys, then advances the engine
to the current simulated time (fills and expiries happen "on the next read"), then runs
the handler, all under the engine lock; the caller writes the response after this returns,
that is after the commit.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from alchemiser_dagster.broker.simulator import marketdata, views
from alchemiser_dagster.broker.simulator.engine import OPEN_STATUSES, SimEngine
from alchemiser_dagster.broker.simulator.faults import parse_fault
from alchemiser_dagster.broker.simulator.fills import FILL_MODES
from alchemiser_dagster.broker.simulator.rules import MALFORMED, NOT_FOUND, UNSUPPORTED_MEDIA_TYPE, SimError
from alchemiser_dagster.broker.simulator.timeutil import parse_ts
from alchemiser_dagster.domain import calendar
from alchemiser_dagster.domain.calendar import NEW_YORK

__all__ = ["ApiRequest", "ApiResponse", "SimApi"]

UNAUTHORIZED = {"message": "unauthorized."}


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON (exact decimals); 400 on bad JSON, NaN/Infinity or nesting past MAX_JSON_DEPTH."""
        if not self.body:
            return {}
        if _nesting_depth(self.body) > MAX_JSON_DEPTH:
            raise SimError(400, MALFORMED, f"request body nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            return json.loads(self.body, parse_float=Decimal, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SimError(400, MALFORMED, "request body is not valid JSON") from exc

    def content_type(self) -> str:
        """The media type of the body, lower case, without parameters ('' when absent)."""
        lowered = {k.lower(): v for k, v in self.headers.items()}
        return lowered.get("content-type", "").split(";", 1)[0].strip().lower()


#: Deepest nesting of arrays and objects a request body may have (Alpaca's bodies have 2).
MAX_JSON_DEPTH = 32


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _nesting_depth(body: bytes) -> int:
    """Deepest ``[``/``{`` nesting outside strings (a scan, so no recursion on hostile input)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Any = None  # None -> no body (204)


Handler = Callable[[ApiRequest, re.Match[str]], ApiResponse]


def _int(query: Mapping[str, str], key: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SimError(422, MALFORMED, f"invalid {key}") from exc
    if not lo <= value <= hi:
        raise SimError(422, MALFORMED, f"{key} must be between {lo} and {hi}")
    return value


def _ts(query: Mapping[str, str], key: str) -> dt.datetime | None:
    raw = query.get(key)
    if not raw:
        return None
    try:
        return parse_ts(raw)
    except ValueError as exc:
        raise SimError(422, MALFORMED, f"invalid {key}: {raw!r}") from exc


def _bar_bound(query: Mapping[str, str], key: str) -> dt.datetime | None:
    """Bars ``start``/``end``: a plain date means that New York day (``end`` is inclusive)."""
    raw = query.get(key) or ""
    if len(raw) == 10 and raw[4] == "-":
        day = _date(query, key, dt.date.min)
        try:
            if key == "end":
                day += dt.timedelta(days=1)
            bound = dt.datetime.combine(day, dt.time(0, 0), tzinfo=NEW_YORK).astimezone(dt.UTC)
        except OverflowError as exc:  # the first or last representable day
            raise SimError(422, MALFORMED, f"invalid {key}: {raw!r}") from exc
        return bound - dt.timedelta(microseconds=1) if key == "end" else bound
    return _ts(query, key)


def _date(query: Mapping[str, str], key: str, default: dt.date) -> dt.date:
    raw = query.get(key)
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError as exc:
        raise SimError(422, MALFORMED, f"invalid {key}: {raw!r}") from exc


class SimApi:
    """The Alpaca-compatible API plus the ``/_sim`` control plane over one engine."""

    def __init__(self, engine: SimEngine, api_key: str, secret_key: str) -> None:
        self.engine = engine
        self.api_key = api_key
        self.secret_key = secret_key
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/v2/account"), self._account),
            ("GET", re.compile(r"/v2/positions"), self._positions),
            ("GET", re.compile(r"/v2/positions/(?P<symbol>.+)"), self._position),
            ("GET", re.compile(r"/v2/assets/(?P<symbol>.+)"), self._asset),
            ("POST", re.compile(r"/v2/orders"), self._submit),
            ("GET", re.compile(r"/v2/orders"), self._list_orders),
            ("DELETE", re.compile(r"/v2/orders"), self._cancel_all),
            ("GET", re.compile(r"/v2/orders:by_client_order_id"), self._by_client_id),
            ("GET", re.compile(r"/v2/orders/(?P<id>[^/]+)"), self._get_order),
            ("DELETE", re.compile(r"/v2/orders/(?P<id>[^/]+)"), self._cancel),
            ("GET", re.compile(r"/v2/clock"), self._clock),
            ("GET", re.compile(r"/v2/calendar"), self._calendar),
            ("GET", re.compile(r"/v2/stocks/bars"), self._bars),
            ("GET", re.compile(r"/v2/stocks/quotes/latest"), self._quotes),
            ("GET", re.compile(r"/v2/stocks/trades/latest"), self._trades),
        ]

    def authorized(self, headers: Mapping[str, str]) -> bool:
        lowered = {k.lower(): v for k, v in headers.items()}
        return (
            lowered.get("apca-api-key-id") == self.api_key
            and lowered.get("apca-api-secret-key") == self.secret_key
        )

    def handle(self, req: ApiRequest) -> ApiResponse:
        """Route ``req``; ``SimError`` becomes its Alpaca error body."""
        path = req.path.rstrip("/") or "/"
        try:
            if not path.startswith("/v2/"):
                return self._control(req, path)
            if not self.authorized(req.headers):
                return ApiResponse(401, UNAUTHORIZED)
            known_path = False
            for method, pattern, handler in self._routes:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                known_path = True
                if method == req.method:
                    with self.engine.lock:
                        self.engine.advance()
                        return handler(req, match)
            if known_path:
                return ApiResponse(405, {"code": 40510000, "message": "method not allowed"})
            return ApiResponse(404, {"code": NOT_FOUND, "message": "endpoint not found"})
        except SimError as exc:
            return ApiResponse(exc.status, exc.body())

    # --- trading ---------------------------------------------------------------------------

    def _account(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        return ApiResponse(200, views.account_json(self.engine, self.engine.now()))

    def _positions(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        now = self.engine.now()
        return ApiResponse(200, [views.position_json(self.engine, r, now) for r in self.engine.positions()])

    def _position(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        symbol = unquote(m["symbol"]).upper()
        for row in self.engine.positions():
            if row["symbol"] == symbol:
                return ApiResponse(200, views.position_json(self.engine, row, self.engine.now()))
        raise SimError(404, NOT_FOUND, "position does not exist")

    def _asset(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        row = self.engine.asset(unquote(m["symbol"]))
        if row is None:
            raise SimError(404, NOT_FOUND, "asset not found")
        return ApiResponse(200, views.asset_json(self.engine, row, self.engine.now()))

    def _submit(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        return ApiResponse(200, views.order_json(self.engine.submit_order(req.json())))

    def _list_orders(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        q = req.query
        status = q.get("status") or "open"
        if status not in ("open", "closed", "all"):
            raise SimError(422, MALFORMED, f"invalid status {status!r}")
        limit = _int(q, "limit", 50, 1, 500)
        after, until = _ts(q, "after"), _ts(q, "until")
        direction = q.get("direction") or "desc"
        if direction not in ("asc", "desc"):
            raise SimError(422, MALFORMED, f"invalid direction {direction!r}")
        symbols = set(marketdata.parse_symbols(q["symbols"])) if q.get("symbols") else None
        side = q.get("side") or None
        rows = []
        for row in self.engine.orders():
            is_open = row["status"] in OPEN_STATUSES
            submitted = parse_ts(row["submitted_at"])
            if (status == "open" and not is_open) or (status == "closed" and is_open):
                continue
            if (after is not None and submitted <= after) or (until is not None and submitted >= until):
                continue
            if (symbols is not None and row["symbol"] not in symbols) or (side and row["side"] != side):
                continue
            rows.append(row)
        rows.sort(key=lambda r: (r["submitted_at"], r["seq"]), reverse=direction == "desc")
        return ApiResponse(200, [views.order_json(r) for r in rows[:limit]])

    def _by_client_id(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        client_id = req.query.get("client_order_id")
        if not client_id:
            raise SimError(422, MALFORMED, "client_order_id is required")
        row = self.engine.order_by_client_id(client_id)
        if row is None:
            raise SimError(404, NOT_FOUND, "order not found")
        return ApiResponse(200, views.order_json(row))

    def _get_order(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        row = self.engine.order(unquote(m["id"]))
        if row is None:
            raise SimError(404, NOT_FOUND, "order not found")
        return ApiResponse(200, views.order_json(row))

    def _cancel(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        self.engine.cancel_order(unquote(m["id"]))
        return ApiResponse(204)

    def _cancel_all(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        items: list[dict[str, Any]] = []
        for order_id, status, body in self.engine.cancel_all():
            item: dict[str, Any] = {"id": order_id, "status": status}
            if body is not None:
                item["body"] = body
            items.append(item)
        return ApiResponse(207, items)

    def _clock(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        return ApiResponse(200, views.clock_json(self.engine.now()))

    def _calendar(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        first, last = calendar.calendar_bounds()
        start, end = _date(req.query, "start", first), _date(req.query, "end", last)
        return ApiResponse(200, views.calendar_json(start, end))

    # --- market data -----------------------------------------------------------------------

    def _bars(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        q = req.query
        body = marketdata.bars_json(
            self.engine.book,
            self.engine.now(),
            marketdata.parse_symbols(q.get("symbols")),
            timeframe=q.get("timeframe") or "1Day",
            start=_bar_bound(q, "start"),
            end=_bar_bound(q, "end"),
            limit=_int(q, "limit", marketdata.DEFAULT_LIMIT, 1, marketdata.MAX_LIMIT),
            page_token=q.get("page_token") or None,
        )
        return ApiResponse(200, body)

    def _quotes(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        symbols = marketdata.parse_symbols(req.query.get("symbols"))
        return ApiResponse(200, marketdata.latest_quotes_json(self.engine.book, self.engine.now(), symbols))

    def _trades(self, req: ApiRequest, m: re.Match[str]) -> ApiResponse:
        symbols = marketdata.parse_symbols(req.query.get("symbols"))
        return ApiResponse(200, marketdata.latest_trades_json(self.engine.book, self.engine.now(), symbols))

    # --- control plane ---------------------------------------------------------------------

    def _control(self, req: ApiRequest, path: str) -> ApiResponse:
        route = (req.method, path)
        if req.method == "POST" and req.content_type() != "application/json":
            # A browser page can POST text/plain or a form to loopback without a preflight;
            # requiring JSON keeps the control plane out of reach of any web page.
            raise SimError(
                415,
                UNSUPPORTED_MEDIA_TYPE,
                "control-plane requests must be sent as Content-Type: application/json",
            )
        if route == ("GET", "/_sim/health"):
            return ApiResponse(200, {"status": "ok", "now": self.engine.now().isoformat()})
        if route == ("GET", "/_sim/clock"):
            clock = views.clock_json(self.engine.now())
            return ApiResponse(200, {"now": clock["timestamp"], **clock})
        if route == ("POST", "/_sim/clock"):
            body = req.json()
            raw = body.get("now") if isinstance(body, dict) else None
            if not isinstance(raw, str):
                raise SimError(422, MALFORMED, 'body must be {"now": "<RFC 3339 timestamp>"}')
            try:
                when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
                if when.tzinfo is None:
                    raise ValueError("the timestamp needs an offset")
                self.engine.set_clock(when, mode=str(body.get("mode", "frozen")))
            except ValueError as exc:
                raise SimError(409, 40910000, str(exc)) from exc
            return ApiResponse(200, views.clock_json(self.engine.now()))
        if route == ("GET", "/_sim/fills"):
            if req.query.get("detail", "").lower() in ("1", "true"):
                return ApiResponse(200, self.engine.fill_rule_details())
            return ApiResponse(200, self.engine.fill_rules())
        if route == ("POST", "/_sim/fills"):
            body = req.json()
            body = body if isinstance(body, dict) else {}
            fraction = body.get("fraction")
            symbol, client_order_id = body.get("symbol"), body.get("client_order_id")
            if not (
                isinstance(body.get("mode"), str)
                and (isinstance(symbol, str)) != (isinstance(client_order_id, str))
                and (fraction is None or isinstance(fraction, str | int | Decimal))
            ):
                raise SimError(
                    422,
                    MALFORMED,
                    'body must be {"symbol": "SPY" (or "*": all symbols) | "client_order_id": "...", '
                    f'"mode": {" | ".join(FILL_MODES)}, "fraction": "0.5" (partial only)}}',
                )
            self.engine.set_fill_rule(symbol, body["mode"], fraction, client_order_id=client_order_id)
            return ApiResponse(200, self.engine.fill_rules())
        if path == "/_sim/faults" or path.startswith("/_sim/faults/"):
            return self._faults(req, path)
        if route == ("POST", "/_sim/reset"):
            body = req.json()
            body = body if isinstance(body, dict) else {}
            raw_cash, raw_now = body.get("cash", "100000"), body.get("now")
            if isinstance(raw_cash, bool) or not isinstance(raw_cash, str | int | Decimal):
                raise SimError(
                    422, MALFORMED, 'invalid reset body: cash must be a number or a string like "2500"'
                )
            if raw_now is not None and not isinstance(raw_now, str):
                raise SimError(422, MALFORMED, "invalid reset body: now must be an RFC 3339 timestamp")
            try:
                cash = Decimal(str(raw_cash))
                now = parse_ts(raw_now) if raw_now else None
                self.engine.reset(cash, now)
            except (ArithmeticError, ValueError) as exc:
                raise SimError(422, MALFORMED, f"invalid reset body: {exc}") from exc
            return ApiResponse(200, {"status": "ok", "account_id": self.engine.account()["id"]})
        return ApiResponse(404, {"code": NOT_FOUND, "message": "endpoint not found"})

    def _faults(self, req: ApiRequest, path: str) -> ApiResponse:
        """``GET`` lists, ``POST`` adds (one rule or an array), ``DELETE`` clears (all or ``/{id}``)."""
        book = self.engine.faults
        rule_id = path.removeprefix("/_sim/faults").strip("/")
        if rule_id:
            if req.method != "DELETE":
                return ApiResponse(405, {"code": 40510000, "message": "method not allowed"})
            if not rule_id.isdigit() or not book.remove(int(rule_id)):
                raise SimError(404, NOT_FOUND, f"fault rule {rule_id} not found")
            return ApiResponse(200, {"removed": 1})
        if req.method == "GET":
            return ApiResponse(200, {"faults": [r.to_json() for r in book.rules()]})
        if req.method == "DELETE":
            return ApiResponse(200, {"removed": book.clear()})
        if req.method == "POST":
            body = req.json()
            parsed = [parse_fault(item) for item in (body if isinstance(body, list) else [body])]
            return ApiResponse(200, {"faults": [book.add(rule).to_json() for rule in parsed]})
        return ApiResponse(405, {"code": 40510000, "message": "method not allowed"})

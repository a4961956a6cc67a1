"""The socket layer: a stdlib ``ThreadingHTTPServer`` in front of :class:`SimApi`.

Deliberately thin: parse the request, call :meth:`SimApi.handle` (which commits before it
returns), then serialize. Owning the raw socket here (rather than a framework) is what
lets the fault rules (:mod:`.faults`, persisted in the state) drop connections, stall, or
send error statuses, HTML 502s and garbage at exactly this point, before the request is
handled, or after it was committed (``commit_then_fail``). It also adds Alpaca's
``X-Ratelimit-*`` headers (counted over a sliding minute of wall time, not enforced; a
``status`` 429 fault simulates the limit) and keeps the request log served at
``GET /_sim/requests`` (with the faults applied to each request).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import sys
import threading
import time
import traceback
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from alchemiser_dagster.broker.simulator.faults import MAX_DELAY_SECONDS, REWRITE_KINDS, FaultRule
from alchemiser_dagster.broker.simulator.routes import ApiRequest, ApiResponse, SimApi

__all__ = ["MAX_BODY_BYTES", "RATE_LIMIT", "RequestLog", "SimHTTPServer"]

RATE_LIMIT = 200
#: Largest request body read (Alpaca's bodies are a few hundred bytes; a fault list a few KB).
MAX_BODY_BYTES = 1 << 20


def _rewrite(kind: str, body: Any) -> Any:
    """market_closed: a clock that says closed; stale_quotes: quotes and trades a day old."""
    if not isinstance(body, dict):
        return body
    if kind == "market_closed" and "is_open" in body:
        return {**body, "is_open": False}
    if kind == "stale_quotes":
        out = dict(body)
        for key in ("quotes", "trades"):
            if isinstance(body.get(key), dict):
                out[key] = {
                    sym: {**item, "t": _day_earlier(item.get("t"))} for sym, item in body[key].items()
                }
        return out
    return body


def _day_earlier(stamp: object) -> object:
    if not isinstance(stamp, str):
        return stamp
    moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) - dt.timedelta(days=1)
    return moment.isoformat().replace("+00:00", "Z")


def _default(value: object) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class RequestLog:
    """Bounded in-memory log of served requests plus the sliding rate-limit window."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=maxlen)
        self._window: collections.deque[float] = collections.deque()

    def hit(self) -> tuple[int, int]:
        """Count one request; (remaining, reset epoch second) for the rate-limit headers."""
        now = time.time()
        with self._lock:
            while self._window and self._window[0] <= now - 60:
                self._window.popleft()
            self._window.append(now)
            remaining = max(0, RATE_LIMIT - len(self._window))
            return remaining, int(self._window[0] + 60)

    def add(
        self,
        method: str,
        path: str,
        status: int | None,
        sim_time: str,
        faults: list[FaultRule] | None = None,
        handled_status: int | None = None,
    ) -> None:
        """Log one request: ``status`` is what the client got (None: the connection was dropped).

        A faulted request also gets ``faults`` (``[{"id", "kind"}, ...]``, the rules applied)
        and, when it was handled anyway (``commit_then_fail``), ``handled_status``: the status
        of the response the client never saw.
        """
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "status": status,
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "sim_time": sim_time,
        }
        if faults:
            entry["faults"] = [{"id": f.id, "kind": f.kind, **f.params} for f in faults]
        if handled_status is not None:
            entry["handled_status"] = handled_status
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Keep-alive clients (requests) would otherwise wait ~40 ms per call on the
    # Nagle / delayed-ACK interaction between the header and body writes.
    disable_nagle_algorithm = True
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # the request log replaces stderr noise
        return

    def _stopped(self) -> bool:
        """The server was stopped while this request was in flight (e.g. held by a delay
        fault): its client gave up long ago and the state is closed, so answer 503."""
        if not self.server.api.engine.closed:
            return False
        self._write(ApiResponse(503, {"code": 50310000, "message": "simulator stopped"}))
        return True

    def _dispatch(self) -> None:
        if self._stopped():
            return
        parts = urlsplit(self.path)
        length = self._content_length()
        if length is None:
            return
        body = self.rfile.read(length) if length > 0 else b""
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        api = self.server.api
        route = parts.path.rstrip("/") or "/"
        faults = [] if route.startswith("/_sim") else self._take_faults(route)
        delay = min(MAX_DELAY_SECONDS, sum(float(f.params["seconds"]) for f in faults if f.kind == "delay"))
        if delay > 0:
            time.sleep(delay)
            if self._stopped():
                return
        fault = next((f for f in faults if f.kind != "delay"), None)
        if fault is not None and fault.kind not in ("commit_then_fail", *REWRITE_KINDS):
            sent = self._write_fault(fault)
            self.server.log.add(self.command, self.path, sent, api.engine.now().isoformat(), faults)
            return
        if (self.command, route) == ("GET", "/_sim/requests"):
            response = ApiResponse(200, {"requests": self.server.log.entries()})
        else:
            req = ApiRequest(self.command, parts.path, query, dict(self.headers.items()), body)
            try:
                response = api.handle(req)
            except Exception:
                if self._stopped():  # closed between the check above and the handler
                    return
                traceback.print_exc(file=sys.stderr)
                response = ApiResponse(500, {"code": 50010000, "message": "internal server error"})
        if fault is not None and fault.kind in REWRITE_KINDS:
            response = ApiResponse(response.status, _rewrite(fault.kind, response.body))
            fault = None
        if fault is not None:  # commit_then_fail: the state is committed, the answer is lost
            lost = fault.params["then"] == "drop"
            self.server.log.add(
                self.command, self.path, None if lost else 504, api.engine.now().isoformat(), faults,
                handled_status=response.status,
            )  # fmt: skip
            if lost:
                self._drop()
            else:
                self._write(ApiResponse(504, {"code": 50410000, "message": "gateway timeout"}))
            return
        self.server.log.add(
            self.command, self.path, response.status, api.engine.now().isoformat(), faults or None
        )
        self._write(response)

    def _content_length(self) -> int | None:
        """The body's declared length; None after answering 400/413 (the body is never read)."""
        raw = self.headers.get("Content-Length") or "0"
        problem = None
        if not raw.strip().isdigit():
            problem = ApiResponse(400, {"code": 40010001, "message": "invalid Content-Length"})
        elif int(raw) > MAX_BODY_BYTES:
            problem = ApiResponse(
                413, {"code": 41310000, "message": f"request body larger than {MAX_BODY_BYTES} bytes"}
            )
        if problem is None:
            return int(raw)
        self.close_connection = True  # the unread body would be taken for the next request
        self.server.log.add(self.command, self.path, problem.status, self.server.api.engine.now().isoformat())
        self._write(problem, {"Connection": "close"})
        return None

    def _take_faults(self, route: str) -> list[FaultRule]:
        try:
            return self.server.api.engine.faults.take(self.command, route)
        except Exception:  # a broken rule table must not take the API down
            traceback.print_exc(file=sys.stderr)
            return []

    def _drop(self) -> None:
        """Close the connection without another byte (the server closes the socket)."""
        self.close_connection = True

    def _write_fault(self, fault: FaultRule) -> int | None:
        """Answer for a fault that replaces the request; the status sent (None: dropped)."""
        params = fault.params
        if fault.kind == "drop":
            if params.get("after_headers"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", "4096")
                self.end_headers()
                self.wfile.write(b'{"id": "')
                self.wfile.flush()
            self._drop()
            return 200 if params.get("after_headers") else None
        if fault.kind == "status":
            status = int(params["status"])
            headers: dict[str, str] = {}
            retry_after = params.get("retry_after")
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            if status == 429:
                headers["X-Ratelimit-Remaining"] = "0"
                headers["X-Ratelimit-Reset"] = str(int(time.time()) + int(retry_after or 0))
            self._write(ApiResponse(status, {"code": params["code"], "message": params["message"]}), headers)
            return status
        if fault.kind == "html":
            status = int(params["status"])
            phrase = HTTPStatus(status).phrase
            page = (
                f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
                f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                "</body>\r\n</html>\r\n"
            )
            self._send(status, page.encode(), "text/html", {})
            return status
        # garbage
        self._send(200, str(params["body"]).encode(), "application/json; charset=UTF-8", {})
        return 200

    def _write(self, response: ApiResponse, headers: dict[str, str] | None = None) -> None:
        payload = b"" if response.body is None else json.dumps(response.body, default=_default).encode()
        content_type = "application/json; charset=UTF-8" if response.body is not None else None
        self._send(response.status, payload, content_type, headers or {})

    def _send(self, status: int, payload: bytes, content_type: str | None, headers: dict[str, str]) -> None:
        remaining, reset = self.server.log.hit()
        rate = {
            "X-Ratelimit-Limit": str(RATE_LIMIT),
            "X-Ratelimit-Remaining": str(remaining),
            "X-Ratelimit-Reset": str(reset),
            **headers,
        }
        try:
            self.send_response(status)
            if content_type is not None:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in rate.items():
                self.send_header(name, value)
            self.end_headers()
            if payload:
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. timed out on a delay)
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()


class SimHTTPServer(ThreadingHTTPServer):
    """HTTP server bound to one :class:`SimApi`; handler threads are daemons."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 refuses connections when a burst of clients (the
    # reliability harness, parallel assets) connects at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: SimApi) -> None:
        self.api = api
        self.log = RequestLog()
        super().__init__(address, _Handler)

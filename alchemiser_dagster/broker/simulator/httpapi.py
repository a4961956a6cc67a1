"""The socket layer: a stdlib ``ThreadingHTTPServer`` in front of :class:`SimApi`.

Deliberately thin: parse the request, call :meth:`SimApi.handle` (which commits before it
returns), then serialize. Owning the raw socket here (rather than a framework) is what will
let the fault-injection issue drop connections, stall, or send HTML 502s and garbage at
exactly this point. It also adds Alpaca's ``X-Ratelimit-*`` headers (counted over a
sliding minute of wall time, not enforced yet) and keeps the request log served at
``GET /_sim/requests``.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from alchemiser_dagster.broker.simulator.routes import ApiRequest, ApiResponse, SimApi

__all__ = ["RATE_LIMIT", "RequestLog", "SimHTTPServer"]

RATE_LIMIT = 200


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

    def add(self, method: str, path: str, status: int, sim_time: str) -> None:
        entry = {
            "method": method,
            "path": path,
            "status": status,
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "sim_time": sim_time,
        }
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

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        api = self.server.api
        if (self.command, parts.path.rstrip("/")) == ("GET", "/_sim/requests"):
            response = ApiResponse(200, {"requests": self.server.log.entries()})
        else:
            req = ApiRequest(self.command, parts.path, query, dict(self.headers.items()), body)
            try:
                response = api.handle(req)
            except Exception:
                traceback.print_exc(file=sys.stderr)
                response = ApiResponse(500, {"code": 50010000, "message": "internal server error"})
        self.server.log.add(self.command, self.path, response.status, api.engine.now().isoformat())
        self._write(response)

    def _write(self, response: ApiResponse) -> None:
        payload = b"" if response.body is None else json.dumps(response.body, default=_default).encode()
        remaining, reset = self.server.log.hit()
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Ratelimit-Limit", str(RATE_LIMIT))
        self.send_header("X-Ratelimit-Remaining", str(remaining))
        self.send_header("X-Ratelimit-Reset", str(reset))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

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

    def __init__(self, address: tuple[str, int], api: SimApi) -> None:
        self.api = api
        self.log = RequestLog()
        super().__init__(address, _Handler)

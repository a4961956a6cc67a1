"""``SimulatorServer``: the Python entry point the rest of the project uses.

It wires the pieces: bars -> :class:`PriceBook`, state dir -> :class:`SimEngine`,
:class:`SimApi` + :class:`SimHTTPServer` on a background thread. The real ``alpaca-py``
clients then talk to :attr:`SimulatorServer.base_url` with :attr:`api_key` /
:attr:`secret_key`, exactly as they would talk to Alpaca.

Defaults: ``now`` is 15:45 New York on the latest NYSE session on or before today (the
market is open, 15 minutes before a regular close), and ``bars`` are the synthetic corpus
bars through that session (cached per process: generating them takes about a second). An
existing ``state_dir`` is resumed; ``cash`` only seeds a new state and an explicit ``now``
moves a resumed clock forward.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from alchemiser_dagster.broker.simulator.engine import SimEngine
from alchemiser_dagster.broker.simulator.faults import parse_fault
from alchemiser_dagster.broker.simulator.httpapi import SimHTTPServer
from alchemiser_dagster.broker.simulator.prices import PriceBook
from alchemiser_dagster.broker.simulator.routes import SimApi
from alchemiser_dagster.broker.simulator.timeutil import parse_ts
from alchemiser_dagster.demo.synth import generate_bars
from alchemiser_dagster.domain import calendar
from alchemiser_dagster.domain.calendar import NEW_YORK

__all__ = ["SimulatorServer", "default_now", "session_time", "stored_now"]

DEMO_TIME = dt.time(15, 45)


def session_time(day: dt.date, at: dt.time = DEMO_TIME) -> dt.datetime:
    """``at`` New York time on session ``day`` (ValueError when ``day`` is not a session)."""
    if not calendar.is_session(day):
        raise ValueError(f"{day.isoformat()} is not an NYSE session")
    return dt.datetime.combine(day, at, tzinfo=NEW_YORK)


def default_now() -> dt.datetime:
    """15:45 New York on the latest NYSE session on or before today."""
    today = dt.datetime.now(NEW_YORK).date()
    return session_time(calendar.latest_session_on_or_before(today))


@functools.lru_cache(maxsize=4)
def _default_book(end: dt.date) -> PriceBook:
    return PriceBook(generate_bars(end=end))


def _book_for(bars: pd.DataFrame | None, now: dt.datetime) -> PriceBook:
    if bars is not None:
        return PriceBook(bars)
    _, last = calendar.calendar_bounds()
    day = min(calendar.latest_session_on_or_before(now.astimezone(NEW_YORK).date()), last)
    return _default_book(day)


def stored_now(state_dir: Path) -> dt.datetime | None:
    """The clock a state folder was left at (None for a new state)."""
    return _stored_now(state_dir)


def _stored_now(state_dir: Path) -> dt.datetime | None:
    """The clock of an existing state (to size the default bars before the engine opens)."""
    import sqlite3

    path = state_dir / "sim.sqlite3"
    if not path.exists():
        return None
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT now FROM clock").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return parse_ts(row[0]) if row else None


class SimulatorServer:
    """A local Alpaca stand-in serving on a background thread (see the module docstring)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        bars: pd.DataFrame | None = None,
        cash: Decimal = Decimal("100000"),
        now: dt.datetime | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = "sim-key",
        secret_key: str = "sim-secret",
    ) -> None:
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be tz-aware")
        self.state_dir = Path(state_dir)
        self.api_key = api_key
        self.secret_key = secret_key
        self.host = host
        self.port = port
        stored = _stored_now(self.state_dir)
        clock_for_bars = now or stored or default_now()
        self.engine = SimEngine(
            self.state_dir,
            _book_for(bars, clock_for_bars),
            cash=Decimal(cash),
            now=now if stored is not None else clock_for_bars,
        )
        self.api = SimApi(self.engine, api_key, secret_key)
        self._httpd: SimHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> SimulatorServer:
        """Bind and serve on a daemon thread; :attr:`base_url` is valid afterwards."""
        if self._httpd is not None:
            return self
        self._httpd = SimHTTPServer((self.host, self.port), self.api)
        host, port = self._httpd.server_address[:2]
        self.port = int(port)
        self.base_url = f"http://{host!s}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="alpaca-sim", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread (the CLI); returns on KeyboardInterrupt."""
        if self._httpd is None:
            self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and close the database (the state on disk is complete)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.engine.close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def set_clock(self, now: dt.datetime) -> None:
        """Move simulated time forward (tz-aware) and process fills and expiries up to it."""
        self.engine.set_clock(now)

    def set_fill_rule(
        self,
        symbol: str | None,
        mode: str,
        fraction: Decimal | str | int | None = None,
        *,
        client_order_id: str | None = None,
    ) -> None:
        """Persist a fill model for ``*`` (all symbols), a symbol or a client order id.

        Every server on this state dir obeys it; the most specific rule wins. 'spread_crossing'
        is the default (fill at the quote once marketable); 'immediate' fills in full at the
        first open instant; 'partial' fills ``fraction`` (0 < f <= 1) of the remainder at each
        fill opportunity; 'paper_like' is Alpaca paper (one fill in ten partial); 'never'
        ('none') keeps orders open; 'reject' rejects them. See :mod:`.fills`.
        """
        self.engine.set_fill_rule(symbol, mode, fraction, client_order_id=client_order_id)

    def add_fault(
        self,
        method: str,
        path: str,
        kind: str,
        *,
        times: int | None = 1,
        skip: int = 0,
        **params: Any,
    ) -> dict[str, Any]:
        """Persist a fault rule (see :mod:`.faults`); returns it as ``GET /_sim/faults`` shows it.

        ``add_fault("POST", "/v2/orders", "commit_then_fail", then="504")``,
        ``add_fault("GET", "/v2/orders*", "status", status=429, retry_after=2, times=2)``.
        """
        body = {"method": method, "path": path, "kind": kind, "times": times, "skip": skip, **params}
        return self.engine.faults.add(parse_fault(body)).to_json()

    def faults(self) -> list[dict[str, Any]]:
        """The stored fault rules with their ``seen`` / ``applied`` counters."""
        return [rule.to_json() for rule in self.engine.faults.rules()]

    def clear_faults(self) -> int:
        """Remove every fault rule; returns how many there were."""
        return self.engine.faults.clear()

    def now(self) -> dt.datetime:
        """Current simulated time, tz-aware UTC."""
        return self.engine.now()

"""`PacedBroker`: a `Broker` that stays under the request budget and backs off on 429.

The portfolio-execution spec: "429: back off, honouring Retry-After / X-Ratelimit-Reset;
stay under 200 requests/min". The adapter (`broker/alpaca/`) makes exactly one HTTP
request per call and turns a 429 into `RateLimited` with the server's hint in
``retry_after`` (from ``Retry-After`` or ``X-Ratelimit-Reset``); this wrapper owns the
policy:

- Pacing: a sliding window over ``monotonic()``. Before every call (every retry included:
  each is one more request) it takes a slot; when ``max_per_minute`` slots were taken in
  the last 60 s it sleeps until the oldest leaves the window. So no half-open 60 s
  interval ever holds more than ``max_per_minute`` calls.
- 429: sleep ``retry_after`` when the server gave one, else an exponential backoff
  (``default_backoff_seconds`` x 1, 2, 4, ...), then repeat the SAME call. That is safe
  for ``submit_order`` too: a 429 means Alpaca did not accept the order, and the retried
  request carries the same ``client_order_id`` (a duplicate would be refused, never
  doubled). After ``max_rate_limit_retries`` retries the last `RateLimited` is raised.
- Every other error (`BrokerUnavailable`, `AmbiguousSubmit`, `OrderRejected`, ...) passes
  through unchanged on its first occurrence: the step retries of `pipeline/retries.py` take
  the retryable ones, the execution engine looks an ambiguous submit up by client id.

Sleep and clock are injected, so tests never wait in real time. The window's bookkeeping
is in the limiter's own time: a slot granted after a pacing sleep is dated at the moment
the oldest call leaves the window even when the injected clock did not move (a recording
``sleep``), so a sleep that is not slept can never make the wrapper spin. The limiter is
thread-safe (slots are reserved under a lock; the sleeping happens outside it).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

import pandas as pd

from alchemiser_dagster.domain.broker import (
    AccountInfo,
    AssetInfo,
    Broker,
    MarketClock,
    OrderInfo,
    OrderRequest,
    OrderStatusFilter,
    PositionInfo,
    QuoteInfo,
    TradeInfo,
)
from alchemiser_dagster.domain.errors import ConfigError, RateLimited

__all__ = ["DEFAULT_MAX_PER_MINUTE", "WINDOW_SECONDS", "PacedBroker", "SlidingWindowLimiter"]

WINDOW_SECONDS = 60.0
DEFAULT_MAX_PER_MINUTE = 200

_T = TypeVar("_T")


class SlidingWindowLimiter:
    """At most ``limit`` slots in any half-open window of ``window`` seconds of ``monotonic()``.

    :meth:`reserve` takes a slot and returns how long the caller must wait before using it
    (0.0 when a slot is free now). The caller sleeps; the slot is already booked.
    """

    def __init__(self, limit: int, *, monotonic: Callable[[], float], window: float = WINDOW_SECONDS) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"the request limit must be a positive integer, got {limit!r}")
        if not (math.isfinite(window) and window > 0):
            raise ConfigError(f"the window must be a positive number of seconds, got {window!r}")
        self.limit = limit
        self.window = float(window)
        self._monotonic = monotonic
        self._slots: deque[float] = deque()  # booked call times, non-decreasing
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Book the next slot; returns the seconds to wait until it (never negative)."""
        with self._lock:
            now = self._monotonic()
            while self._slots and self._slots[0] + self.window <= now:
                self._slots.popleft()
            at = now
            if self._slots:
                at = max(at, self._slots[-1])  # keep the booked times in order
            if len(self._slots) >= self.limit:
                at = max(at, self._slots[0] + self.window)
                self._slots.popleft()
            self._slots.append(at)
            return max(0.0, at - now)


class PacedBroker:
    """A `Broker` wrapping another: request pacing and 429 backoff (see the module docstring).

    ``calls`` counts the requests made to the inner broker (retries included) and
    ``rate_limited`` the 429s received; ``paced_seconds`` / ``backoff_seconds`` sum the
    sleeps asked for by the window and by rate limits, for benchmarks and run metadata.
    """

    def __init__(
        self,
        inner: Broker,
        *,
        sleep: Callable[[float], None],
        monotonic: Callable[[], float],
        max_per_minute: int = DEFAULT_MAX_PER_MINUTE,
        max_rate_limit_retries: int = 5,
        default_backoff_seconds: float = 1.0,
    ) -> None:
        if (
            isinstance(max_rate_limit_retries, bool)
            or not isinstance(max_rate_limit_retries, int)
            or max_rate_limit_retries < 0
        ):
            raise ConfigError(
                f"max_rate_limit_retries must be a non-negative integer, got {max_rate_limit_retries!r}"
            )
        if not (math.isfinite(default_backoff_seconds) and default_backoff_seconds >= 0):
            raise ConfigError(
                f"default_backoff_seconds must be a non-negative number, got {default_backoff_seconds!r}"
            )
        self._inner = inner
        self._sleep = sleep
        self._limiter = SlidingWindowLimiter(max_per_minute, monotonic=monotonic)
        self.max_per_minute = max_per_minute
        self.max_rate_limit_retries = max_rate_limit_retries
        self.default_backoff_seconds = float(default_backoff_seconds)
        self.calls = 0
        self.rate_limited = 0
        self.paced_seconds = 0.0
        self.backoff_seconds = 0.0
        self._count_lock = threading.Lock()

    @property
    def inner(self) -> Broker:
        return self._inner

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._inner!r}, max_per_minute={self.max_per_minute}, "
            f"max_rate_limit_retries={self.max_rate_limit_retries})"
        )

    # --- the policy ---------------------------------------------------------------------

    def backoff_for(self, error: RateLimited, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based) after ``error``."""
        hint = error.retry_after
        if hint is not None and math.isfinite(hint):
            return max(0.0, float(hint))
        return self.default_backoff_seconds * 2.0**retry

    def _pace(self) -> None:
        wait = self._limiter.reserve()
        if wait > 0:
            with self._count_lock:
                self.paced_seconds += wait
            self._sleep(wait)

    def _call(self, fn: Callable[[], _T]) -> _T:
        retry = 0
        while True:
            self._pace()
            with self._count_lock:
                self.calls += 1
            wait = 0.0
            try:
                return fn()
            except RateLimited as error:
                with self._count_lock:
                    self.rate_limited += 1
                if retry >= self.max_rate_limit_retries:
                    raise
                wait = self.backoff_for(error, retry)
                retry += 1
            # Outside the except block: the handled error must not chain onto the retry's.
            if wait > 0:
                with self._count_lock:
                    self.backoff_seconds += wait
                self._sleep(wait)

    # --- Broker -------------------------------------------------------------------------

    def get_account(self) -> AccountInfo:
        return self._call(self._inner.get_account)

    def get_positions(self) -> list[PositionInfo]:
        return self._call(self._inner.get_positions)

    def get_asset(self, symbol: str) -> AssetInfo:
        return self._call(lambda: self._inner.get_asset(symbol))

    def get_clock(self) -> MarketClock:
        return self._call(self._inner.get_clock)

    def get_orders(
        self,
        *,
        status: OrderStatusFilter = "all",
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        symbols: list[str] | None = None,
    ) -> list[OrderInfo]:
        return self._call(
            lambda: self._inner.get_orders(status=status, after=after, until=until, symbols=symbols)
        )

    def get_order_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        return self._call(lambda: self._inner.get_order_by_client_id(client_order_id))

    def submit_order(self, request: OrderRequest) -> OrderInfo:
        return self._call(lambda: self._inner.submit_order(request))

    def cancel_order(self, order_id: str) -> None:
        self._call(lambda: self._inner.cancel_order(order_id))

    def get_latest_quotes(self, symbols: list[str]) -> dict[str, QuoteInfo]:
        return self._call(lambda: self._inner.get_latest_quotes(symbols))

    def get_latest_trades(self, symbols: list[str]) -> dict[str, TradeInfo]:
        return self._call(lambda: self._inner.get_latest_trades(symbols))

    def get_daily_bars(self, symbols: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._call(lambda: self._inner.get_daily_bars(symbols, start, end))

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the inner broker when it has a ``close()`` (the Alpaca adapter does)."""
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> PacedBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

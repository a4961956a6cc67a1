"""PacedBroker: request pacing under 200/min and 429 backoff, on a fake seam and on the stand-in."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.pacing import PacedBroker, SlidingWindowLimiter
from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.domain.broker import Broker, OrderRequest
from alchemiser_dagster.domain.errors import (
    AmbiguousSubmit,
    BrokerError,
    BrokerUnavailable,
    ConfigError,
    OrderRejected,
    RateLimited,
)

D = dt.date(2024, 6, 28)


class FakeClock:
    """`monotonic` and `sleep` for the wrapper: sleeping moves the clock, never waits."""

    def __init__(self, *, sleep_moves_clock: bool = True) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.sleep_moves_clock = sleep_moves_clock

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.sleep_moves_clock:
            self.now += seconds


class ScriptedBroker:
    """A tiny inner `Broker`: records each call with the clock time; answers from a script.

    ``script[method]`` is a list of outcomes consumed one per call (an exception instance is
    raised, anything else returned); when it runs out, the method returns ``("ok", method,
    args)``. Each call costs ``cost`` seconds of the fake clock.
    """

    def __init__(self, clock: FakeClock, *, cost: float = 0.0, with_close: bool = True) -> None:
        self.clock = clock
        self.cost = cost
        self.script: dict[str, list[object]] = {}
        self.calls: list[tuple[str, tuple[object, ...], float]] = []
        self.closed = 0
        if not with_close:
            self.close = None  # type: ignore[assignment]

    def _answer(self, method: str, *args: object) -> Any:
        self.calls.append((method, args, self.clock.now))
        self.clock.now += self.cost
        outcomes = self.script.get(method)
        if outcomes:
            outcome = outcomes.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        return ("ok", method, args)

    def get_account(self) -> Any:
        return self._answer("get_account")

    def get_positions(self) -> Any:
        return self._answer("get_positions")

    def get_asset(self, symbol: str) -> Any:
        return self._answer("get_asset", symbol)

    def get_clock(self) -> Any:
        return self._answer("get_clock")

    def get_orders(
        self,
        *,
        status: Any = "all",
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        symbols: list[str] | None = None,
    ) -> Any:
        return self._answer("get_orders", status, after, until, symbols)

    def get_order_by_client_id(self, client_order_id: str) -> Any:
        return self._answer("get_order_by_client_id", client_order_id)

    def submit_order(self, request: OrderRequest) -> Any:
        return self._answer("submit_order", request)

    def cancel_order(self, order_id: str) -> None:
        self._answer("cancel_order", order_id)

    def get_latest_quotes(self, symbols: list[str]) -> Any:
        return self._answer("get_latest_quotes", symbols)

    def get_latest_trades(self, symbols: list[str]) -> Any:
        return self._answer("get_latest_trades", symbols)

    def get_daily_bars(self, symbols: list[str], start: dt.date, end: dt.date) -> Any:
        return self._answer("get_daily_bars", symbols, start, end)

    def close(self) -> None:
        self.closed += 1


def paced(inner: ScriptedBroker, clock: FakeClock, **kwargs: Any) -> PacedBroker:
    return PacedBroker(inner, sleep=clock.sleep, monotonic=clock.monotonic, **kwargs)


def max_in_any_window(times: list[float], window: float = 60.0) -> int:
    """The most calls in any half-open interval [t, t + window)."""
    ordered = sorted(times)
    best = 0
    lo = 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


REQUEST = OrderRequest(client_order_id="pace-test-b1", symbol="SPY", side="buy", qty=Decimal("1"))


# --- pacing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cost", "expected_sleep"),
    [
        (0.0, 60.0),  # 200 at t=0; the 201st waits for them to leave the window at t=60
        (0.25, 10.0),  # 200 calls take 50 s; the 201st waits 10 s for the first to leave
    ],
)
def test_a_burst_of_250_never_has_more_than_200_calls_in_any_minute(
    cost: float, expected_sleep: float
) -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock, cost=cost)
    broker = paced(inner, clock)
    for _ in range(250):
        broker.get_clock()
    times = [t for _, _, t in inner.calls]
    assert len(times) == 250 and broker.calls == 250 and broker.rate_limited == 0
    assert max_in_any_window(times) == 200
    # Exactly the wait the window requires, taken once, before the 201st call.
    assert clock.sleeps == [expected_sleep]
    assert sum(clock.sleeps) == broker.paced_seconds == expected_sleep
    assert times[200] == 60.0 and times[199] < 60.0


def test_a_burst_under_the_limit_never_sleeps() -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    broker = paced(inner, clock)
    for _ in range(200):
        broker.get_account()
    assert clock.sleeps == [] and broker.calls == 200


def test_a_small_limit_spaces_later_bursts_by_the_window() -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    broker = paced(inner, clock, max_per_minute=3)
    for _ in range(7):
        broker.get_positions()
    times = [t for _, _, t in inner.calls]
    assert times == [0.0, 0.0, 0.0, 60.0, 60.0, 60.0, 120.0]
    assert clock.sleeps == [60.0, 60.0] and max_in_any_window(times) == 3


def test_a_sleep_that_does_not_move_the_clock_cannot_make_the_limiter_spin() -> None:
    clock = FakeClock(sleep_moves_clock=False)
    inner = ScriptedBroker(clock)
    broker = paced(inner, clock, max_per_minute=2)
    for _ in range(5):
        broker.get_clock()
    assert broker.calls == 5 and len(inner.calls) == 5
    # Each wait runs to the slot the limiter booked, measured from the (frozen) clock.
    assert clock.sleeps == [60.0, 60.0, 120.0]


def test_limiter_books_slots_in_order() -> None:
    clock = FakeClock(sleep_moves_clock=False)
    limiter = SlidingWindowLimiter(2, monotonic=clock.monotonic, window=10.0)
    assert [limiter.reserve() for _ in range(5)] == [0.0, 0.0, 10.0, 10.0, 20.0]
    clock.now = 25.0  # everything but the slot at 20 has left the window
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == 5.0  # the slot at 20 leaves at 30


# --- 429 ----------------------------------------------------------------------------------


def test_rate_limited_with_retry_after_sleeps_the_hint_and_retries_the_same_call() -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    order = object()
    inner.script["submit_order"] = [
        RateLimited("429", retry_after=7),
        RateLimited("429", retry_after=7),
        order,
    ]
    broker = paced(inner, clock)
    assert broker.submit_order(REQUEST) is order
    assert clock.sleeps == [7, 7]
    assert [(m, a) for m, a, _ in inner.calls] == [("submit_order", (REQUEST,))] * 3
    assert [t for _, _, t in inner.calls] == [0.0, 7.0, 14.0]
    assert broker.calls == 3 and broker.rate_limited == 2 and broker.backoff_seconds == 14.0


def test_rate_limited_without_retry_after_backs_off_exponentially() -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    inner.script["get_account"] = [RateLimited("429") for _ in range(3)]
    broker = paced(inner, clock)
    answer: object = broker.get_account()
    assert answer == ("ok", "get_account", ())
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert broker.calls == 4 and broker.rate_limited == 3


def test_the_backoff_starts_at_default_backoff_seconds() -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    inner.script["get_clock"] = [RateLimited("429"), RateLimited("429", retry_after=0.25), RateLimited("429")]
    broker = paced(inner, clock, default_backoff_seconds=0.5)
    broker.get_clock()
    # The exponent counts retries, whichever kind of wait the previous one took.
    assert clock.sleeps == [0.5, 0.25, 2.0]


def test_after_max_retries_the_last_rate_limited_is_raised() -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    errors = [RateLimited(f"429 #{i}") for i in range(7)]
    inner.script["get_orders"] = list(errors)
    broker = paced(inner, clock)
    with pytest.raises(RateLimited) as raised:
        broker.get_orders(status="open")
    assert raised.value is errors[5]  # the first call and 5 retries: 6 answers, all 429
    assert raised.value.__context__ is None  # not chained onto the earlier 429s
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert broker.calls == 6 and broker.rate_limited == 6 and len(inner.script["get_orders"]) == 1


def test_zero_retries_raises_the_first_rate_limited_at_once() -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    error = RateLimited("429", retry_after=3)
    inner.script["get_account"] = [error]
    broker = paced(inner, clock, max_rate_limit_retries=0)
    with pytest.raises(RateLimited) as raised:
        broker.get_account()
    assert raised.value is error and clock.sleeps == [] and broker.calls == 1


def test_retries_take_their_own_slots_in_the_window() -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    inner.script["get_account"] = [RateLimited("429", retry_after=1)]
    broker = paced(inner, clock, max_per_minute=2)
    broker.get_account()  # two requests: t=0 (429) and t=1
    broker.get_account()  # the window is full until the first leaves at t=60
    assert clock.sleeps == [1.0, 59.0]
    assert [t for _, _, t in inner.calls] == [0.0, 1.0, 60.0]


@pytest.mark.parametrize(
    "error",
    [
        BrokerUnavailable("504 gateway timeout", status=504),
        AmbiguousSubmit("dropped after send", client_order_id="pace-test-b1"),
        OrderRejected("insufficient buying power", status=403, code=40310000),
        BrokerError("unreadable"),
        ValueError("not even a broker error"),
    ],
    ids=type,
)
def test_other_errors_pass_through_without_retry(error: Exception) -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    inner.script["submit_order"] = [error]
    broker = paced(inner, clock)
    with pytest.raises(type(error)) as raised:
        broker.submit_order(REQUEST)
    assert raised.value is error
    assert clock.sleeps == [] and broker.calls == 1 and broker.rate_limited == 0 and len(inner.calls) == 1


# --- delegation -----------------------------------------------------------------------------

START, END = dt.date(2024, 1, 2), dt.date(2024, 6, 28)
AFTER = dt.datetime(2024, 6, 28, 13, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda b: b.get_account(), ("get_account", ())),
        (lambda b: b.get_positions(), ("get_positions", ())),
        (lambda b: b.get_asset("SPY"), ("get_asset", ("SPY",))),
        (lambda b: b.get_clock(), ("get_clock", ())),
        (lambda b: b.get_orders(), ("get_orders", ("all", None, None, None))),
        (
            lambda b: b.get_orders(status="closed", after=AFTER, until=AFTER, symbols=["SPY"]),
            ("get_orders", ("closed", AFTER, AFTER, ["SPY"])),
        ),
        (lambda b: b.get_order_by_client_id("x-b1"), ("get_order_by_client_id", ("x-b1",))),
        (lambda b: b.submit_order(REQUEST), ("submit_order", (REQUEST,))),
        (lambda b: b.get_latest_quotes(["SPY", "QQQ"]), ("get_latest_quotes", (["SPY", "QQQ"],))),
        (lambda b: b.get_latest_trades(["SPY"]), ("get_latest_trades", (["SPY"],))),
        (lambda b: b.get_daily_bars(["SPY"], START, END), ("get_daily_bars", (["SPY"], START, END))),
    ],
    ids=lambda v: v[0] if isinstance(v, tuple) else "",
)
def test_every_method_delegates_its_arguments_and_returns_the_inner_answer(
    call: Callable[[PacedBroker], object], expected: tuple[str, tuple[object, ...]]
) -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    broker = paced(inner, clock)
    assert call(broker) == ("ok", *expected)
    assert [(m, a) for m, a, _ in inner.calls] == [expected] and broker.calls == 1


def test_cancel_order_delegates_and_is_paced_and_retried() -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    inner.script["cancel_order"] = [RateLimited("429", retry_after=2)]
    broker = paced(inner, clock)
    broker.cancel_order("order-1")
    assert [(m, a) for m, a, _ in inner.calls] == [("cancel_order", ("order-1",))] * 2
    assert clock.sleeps == [2]


def test_close_delegates_when_the_inner_broker_has_one() -> None:
    clock = FakeClock()
    inner = ScriptedBroker(clock)
    with paced(inner, clock) as broker:
        broker.get_clock()
    assert inner.closed == 1
    paced(ScriptedBroker(clock, with_close=False), clock).close()  # nothing to close: no error


def test_it_is_a_broker() -> None:
    clock = FakeClock()
    broker: Broker = paced(ScriptedBroker(clock), clock)
    answer: object = broker.get_clock()
    assert answer == ("ok", "get_clock", ())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_per_minute": 0},
        {"max_per_minute": 2.5},
        {"max_rate_limit_retries": -1},
        {"default_backoff_seconds": float("nan")},
        {"default_backoff_seconds": -1.0},
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, Any]) -> None:
    clock = FakeClock()
    with pytest.raises(ConfigError):
        paced(ScriptedBroker(clock), clock, **kwargs)


# --- on the stand-in, over HTTP through alpaca-py ---------------------------------------------


def stand_in_broker(server: SimulatorServer, sleeps: list[float]) -> PacedBroker:
    inner = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
    return PacedBroker(inner, sleep=sleeps.append, monotonic=time.monotonic)


def test_a_submit_rate_limited_twice_places_exactly_one_order(tmp_path: Path) -> None:
    with SimulatorServer(tmp_path / "sim", now=session_time(D, dt.time(15, 0))) as server:
        sleeps: list[float] = []
        with stand_in_broker(server, sleeps) as broker:
            server.add_fault("POST", "/v2/orders", "status", status=429, retry_after=3, times=2)
            order = broker.submit_order(REQUEST)
            assert sleeps == [3.0, 3.0]
            assert order.client_order_id == REQUEST.client_order_id and order.symbol == "SPY"
            assert broker.calls == 3 and broker.rate_limited == 2
            (rule,) = server.faults()
            assert rule["applied"] == 2
            mine = [
                o for o in broker.get_orders(status="all") if o.client_order_id == REQUEST.client_order_id
            ]
            assert [o.id for o in mine] == [order.id]
            found = broker.get_order_by_client_id(REQUEST.client_order_id)
            assert found is not None and found.id == order.id


def test_a_read_rate_limited_past_the_retries_raises_rate_limited(tmp_path: Path) -> None:
    with SimulatorServer(tmp_path / "sim", now=session_time(D, dt.time(15, 0))) as server:
        sleeps: list[float] = []
        with stand_in_broker(server, sleeps) as broker:
            server.add_fault("GET", "/v2/account", "status", status=429, retry_after=2, times=None)
            with pytest.raises(RateLimited) as raised:
                broker.get_account()
            assert raised.value.status == 429 and raised.value.retry_after == 2.0
            assert sleeps == [2.0] * 5 and broker.calls == 6 and broker.rate_limited == 6


def test_a_submit_answered_503_is_not_retried(tmp_path: Path) -> None:
    with SimulatorServer(tmp_path / "sim", now=session_time(D, dt.time(15, 0))) as server:
        sleeps: list[float] = []
        with stand_in_broker(server, sleeps) as broker:
            server.add_fault("POST", "/v2/orders", "status", status=503, times=None)
            with pytest.raises(BrokerError) as raised:
                broker.submit_order(REQUEST)
            assert not isinstance(raised.value, RateLimited)
            assert sleeps == [] and broker.calls == 1
            (rule,) = server.faults()
            assert rule["applied"] == 1

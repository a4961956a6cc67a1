"""`execute_plan` against the in-memory broker: guard, ordering, idempotency, rejects, deadline."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal as D  # noqa: N817 - reads as money in the hand-computed cases

import pytest

from alchemiser_dagster.domain.broker import Side
from alchemiser_dagster.domain.execution.engine import ExecutionSettings, execute_plan
from alchemiser_dagster.domain.execution.ids import client_order_id
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.portfolio.models import PlanItem, RebalancePlan
from tests.domain.execution.fake_broker import OPEN_CLOCK, REJECT_CODE, FakeBroker, account, quote

SESSION = dt.date(2024, 6, 28)
PLAN_ID = "abcdef01" + "23456789" * 7
EARLIER_PLAN_ID = "11111111" + "0" * 56
# The engine rules below are independent of the walk; they run market-only (step 1 = market).
# No user may configure that (walk_steps needs a step), so the settings are built unvalidated.
SETTINGS = ExecutionSettings.model_construct(poll_seconds=5.0, max_polls=3, walk_steps=())
UTC = dt.UTC


def item(symbol: str, side: Side, qty: str, price: str) -> PlanItem:
    return PlanItem(
        symbol=symbol, side=side, qty=D(qty), est_price=D(price), est_value=D(qty) * D(price),
        current_weight=D(0), target_weight=D(0), reason="increase" if side == "buy" else "reduce",
    )  # fmt: skip


def make_plan(*items: PlanItem, plan_id: str = PLAN_ID, session: dt.date = SESSION) -> RebalancePlan:
    turnover = sum((i.est_value for i in items), D(0))
    return RebalancePlan(
        plan_id=plan_id, session=session, account_number="PA123", items=items, skipped=(), turnover=turnover
    )


def coid(symbol: str, side: Side, plan_id: str = PLAN_ID) -> str:
    return client_order_id(SESSION, plan_id, symbol, side, 1)


class Sleeps:
    """The injected sleep: records the requested waits, never sleeps."""

    def __init__(self, broker: FakeBroker | None = None) -> None:
        self.calls: list[float] = []
        self.broker = broker

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.broker is not None:
            self.broker.advance(seconds)


def run(broker: FakeBroker, plan: RebalancePlan, settings: ExecutionSettings = SETTINGS) -> ExecutionResult:
    return execute_plan(broker, plan, settings=settings, sleep=Sleeps())


SPY_BUY = item("SPY", "buy", "5", "500")
QQQ_BUY = item("QQQ", "buy", "3", "400")
TLT_SELL = item("TLT", "sell", "10", "90")


# --- the live guard -------------------------------------------------------------------------


def test_closed_market_gives_plan_only_and_places_nothing() -> None:
    at = dt.datetime(2024, 6, 28, 21, 0, tzinfo=UTC)  # 17:00 New York, after the close
    broker = FakeBroker(account(), clock=OPEN_CLOCK.model_copy(update={"timestamp": at, "is_open": False}))
    result = run(broker, make_plan(SPY_BUY))
    assert result.status == "PLAN_ONLY"
    assert result.reason == (
        "the market is closed at 2024-06-28T21:00:00+00:00; next open 2024-07-01T13:30:00+00:00"
    )
    assert result.outcomes == () and result.orders_placed == 0 and result.orders_adopted == 0
    assert result.started_at == result.finished_at == at
    assert broker.called("submit_order") == [] and broker.called("cancel_order") == []


@pytest.mark.parametrize(
    ("session", "now", "today"),
    [
        (dt.date(2024, 6, 27), OPEN_CLOCK.timestamp, "2024-06-28"),  # a backfill of yesterday
        (dt.date(2024, 7, 1), OPEN_CLOCK.timestamp, "2024-06-28"),  # a future day
        # 02:00 UTC on the 29th is still the 28th in New York: the NY date is the session.
        (dt.date(2024, 6, 29), dt.datetime(2024, 6, 29, 2, 0, tzinfo=UTC), "2024-06-28"),
    ],
)
def test_partition_other_than_the_current_session_gives_plan_only(
    session: dt.date, now: dt.datetime, today: str
) -> None:
    broker = FakeBroker(account(), clock=OPEN_CLOCK.model_copy(update={"timestamp": now}))
    result = run(broker, make_plan(item("SPY", "buy", "5", "500"), session=session))
    assert result.status == "PLAN_ONLY"
    assert result.reason.startswith(f"partition {session} is not the broker's current session ({today})")
    assert broker.called("submit_order") == []


def test_open_market_on_the_ny_session_date_trades() -> None:
    # 23:30 UTC on the 28th = 19:30 New York on the 28th; the fake says open, so the guard passes.
    late = OPEN_CLOCK.model_copy(update={"timestamp": dt.datetime(2024, 6, 29, 0, 30, tzinfo=UTC)})
    late = late.model_copy(update={"next_close": dt.datetime(2024, 6, 29, 1, 0, tzinfo=UTC)})
    broker = FakeBroker(account(), clock=late)
    assert run(broker, make_plan(SPY_BUY)).status == "SUCCESS"
    assert broker.called("submit_order") == [coid("SPY", "buy")]


# --- the happy path -------------------------------------------------------------------------


def test_sells_are_terminal_before_the_first_buy_and_ids_and_slippage_are_exact() -> None:
    broker = FakeBroker(account())
    broker.fill_prices = {"BRK/B": D("399"), "TLT": D("90.09"), "SPY": D("501"), "QQQ": D("399.6")}
    plan = make_plan(item("BRK/B", "sell", "2", "400"), TLT_SELL, SPY_BUY, QQQ_BUY)
    result = run(broker, plan)

    ids = {
        "BRK/B": "alch-20240628-abcdef01-BRK.B-s1",
        "TLT": "alch-20240628-abcdef01-TLT-s1",
        "SPY": "alch-20240628-abcdef01-SPY-b1",
        "QQQ": "alch-20240628-abcdef01-QQQ-b1",
    }
    assert broker.called("submit_order") == list(ids.values())
    first_buy = broker.log.index(("submit_order", ids["SPY"]))
    for sell in ("BRK/B", "TLT"):
        assert broker.log.index(("filled", ids[sell])) < first_buy
    assert [o.client_order_id for o in result.outcomes] == list(ids.values())

    assert result.status == "SUCCESS"
    assert result.reason == "4 orders filled"
    assert result.orders_placed == 4 and result.orders_adopted == 0
    # buy: (fill - arrival) / arrival; sell: (arrival - fill) / arrival; in bps, positive = cost.
    assert {o.symbol: o.slippage_bps for o in result.outcomes} == {
        "BRK/B": D("25.00"),  # sold 1 below 400
        "TLT": D("-10.00"),  # sold 0.09 above 90
        "SPY": D("20.00"),  # bought 1 above 500
        "QQQ": D("-10.00"),  # bought 0.4 below 400
    }
    spy = result.outcomes[2]
    assert (spy.requested_qty, spy.filled_qty, spy.filled_avg_price, spy.arrival_price) == (
        D("5"), D("5"), D("501"), D("500"),
    )  # fmt: skip
    assert spy.status == "filled" and spy.order_id == broker.orders[ids["SPY"]].id and not spy.adopted
    assert broker.called("cancel_order") == []


def test_client_order_id_is_bounded_to_48_characters() -> None:
    assert client_order_id(SESSION, PLAN_ID, "A" * 22, "buy", 1) == f"alch-20240628-abcdef01-{'A' * 22}-b1"
    with pytest.raises(ValueError, match="longer than 48"):
        client_order_id(SESSION, PLAN_ID, "A" * 23, "buy", 1)


# --- ambiguous submits and rejects ----------------------------------------------------------


def test_ambiguous_submit_that_was_stored_is_adopted_by_lookup_not_resent() -> None:
    broker = FakeBroker(account())
    broker.submit_faults["SPY"] = "commit_then_fail"
    result = run(broker, make_plan(SPY_BUY))
    assert broker.called("submit_order") == [coid("SPY", "buy")]
    assert broker.called("get_order_by_client_id") == [coid("SPY", "buy")]
    assert list(broker.orders) == [coid("SPY", "buy")]
    assert result.status == "SUCCESS"
    assert result.outcomes[0].order_id == broker.orders[coid("SPY", "buy")].id
    assert result.outcomes[0].filled_qty == D("5")
    assert result.orders_placed == 1  # placed by this run (the lookup only confirmed it)


def test_ambiguous_submit_that_was_not_stored_is_resent_once_with_the_same_id() -> None:
    broker = FakeBroker(account())
    broker.submit_faults["SPY"] = "fail_before_commit"
    result = run(broker, make_plan(SPY_BUY))
    spy = coid("SPY", "buy")
    assert broker.called("submit_order") == [spy, spy]
    # looked up before the resend (found nothing), resent with the same id
    # (after listing: the account read that sizes the BUYs on the cash after the SELL phase,
    # then the deadline check of the BUY phase)
    assert broker.log[1:7] == [
        ("get_orders", "all"), ("get_account", None), ("get_clock", None), ("submit_order", spy),
        ("get_order_by_client_id", spy), ("submit_order", spy),
    ]  # fmt: skip
    assert list(broker.orders) == [spy]
    assert result.status == "SUCCESS" and result.orders_placed == 1


def test_business_reject_is_recorded_with_its_code_and_not_retried() -> None:
    broker = FakeBroker(account())
    broker.submit_faults["SPY"] = "reject"
    result = run(broker, make_plan(SPY_BUY))
    assert broker.called("submit_order") == [coid("SPY", "buy")]
    assert broker.orders == {}
    assert result.status == "FAILED"
    assert result.reason == "none of 1 items filled"
    (out,) = result.outcomes
    assert (out.status, out.error_code, out.filled_qty, out.order_id) == ("rejected", REJECT_CODE, D(0), None)
    assert out.error == "insufficient buying power"
    assert result.orders_placed == 0


def test_reject_next_to_a_fill_gives_partial() -> None:
    broker = FakeBroker(account(), fill_mode="immediate")
    broker.submit_faults["QQQ"] = "reject"
    result = run(broker, make_plan(SPY_BUY, QQQ_BUY))
    assert broker.called("submit_order") == [coid("SPY", "buy"), coid("QQQ", "buy")]
    assert result.status == "PARTIAL"
    assert result.reason == "1 of 2 items filled completely"
    assert [(o.symbol, o.status, o.error_code) for o in result.outcomes] == [
        ("SPY", "filled", None), ("QQQ", "rejected", REJECT_CODE),
    ]  # fmt: skip
    assert result.orders_placed == 1


# --- the poll budget and the deadline -------------------------------------------------------


def test_orders_that_never_fill_are_canceled_after_max_polls() -> None:
    broker = FakeBroker(account(), fill_mode="never")
    sleeps = Sleeps()
    result = execute_plan(broker, make_plan(SPY_BUY), settings=SETTINGS, sleep=sleeps)
    order = broker.orders[coid("SPY", "buy")]
    assert sleeps.calls == [5.0, 5.0, 5.0]
    assert broker.called("get_order_by_client_id").count(coid("SPY", "buy")) == 4  # 3 polls + after cancel
    assert broker.called("cancel_order") == [order.id]
    assert order.status == "canceled"
    (out,) = result.outcomes
    assert (out.status, out.filled_qty, out.filled_avg_price) == ("canceled", D(0), None)
    assert out.error == "deadline reached; remaining quantity canceled"
    assert result.status == "FAILED"


def test_at_the_deadline_open_orders_are_canceled_without_further_waiting() -> None:
    # 15:50 New York, close 16:00, deadline 15:58; each poll sleeps a minute on the fake clock.
    start = OPEN_CLOCK.model_copy(update={"timestamp": dt.datetime(2024, 6, 28, 19, 50, tzinfo=UTC)})
    broker = FakeBroker(account(), clock=start, fill_mode="never")
    sleeps = Sleeps(broker)
    settings = ExecutionSettings.model_construct(poll_seconds=60.0, max_polls=600, walk_steps=())
    result = execute_plan(broker, make_plan(TLT_SELL), settings=settings, sleep=sleeps)
    assert sleeps.calls == [60.0] * 8  # 15:50 .. 15:57; at 15:58 it stops
    assert broker.called("cancel_order") == [broker.orders[coid("TLT", "sell")].id]
    assert result.outcomes[0].error == "deadline reached; remaining quantity canceled"
    assert result.status == "FAILED"
    assert result.finished_at == dt.datetime(2024, 6, 28, 19, 58, tzinfo=UTC)


def test_no_buy_is_placed_after_the_sell_phase_hit_the_deadline() -> None:
    start = OPEN_CLOCK.model_copy(update={"timestamp": dt.datetime(2024, 6, 28, 19, 50, tzinfo=UTC)})
    broker = FakeBroker(account(), clock=start)
    broker.fill_modes["TLT"] = "never"
    settings = ExecutionSettings.model_construct(poll_seconds=60.0, max_polls=600, walk_steps=())
    result = execute_plan(broker, make_plan(TLT_SELL, SPY_BUY), settings=settings, sleep=Sleeps(broker))
    assert broker.called("submit_order") == [coid("TLT", "sell")]
    assert [o.filled_qty for o in result.outcomes if o.symbol == "SPY"] in ([], [D(0)])
    (spy,) = [o for o in result.outcomes if o.symbol == "SPY"]
    assert spy.status == "not_placed" and spy.error and "past the deadline" in spy.error


def test_nothing_is_placed_when_the_run_starts_after_the_deadline() -> None:
    late = OPEN_CLOCK.model_copy(update={"timestamp": dt.datetime(2024, 6, 28, 19, 59, tzinfo=UTC)})
    broker = FakeBroker(account(), clock=late)
    execute_plan(broker, make_plan(SPY_BUY), settings=SETTINGS, sleep=Sleeps(broker))
    assert broker.called("submit_order") == []


# --- adoption: reruns, earlier plans, other people's orders ---------------------------------


def test_rerun_of_the_same_plan_adopts_its_orders_and_places_nothing() -> None:
    broker = FakeBroker(account())
    broker.add_order(coid("TLT", "sell"), "TLT", "sell", "10", price="90")
    broker.add_order(coid("SPY", "buy"), "SPY", "buy", "5", price="500.5")
    # still open after the interruption; fills on its second read (the first is get_orders)
    broker.add_order(coid("QQQ", "buy"), "QQQ", "buy", "3", status="new", fill_after_reads=2)
    broker.fill_prices["QQQ"] = D("400")
    result = run(broker, make_plan(TLT_SELL, SPY_BUY, QQQ_BUY))
    assert broker.called("submit_order") == []
    assert broker.called("get_order_by_client_id") == [coid("QQQ", "buy")]  # only the open one is polled
    assert broker.called("cancel_order") == []
    assert result.orders_adopted == 3 and result.orders_placed == 0
    assert result.status == "SUCCESS"
    assert [(o.symbol, o.status, o.filled_qty, o.adopted) for o in result.outcomes] == [
        ("TLT", "filled", D("10"), True), ("SPY", "filled", D("5"), True), ("QQQ", "filled", D("3"), True),
    ]  # fmt: skip
    assert result.outcomes[1].slippage_bps == D("10.00")  # 500.5 vs 500: still measured on a rerun


def test_orders_of_an_earlier_plan_for_the_session_mean_already_executed() -> None:
    broker = FakeBroker(account())
    spy = broker.add_order(coid("SPY", "buy", EARLIER_PLAN_ID), "SPY", "buy", "4", price="500")
    qqq = broker.add_order(
        coid("QQQ", "buy", EARLIER_PLAN_ID), "QQQ", "buy", "2", status="new", fill_after_reads=2
    )
    result = run(broker, make_plan(SPY_BUY, TLT_SELL))
    assert broker.called("submit_order") == [] and broker.called("cancel_order") == []
    assert result.reason == (
        "session 2024-06-28 was already executed by plan 11111111; "
        "adopted its 2 orders and placed none (2 orders filled)"
    )
    assert result.status == "SUCCESS"
    assert result.orders_adopted == 2 and result.orders_placed == 0
    assert [(o.client_order_id, o.order_id, o.side, o.filled_qty, o.status) for o in result.outcomes] == [
        (spy.client_order_id, spy.id, "buy", D("4"), "filled"),
        (qqq.client_order_id, qqq.id, "buy", D("2"), "filled"),
    ]
    assert all(o.slippage_bps is None for o in result.outcomes)  # their arrival price is unknown


def test_orders_that_are_not_ours_are_never_adopted_or_canceled() -> None:
    broker = FakeBroker(account(), fill_mode="never")
    yesterday = dt.datetime(2024, 6, 27, 15, 0, tzinfo=UTC)
    manual = broker.add_order("manual-spy-1", "SPY", "buy", "1", status="new")
    other_day = broker.add_order(
        "alch-20240627-abcdef01-SPY-b1", "SPY", "buy", "5", status="new", submitted_at=yesterday
    )
    result = run(broker, make_plan(SPY_BUY))
    ours = broker.orders[coid("SPY", "buy")]
    assert broker.called("submit_order") == [ours.client_order_id]
    assert broker.called("cancel_order") == [ours.id]
    assert broker.orders[manual.client_order_id].status == "new"
    assert broker.orders[other_day.client_order_id].status == "new"
    assert [o.client_order_id for o in result.outcomes] == [ours.client_order_id]
    assert result.orders_adopted == 0 and result.orders_placed == 1
    assert "already executed" not in result.reason


def test_fake_fills_at_the_quote_mid_by_default() -> None:
    broker = FakeBroker(account(), quotes={"SPY": quote("SPY", "499", "501")})
    result = run(broker, make_plan(SPY_BUY))
    assert result.outcomes[0].filled_avg_price == D("500") and result.outcomes[0].slippage_bps == D("0.00")


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ((), "at least one step"),
        ((D("-0.1"), D("0.5")), "lie in [0, 1]"),
        ((D("0.5"), D("1.2")), "lie in [0, 1]"),
        ((D("NaN"),), "finite number"),
        ((D("0.75"), D("0.5")), "rise step by step"),
        ((D("0.5"), D("0.5")), "rise step by step"),
    ],
)
def test_walk_steps_outside_the_spread_are_refused(steps: tuple[D, ...], problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        ExecutionSettings(walk_steps=steps)


def test_walk_steps_inside_the_spread_are_kept() -> None:
    assert ExecutionSettings(walk_steps=(D(0), D("0.5"), D(1))).walk_steps == (D(0), D("0.5"), D(1))


# --- another run of the same session (the lock prevents it; the engine survives it) ---------


class RacingBroker(FakeBroker):
    """A broker where another run places `racing` right after this run listed its orders."""

    def __init__(self, racing: list[tuple[str, str, Side, str]], **kwargs: object) -> None:
        super().__init__(account(), **kwargs)  # type: ignore[arg-type]
        self.racing = racing

    def get_orders(self, **kwargs: object) -> list:  # type: ignore[override]
        listed = super().get_orders(**kwargs)  # type: ignore[arg-type]
        for coid_, symbol, side, qty in self.racing:
            self.add_order(coid_, symbol, side, qty, price="401", submitted_at=self.clock.timestamp)
        self.racing = []
        return listed


def test_a_duplicate_id_on_a_first_submit_adopts_the_order_another_run_placed() -> None:
    # The other run placed QQQ's step 1 and it filled; this run's submit of the same id is
    # refused as a duplicate. The order is looked up and adopted, and its fill counts.
    broker = RacingBroker([(coid("QQQ", "buy"), "QQQ", "buy", "3")], fill_mode="immediate")
    result = run(broker, make_plan(SPY_BUY, QQQ_BUY))
    assert broker.called("submit_order") == [coid("SPY", "buy"), coid("QQQ", "buy")]
    assert coid("QQQ", "buy") in broker.called("get_order_by_client_id")
    assert result.status == "SUCCESS"
    qqq = next(o for o in result.outcomes if o.symbol == "QQQ")
    assert (qqq.status, qqq.filled_qty, qqq.adopted, qqq.error_code) == ("filled", D(3), True, None)
    assert result.orders_placed == 1  # SPY only: QQQ was placed by the other run


def test_the_result_carries_every_order_of_ours_for_the_session_not_only_this_runs() -> None:
    # An order of ours for the session from another plan (placed by a run the lock did not
    # cover) is in the result's orders, so the ledger built from them records its fill.
    other = client_order_id(SESSION, EARLIER_PLAN_ID, "IWM", "buy", 1)
    broker = RacingBroker([(other, "IWM", "buy", "2")], fill_mode="immediate")
    result = run(broker, make_plan(SPY_BUY))
    assert {o.client_order_id for o in result.orders} == {coid("SPY", "buy"), other}
    assert next(o for o in result.orders if o.client_order_id == other).filled_qty == D(2)


def test_a_past_session_reports_its_orders_without_placing_any() -> None:
    broker = FakeBroker(account())
    broker.add_order(coid("SPY", "buy"), "SPY", "buy", "5", price="500", submitted_at=OPEN_CLOCK.timestamp)
    later = OPEN_CLOCK.model_copy(update={"timestamp": OPEN_CLOCK.timestamp + dt.timedelta(days=3)})
    broker.clock = later
    result = run(broker, make_plan(SPY_BUY))
    assert result.status == "PLAN_ONLY" and broker.called("submit_order") == []
    assert [o.client_order_id for o in result.orders] == [coid("SPY", "buy")]

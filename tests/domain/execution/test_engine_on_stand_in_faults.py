"""`execute_plan` on the real stand-in through alpaca-py, with faults, partial fills and the deadline.

No mocks: the engine talks HTTP to the stand-in (`SimulatorServer`) through `AlpacaBroker`, and
the injected sleep moves the stand-in's clock, so fills, cancels and the deadline happen in
simulated time. Every test ends with the ledger invariant: what our orders say they filled
(sum of filled_qty x filled_avg_price) is what the stand-in booked for the symbol (its position).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.domain.broker import OrderInfo, OrderRequest, Side
from alchemiser_dagster.domain.calendar import NEW_YORK
from alchemiser_dagster.domain.execution.engine import ExecutionSettings, execute_plan
from alchemiser_dagster.domain.execution.ids import client_order_id, session_prefix
from alchemiser_dagster.domain.portfolio.models import PlanItem, RebalancePlan

SESSION = dt.date(2024, 6, 28)  # a regular session: close 16:00 New York
PLAN_ID = "c0ffee00" + "1" * 56
CENT = Decimal("0.005")  # "to the cent": closer than half a cent
OPEN_STATUSES = {"new", "accepted", "pending_new", "partially_filled"}


# --- harness --------------------------------------------------------------------------------


@contextmanager
def stand_in(tmp_path: Path, at: dt.time) -> Iterator[tuple[SimulatorServer, AlpacaBroker]]:
    with SimulatorServer(tmp_path / "sim", now=session_time(SESSION, at)) as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        try:
            yield server, broker
        finally:
            broker.close()


def clock_sleep(server: SimulatorServer) -> Callable[[float], None]:
    """The injected sleep: the stand-in's clock stands in for the wall clock."""

    def sleep(seconds: float) -> None:
        server.set_clock(server.now() + dt.timedelta(seconds=seconds))

    return sleep


def plan_of(broker: AlpacaBroker, *wanted: tuple[str, Side, str]) -> RebalancePlan:
    """A plan trading (symbol, side, qty), priced at the stand-in's current mid."""
    quotes = broker.get_latest_quotes([symbol for symbol, _, _ in wanted])
    items = []
    for symbol, side, qty in wanted:
        mid = (quotes[symbol].bid + quotes[symbol].ask) / 2
        items.append(
            PlanItem(
                symbol=symbol,
                side=side,
                qty=Decimal(qty),
                est_price=mid,
                est_value=Decimal(qty) * mid,
                current_weight=Decimal(0),
                target_weight=Decimal("0.1"),
                reason="new" if side == "buy" else "exit",
            )
        )
    turnover = sum((i.est_value for i in items), Decimal(0))
    account_number = broker.get_account().account_number
    return RebalancePlan(
        plan_id=PLAN_ID,
        session=SESSION,
        account_number=account_number,
        items=tuple(items),
        skipped=(),
        turnover=turnover,
    )


def seed_position(server: SimulatorServer, broker: AlpacaBroker, symbol: str, qty: str) -> None:
    """Buy `qty` outside the plan (client id not ours) and let it fill (default: immediate)."""
    request = OrderRequest(client_order_id=f"seed-{symbol}", symbol=symbol, side="buy", qty=Decimal(qty))
    broker.submit_order(request)
    clock_sleep(server)(1)
    seeded = broker.get_order_by_client_id(f"seed-{symbol}")
    assert seeded is not None and seeded.status == "filled"


def all_orders(broker: AlpacaBroker) -> list[OrderInfo]:
    return broker.get_orders(status="all")


def ours(broker: AlpacaBroker, symbol: str | None = None) -> list[OrderInfo]:
    """Our orders (session prefix), by step: the step is the client id's last character."""
    found = [
        o
        for o in all_orders(broker)
        if o.client_order_id.startswith(session_prefix(SESSION)) and symbol in (None, o.symbol)
    ]
    return sorted(found, key=lambda o: o.client_order_id)


def assert_one_order_per_client_id_and_step(broker: AlpacaBroker) -> None:
    orders = all_orders(broker)
    per_id = Counter(o.client_order_id for o in orders)
    assert all(n == 1 for n in per_id.values()), per_id
    steps = Counter((o.symbol, o.client_order_id.rsplit("-", 1)[1]) for o in ours(broker))
    assert all(n == 1 for n in steps.values()), steps


def positions(server: SimulatorServer) -> dict[str, dict[str, str]]:
    """GET /v2/positions as the stand-in answers it (cost_basis is not in `PositionInfo`)."""
    headers = {"APCA-API-KEY-ID": server.api_key, "APCA-API-SECRET-KEY": server.secret_key}
    answer = requests.get(f"{server.base_url}/v2/positions", headers=headers, timeout=10)
    answer.raise_for_status()
    return {p["symbol"]: p for p in answer.json()}


def notional(orders: list[OrderInfo]) -> Decimal:
    return sum(
        (o.filled_qty * o.filled_avg_price for o in orders if o.filled_avg_price is not None), Decimal(0)
    )


def assert_ledger_matches_stand_in(
    server: SimulatorServer,
    broker: AlpacaBroker,
    symbol: str,
    *,
    seeded_qty: Decimal = Decimal(0),
    seeded_basis: Decimal = Decimal(0),
) -> None:
    """Our orders' fills for `symbol` are the stand-in's own: the position's qty and cost basis."""
    orders = ours(broker, symbol)
    bought = [o for o in orders if o.side == "buy"]
    sold = [o for o in orders if o.side == "sell"]
    filled_bought = sum((o.filled_qty for o in bought), Decimal(0))
    filled_sold = sum((o.filled_qty for o in sold), Decimal(0))
    position = positions(server).get(symbol)
    held = Decimal(position["qty"]) if position else Decimal(0)
    basis = Decimal(position["cost_basis"]) if position else Decimal(0)
    assert held == seeded_qty + filled_bought - filled_sold
    if not sold:  # a sale scales the basis down; buys add exactly their fills' value
        assert abs((basis - seeded_basis) - notional(bought)) < CENT, (basis, seeded_basis, notional(bought))


def basis_of(server: SimulatorServer, symbol: str) -> Decimal:
    return Decimal(positions(server)[symbol]["cost_basis"])


# --- ambiguous submits: commit, then 504 or a dropped connection ------------------------------


@pytest.mark.parametrize("then", ["504", "drop"])
@pytest.mark.parametrize(
    ("skip", "step"),
    [(0, 1), (1, 2)],  # QQQ buy: step 1 (mid) rests unfilled, step 2 (at the ask) fills
    ids=["resting-step", "filling-step"],
)
def test_committed_order_whose_answer_is_lost_is_found_by_client_id_not_placed_twice(
    tmp_path: Path, then: str, skip: int, step: int
) -> None:
    with stand_in(tmp_path, dt.time(15, 0)) as (server, broker):
        plan = plan_of(broker, ("QQQ", "buy", "10"))
        server.add_fault("POST", "/v2/orders", "commit_then_fail", then=then, skip=skip)

        result = execute_plan(broker, plan, settings=ExecutionSettings(), sleep=clock_sleep(server))

        (rule,) = server.faults()
        assert rule["applied"] == 1  # the fault really hit a submit
        faulted = client_order_id(SESSION, PLAN_ID, "QQQ", "buy", step)
        assert [o.client_order_id for o in all_orders(broker)].count(faulted) == 1
        assert_one_order_per_client_id_and_step(broker)
        (outcome,) = result.outcomes
        assert result.status == "SUCCESS"
        assert outcome.status == "filled" and outcome.filled_qty == Decimal(10)
        assert outcome.error is None and outcome.error_code is None
        placed = ours(broker)
        assert outcome.order_ids == tuple(o.id for o in placed)  # the adopted one included
        assert result.orders_placed == len(placed)
        assert_ledger_matches_stand_in(server, broker, "QQQ")


# --- partial fills: each step places what remains ---------------------------------------------


def test_partial_fills_walk_places_the_remaining_quantity_and_reports_the_true_vwap(
    tmp_path: Path,
) -> None:
    with stand_in(tmp_path, dt.time(15, 0)) as (server, broker):
        plan = plan_of(broker, ("TSLA", "buy", "10"))
        server.set_fill_rule("TSLA", "partial", "0.5")

        result = execute_plan(broker, plan, settings=ExecutionSettings(), sleep=clock_sleep(server))

        orders = ours(broker, "TSLA")
        (outcome,) = result.outcomes
        # every step of the walk ran, the last one at market, and fills came in parts
        assert [o.client_order_id[-2:] for o in orders] == ["b1", "b2", "b3", "b4"]
        assert [o.type for o in orders] == ["limit", "limit", "limit", "market"]
        assert any(Decimal(0) < o.filled_qty < (o.qty or 0) for o in orders)
        remaining = Decimal(10)
        for order in orders:  # each step asks for exactly what the earlier steps left
            assert order.qty == remaining, (order.client_order_id, order.qty, remaining)
            remaining -= order.filled_qty
        assert remaining == 0
        assert [o.status for o in orders] == ["canceled", "canceled", "canceled", "filled"]
        total = sum((o.filled_qty for o in orders), Decimal(0))
        assert total == outcome.filled_qty == outcome.requested_qty == Decimal(10)
        vwap = notional(orders) / total
        assert len({o.filled_avg_price for o in orders if o.filled_avg_price}) > 1  # a real average
        assert outcome.filled_avg_price is not None
        assert abs(outcome.filled_avg_price - vwap) <= Decimal("0.000001")
        assert outcome.status == "filled" and result.status == "SUCCESS"
        assert_one_order_per_client_id_and_step(broker)
        assert_ledger_matches_stand_in(server, broker, "TSLA")


def test_partial_fills_on_a_sell_walk_down_the_held_quantity(tmp_path: Path) -> None:
    with stand_in(tmp_path, dt.time(15, 0)) as (server, broker):
        seed_position(server, broker, "TSLA", "10")
        seeded = basis_of(server, "TSLA")
        plan = plan_of(broker, ("TSLA", "sell", "10"))
        server.set_fill_rule("TSLA", "partial", "0.5")

        result = execute_plan(broker, plan, settings=ExecutionSettings(), sleep=clock_sleep(server))

        orders = ours(broker, "TSLA")
        remaining = Decimal(10)
        for order in orders:
            assert order.qty == remaining, (order.client_order_id, order.qty, remaining)
            remaining -= order.filled_qty
        assert remaining == 0 and orders[-1].type == "market"
        (outcome,) = result.outcomes
        assert outcome.status == "filled" and outcome.filled_qty == Decimal(10)
        assert outcome.filled_avg_price is not None
        vwap = notional(orders) / outcome.filled_qty
        assert abs(outcome.filled_avg_price - vwap) <= Decimal("0.000001")
        assert "TSLA" not in positions(server)
        assert_ledger_matches_stand_in(server, broker, "TSLA", seeded_qty=Decimal(10), seeded_basis=seeded)


# --- the deadline -----------------------------------------------------------------------------


def test_nothing_is_placed_when_the_run_starts_past_the_deadline(tmp_path: Path) -> None:
    with stand_in(tmp_path, dt.time(15, 0)) as (server, broker):
        seed_position(server, broker, "XLK", "5")
        seeded = basis_of(server, "XLK")
        server.set_clock(session_time(SESSION, dt.time(15, 59)))  # close - 1 min, deadline close - 2
        for symbol in ("XLK", "QQQ"):
            server.set_fill_rule(symbol, "never")
        plan = plan_of(broker, ("XLK", "sell", "5"), ("QQQ", "buy", "10"))

        result = execute_plan(broker, plan, settings=ExecutionSettings(), sleep=clock_sleep(server))

        assert ours(broker) == []
        assert result.status == "FAILED" and result.orders_placed == 0
        assert [o.status for o in result.outcomes] == ["not_placed", "not_placed"]
        assert all(o.error is not None and "deadline" in o.error for o in result.outcomes)
        assert all(o.filled_qty == 0 and o.order_ids == () for o in result.outcomes)
        assert_ledger_matches_stand_in(server, broker, "XLK", seeded_qty=Decimal(5), seeded_basis=seeded)
        assert_ledger_matches_stand_in(server, broker, "QQQ")


@pytest.mark.parametrize(
    ("step_seconds", "poll_seconds"),
    [(120.0, 30.0), (90.0, 1.0)],
    # 120 s steps: the market order placed at 15:56 is still waiting when 15:58 comes.
    # 90 s steps: 15:50, 15:51:30, 15:53, market 15:54:30, then one-second polls to 15:58.
    ids=["deadline-while-waiting-on-market", "deadline-after-long-polling"],
)
def test_at_the_deadline_our_open_orders_are_canceled_and_a_manual_order_is_left_alone(
    tmp_path: Path, step_seconds: float, poll_seconds: float
) -> None:
    with stand_in(tmp_path, dt.time(15, 50)) as (server, broker):
        server.set_fill_rule("QQQ", "never")
        # Not ours, on the same symbol as ours: a limit at half the bid never fills.
        quote = broker.get_latest_quotes(["QQQ"])["QQQ"]
        far = (quote.bid / 2).quantize(Decimal("0.01"))
        manual = broker.submit_order(
            OrderRequest(
                client_order_id="manual-1",
                symbol="QQQ",
                side="buy",
                qty=Decimal(3),
                type="limit",
                limit_price=far,
            )
        )
        plan = plan_of(broker, ("QQQ", "buy", "10"))
        settings = ExecutionSettings(
            step_seconds=step_seconds, poll_seconds=poll_seconds, deadline_minutes_before_close=2
        )
        deadline = session_time(SESSION, dt.time(15, 58))

        result = execute_plan(broker, plan, settings=settings, sleep=clock_sleep(server))

        orders = ours(broker)
        assert [o.client_order_id[-2:] for o in orders] == ["b1", "b2", "b3", "b4"]
        assert all(o.status == "canceled" and o.filled_qty == 0 for o in orders)
        assert not [o for o in all_orders(broker) if o.status in OPEN_STATUSES and o.id != manual.id]
        assert server.now() >= deadline  # the walk's own waits brought the clock there
        after = broker.get_order_by_client_id("manual-1")
        assert after is not None and after.id == manual.id and after.status in OPEN_STATUSES
        (outcome,) = result.outcomes
        assert result.status == "FAILED" and outcome.filled_qty == 0
        assert outcome.error is not None and "deadline" in outcome.error
        assert after.filled_qty == 0
        assert_ledger_matches_stand_in(server, broker, "QQQ")


def test_open_orders_are_canceled_no_later_than_the_deadline(tmp_path: Path) -> None:
    # 180 s steps from 15:50: 15:50, 15:53, 15:56 - that step's wait ends at 15:59, past 15:58.
    with stand_in(tmp_path, dt.time(15, 50)) as (server, broker):
        server.set_fill_rule("QQQ", "never")
        plan = plan_of(broker, ("QQQ", "buy", "10"))
        settings = ExecutionSettings(step_seconds=180, deadline_minutes_before_close=2)

        execute_plan(broker, plan, settings=settings, sleep=clock_sleep(server))

        deadline = session_time(SESSION, dt.time(15, 58))
        orders = ours(broker)
        assert orders and all(o.status == "canceled" for o in orders)
        last_cancel = max(o.updated_at for o in orders if o.updated_at is not None)
        assert last_cancel.astimezone(NEW_YORK) <= deadline, last_cancel.astimezone(NEW_YORK)


# --- orders the broker rejects after accepting them; Alpaca paper's fill model -----------------


def test_orders_rejected_after_acceptance_leave_the_item_failed_and_nothing_filled(tmp_path: Path) -> None:
    with stand_in(tmp_path, dt.time(15, 0)) as (server, broker):
        plan = plan_of(broker, ("TSLA", "buy", "10"), ("QQQ", "buy", "5"))
        server.set_fill_rule("TSLA", "reject")

        result = execute_plan(broker, plan, settings=ExecutionSettings(), sleep=clock_sleep(server))

        rejected = ours(broker, "TSLA")
        assert rejected and all(o.status == "rejected" and o.filled_qty == 0 for o in rejected)
        outcomes = {o.symbol: o for o in result.outcomes}
        assert outcomes["TSLA"].filled_qty == 0 and outcomes["TSLA"].status != "filled"
        assert outcomes["QQQ"].status == "filled" and outcomes["QQQ"].filled_qty == Decimal(5)
        assert result.status in ("PARTIAL", "FAILED")
        assert "TSLA" not in positions(server)
        assert_one_order_per_client_id_and_step(broker)
        assert_ledger_matches_stand_in(server, broker, "QQQ")


def test_a_plan_fills_under_alpaca_papers_fill_model(tmp_path: Path) -> None:
    with stand_in(tmp_path, dt.time(15, 0)) as (server, broker):
        plan = plan_of(broker, ("TSLA", "buy", "10"), ("QQQ", "buy", "7"), ("XLK", "buy", "3"))
        server.set_fill_rule("*", "paper_like")

        result = execute_plan(broker, plan, settings=ExecutionSettings(), sleep=clock_sleep(server))

        assert result.status == "SUCCESS"
        assert {o.symbol: o.filled_qty for o in result.outcomes} == {
            "TSLA": Decimal(10), "QQQ": Decimal(7), "XLK": Decimal(3)
        }  # fmt: skip
        assert_one_order_per_client_id_and_step(broker)
        for symbol in ("TSLA", "QQQ", "XLK"):
            assert_ledger_matches_stand_in(server, broker, symbol)

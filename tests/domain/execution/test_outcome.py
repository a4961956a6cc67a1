"""Every execution status has its outcome word; re-quotes are the orders beyond one per item."""

import datetime as dt
from decimal import Decimal
from typing import get_args

from alchemiser_dagster.domain.execution.models import ExecutionResult, ExecutionStatus, OrderOutcome
from alchemiser_dagster.domain.execution.outcome import (
    Outcome,
    limit_requotes,
    orders_line,
    outcome_of,
    run_outcome,
)


def test_every_status_maps_to_an_outcome() -> None:
    mapped = {status: outcome_of(status) for status in get_args(ExecutionStatus)}
    assert mapped == {
        "SUCCESS": "TRADED",
        "PARTIAL": "PARTIAL",
        "FAILED": "FAILED",
        "PLAN_ONLY": "PLAN_ONLY",
        "HALTED": "HALTED",
    }
    assert set(mapped.values()) | {"ADOPTED", "IN_BALANCE"} == set(get_args(Outcome))


def _outcome(symbol: str, order_ids: tuple[str, ...], adopted: bool = False) -> OrderOutcome:
    return OrderOutcome(
        symbol=symbol,
        side="buy",
        requested_qty=Decimal(10),
        filled_qty=Decimal(10) if order_ids else Decimal(0),
        filled_avg_price=Decimal(100) if order_ids else None,
        arrival_price=Decimal(100),
        slippage_bps=None,
        client_order_id="",
        order_id=order_ids[-1] if order_ids else None,
        order_ids=order_ids,
        status="filled" if order_ids else "not_placed",
        adopted=adopted,
    )


def _result(outcomes: list[OrderOutcome], placed: int) -> ExecutionResult:
    at = dt.datetime(2024, 6, 28, 14, tzinfo=dt.UTC)
    return ExecutionResult(
        session=dt.date(2024, 6, 28),
        plan_id="p" * 16,
        account_number="A1",
        status="SUCCESS",
        reason="",
        outcomes=tuple(outcomes),
        orders_placed=placed,
        orders_adopted=sum(1 for o in outcomes if o.adopted),
        started_at=at,
        finished_at=at,
    )


def test_requotes_are_the_orders_beyond_one_per_item() -> None:
    # SPY walked three limits, QQQ filled on its first, TLT two: 6 orders for 3 items.
    walked = _result(
        [_outcome("SPY", ("1", "2", "3")), _outcome("QQQ", ("4",)), _outcome("TLT", ("5", "6"))], placed=6
    )
    assert limit_requotes(walked) == 3
    assert orders_line(walked) == "3 items, 6 broker orders (3 limit re-quotes)"


def test_an_adopted_item_s_new_orders_are_requotes_and_unplaced_items_count_none() -> None:
    # GLD was adopted from an earlier run and re-quoted once by this one; XLE was not placed.
    resumed = _result(
        [_outcome("GLD", ("a", "b"), adopted=True), _outcome("XLE", ()), _outcome("SPY", ("c",))], placed=2
    )
    assert limit_requotes(resumed) == 1
    assert orders_line(resumed) == "3 items, 2 broker orders (1 limit re-quote), 1 adopted"
    nothing = _result([], placed=0)
    assert orders_line(nothing) == "0 items, 0 broker orders (0 limit re-quotes)"


def test_a_success_that_placed_no_order_says_why_instead_of_traded() -> None:
    assert run_outcome(_result([_outcome("SPY", ("1",))], placed=1)) == "TRADED"
    assert run_outcome(_result([_outcome("SPY", ("1",), adopted=True)], placed=0)) == "ADOPTED"
    assert run_outcome(_result([], placed=0)) == "IN_BALANCE"
    # A rerun that adopted one item and placed another order still traded.
    assert (
        run_outcome(_result([_outcome("SPY", ("1",), adopted=True), _outcome("QQQ", ("2",))], placed=1))
        == "TRADED"
    )


def test_a_run_that_did_not_succeed_keeps_its_status_word_even_without_orders() -> None:
    failed = _result([], placed=0).model_copy(update={"status": "FAILED"})
    assert run_outcome(failed) == "FAILED"

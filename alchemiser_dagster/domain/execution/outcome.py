"""A run's outcome at a glance: one word per execution status, for run tags and `status`.

SUCCESS reads as TRADED so a trading day and a plan-only day no longer look alike
(Dagster calls both runs a success). A successful run that placed no order says why
instead: IN_BALANCE (nothing to trade) or ADOPTED (a rerun that found every order
already placed by an earlier run of the session), so a rerun never claims a trade.
"""

from decimal import Decimal
from typing import Final, Literal

from alchemiser_dagster.domain.constants import CENT
from alchemiser_dagster.domain.execution.models import ExecutionResult, ExecutionStatus
from alchemiser_dagster.domain.portfolio.models import RebalancePlan

Outcome = Literal["TRADED", "ADOPTED", "IN_BALANCE", "PLAN_ONLY", "HALTED", "PARTIAL", "FAILED"]

OUTCOME_TAG: Final = "alchemiser/outcome"
ORDERS_TAG: Final = "alchemiser/orders"
ITEMS_TAG: Final = "alchemiser/items"
NOTIONAL_TAG: Final = "alchemiser/notional"  # US dollars, to the cent

_OUTCOMES: Final[dict[ExecutionStatus, Outcome]] = {
    "SUCCESS": "TRADED",
    "PLAN_ONLY": "PLAN_ONLY",
    "HALTED": "HALTED",
    "PARTIAL": "PARTIAL",
    "FAILED": "FAILED",
}


def outcome_of(status: ExecutionStatus) -> Outcome:
    """The outcome word for an execution status (every status has one)."""
    return _OUTCOMES[status]


def run_outcome(result: ExecutionResult) -> Outcome:
    """The run's word: its status's, except a success that placed no order says why."""
    if result.status == "SUCCESS" and result.orders_placed == 0:
        return "ADOPTED" if result.orders_adopted else "IN_BALANCE"
    return outcome_of(result.status)


def traded_notional(result: ExecutionResult) -> Decimal:
    """Dollars filled in the session by every order of ours (the fill ledger's notional sum:
    each order's filled quantity x average price, to the cent)."""
    return sum(
        (
            (o.filled_qty * o.filled_avg_price).quantize(CENT)
            for o in result.orders
            if o.filled_qty > 0 and o.filled_avg_price is not None
        ),
        Decimal(0),
    )


def run_tags(result: ExecutionResult, plan: RebalancePlan) -> dict[str, str]:
    """The tags a daily run carries once it executed: read by the Runs list and `status`.

    Items are the run's plan items (also on a plan-only day); orders are the broker orders
    this run placed; notional is the session's traded dollars.
    """
    return {
        OUTCOME_TAG: run_outcome(result),
        ORDERS_TAG: str(result.orders_placed),
        ITEMS_TAG: str(len(plan.items)),
        NOTIONAL_TAG: str(traded_notional(result).quantize(CENT)),
    }


def limit_requotes(result: ExecutionResult) -> int:
    """Broker orders this run placed beyond the first one per item.

    The walk places a limit order, cancels it when it does not fill and re-quotes at a
    new price, so one plan item can take several broker orders. An item's first order
    is its first order of this run, unless the item was adopted from an earlier run: then
    every order this run placed for it replaced the adopted one and counts as a re-quote.
    So: re-quotes = orders placed by this run - items not adopted that got an order.
    """
    first_orders = sum(1 for o in result.outcomes if not o.adopted and o.order_ids)
    return max(result.orders_placed - first_orders, 0)


def orders_line(result: ExecutionResult) -> str:
    """'3 items, 7 broker orders (4 limit re-quotes)', plus the adopted count when any."""
    line = (
        f"{_count(len(result.outcomes), 'item')}, {_count(result.orders_placed, 'broker order')}"
        f" ({_count(limit_requotes(result), 'limit re-quote')})"
    )
    return f"{line}, {result.orders_adopted} adopted" if result.orders_adopted else line


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"

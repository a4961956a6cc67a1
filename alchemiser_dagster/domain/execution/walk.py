"""Walk the book for one phase (all SELLs, or all BUYs) of a plan.

Every item still to trade gets a limit order at step r (0.50, 0.75, 0.95 of the spread
given up); after `step_seconds` whatever has not filled is canceled, the quotes are read
again and the next step is placed for the remaining quantity; a market order takes what
is left. All items of a phase step together, so a phase takes four waits, not four per
item. Orders carry the step in their client_order_id, so a rerun adopts what an
interrupted run already placed instead of placing it again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from alchemiser_dagster.domain.broker import Broker, OrderInfo, OrderRequest, QuoteInfo
from alchemiser_dagster.domain.errors import (
    AmbiguousSubmit,
    BrokerNotFound,
    DuplicateClientOrderId,
    OrderRejected,
)
from alchemiser_dagster.domain.execution.ids import client_order_id
from alchemiser_dagster.domain.execution.pricing import step_limit_price, usable
from alchemiser_dagster.domain.portfolio.models import PlanItem, RebalancePlan
from alchemiser_dagster.domain.risk.killswitch import KillState, allows

# Every order placed, rejected or canceled is logged; inside a run Dagster captures these
# lines (managed python logger "alchemiser") with the run's correlation id.
log = logging.getLogger("alchemiser.execution")


class Halted(Exception):
    """The kill switch went to HALTED (internal control flow of the engine)."""


@dataclass
class ItemWork:
    """One plan item during execution: what it should trade and every order placed for it."""

    item: PlanItem
    qty: Decimal
    orders: dict[str, OrderInfo] = field(default_factory=dict)
    placed: set[str] = field(default_factory=set)  # client ids this run placed (not adopted)
    adopted: bool = False
    error_code: int | None = None
    error: str | None = None

    @property
    def filled(self) -> Decimal:
        return sum((o.filled_qty for o in self.orders.values()), Decimal(0))

    @property
    def remaining(self) -> Decimal:
        return max(self.qty - self.filled, Decimal(0))

    @property
    def open_orders(self) -> list[OrderInfo]:
        return [o for o in self.orders.values() if not o.is_terminal]

    @property
    def done(self) -> bool:
        return self.error is not None or self.remaining == 0


@dataclass(frozen=True)
class WalkContext:
    broker: Broker
    plan: RebalancePlan
    steps: tuple[Decimal, ...]
    step_seconds: float
    poll_seconds: float
    max_polls: int
    deadline: dt.datetime
    sleep: Callable[[float], None]
    kill_switch: Callable[[], KillState]


def walk_phase(ctx: WalkContext, phase: list[ItemWork]) -> None:
    """Limit steps, then a market step, for every unfinished item of the phase."""
    for number, r in enumerate((*ctx.steps, None), start=1):
        active = [w for w in phase if not w.done]
        if not active:
            return
        now = ctx.broker.get_clock().timestamp
        if now >= ctx.deadline:
            # Past the hard deadline nothing more is placed: BUYs in particular would not be
            # backed by the cash of SELLs the deadline canceled.
            for work in active:
                if not work.orders:
                    work.error = f"not placed: past the deadline {ctx.deadline.isoformat()}"
            cancel_open(ctx.broker, phase, "deadline reached; remaining quantity canceled")
            return
        quotes = (
            ctx.broker.get_latest_quotes(sorted({w.item.symbol for w in active})) if r is not None else {}
        )
        for work in active:
            _place_step(ctx, work, number, r, quotes.get(work.item.symbol))
        if r is None:
            wait_until_terminal(ctx, phase)
            return
        ctx.sleep(_bounded(ctx.step_seconds, now, ctx.deadline))  # the deadline is hard
        if ctx.kill_switch() == "HALTED":
            raise Halted
        # Cancel whatever is still open without reading it first: a cancel refused because
        # the order just filled is expected, and the read after it records how it ended.
        cancel_open(ctx.broker, phase, None)


def _bounded(seconds: float, now: dt.datetime, deadline: dt.datetime) -> float:
    """A wait that ends at the deadline at the latest."""
    return max(0.0, min(seconds, (deadline - now).total_seconds()))


def _place_step(
    ctx: WalkContext, work: ItemWork, number: int, r: Decimal | None, quote: QuoteInfo | None
) -> None:
    item = work.item
    coid = client_order_id(ctx.plan.session, ctx.plan.plan_id, item.symbol, item.side, number)
    if coid in work.orders or work.open_orders:
        return  # placed by an interrupted run (adopted), or an earlier step is still working
    state = ctx.kill_switch()
    if state == "HALTED":
        raise Halted
    if not allows(state, item.side):
        work.error = f"not placed: kill switch {state}: sells only"
        return
    if r is not None and not usable(quote):
        return  # no two-sided quote to price a limit from: the market step takes it
    request = OrderRequest(
        client_order_id=coid,
        symbol=item.symbol,
        side=item.side,
        qty=work.remaining,
        type="market" if r is None else "limit",
        limit_price=None if r is None or quote is None else step_limit_price(quote, item.side, r),
    )
    try:
        order, adopted = submit_idempotent(ctx.broker, request)
    except OrderRejected as rejected:
        work.error_code, work.error = rejected.code, str(rejected)
        log.warning("rejected %s %s %s (%s): %s", item.side, request.qty, item.symbol, coid, rejected)
        return
    work.orders[coid] = order
    if adopted:
        # Another attempt (possibly another process) placed this very step: it is ours,
        # and what it fills counts for the item; this run did not place it.
        work.adopted = True
        log.warning("adopted %s: already at the broker (%s, filled %s)", coid, order.status, order.filled_qty)
        return
    work.placed.add(coid)
    price = f"limit {request.limit_price}" if request.limit_price is not None else "market"
    log.info("placed %s %s %s %s (%s)", item.side, request.qty, item.symbol, price, coid)


def submit_idempotent(broker: Broker, request: OrderRequest) -> tuple[OrderInfo, bool]:
    """Submit once; returns the order and whether someone else had placed it (adopted).

    A duplicate-id reject on the first submit means the order already exists (an earlier
    or concurrent run placed this very step): it is looked up and adopted. After an
    ambiguous failure the id is looked up and resent only if absent; a duplicate reject
    of that resend means our first attempt did land. Only when the lookup finds nothing
    is the reject raised.
    """
    try:
        return broker.submit_order(request), False
    except DuplicateClientOrderId as duplicate:
        return _look_up(broker, duplicate), True
    except AmbiguousSubmit:
        found = broker.get_order_by_client_id(request.client_order_id)
        if found is not None:
            return found, False
    try:
        return broker.submit_order(request), False
    except DuplicateClientOrderId as duplicate:
        return _look_up(broker, duplicate), False


def _look_up(broker: Broker, duplicate: DuplicateClientOrderId) -> OrderInfo:
    found = broker.get_order_by_client_id(duplicate.client_order_id)
    if found is None:
        raise duplicate
    return found


def refresh(broker: Broker, phase: list[ItemWork]) -> None:
    for work in phase:
        for coid, order in list(work.orders.items()):
            if not order.is_terminal:
                latest = broker.get_order_by_client_id(coid)
                if latest is not None:
                    work.orders[coid] = latest


def cancel_open(broker: Broker, phase: list[ItemWork], why: str | None) -> None:
    """Cancel every open order of ours in the phase and record what each ended with."""
    for work in phase:
        for coid, order in list(work.orders.items()):
            if order.is_terminal:
                continue
            # A cancel refused because the order just became terminal (filled) is expected;
            # the re-read below records how it actually ended.
            with contextlib.suppress(OrderRejected, BrokerNotFound):
                broker.cancel_order(order.id)
            latest = broker.get_order_by_client_id(coid)
            work.orders[coid] = latest if latest is not None else order
            ended = work.orders[coid]
            log.info("canceled %s: %s, filled %s of %s", coid, ended.status, ended.filled_qty, ended.qty)
        if why is not None and not work.done:
            work.error = why


def wait_until_terminal(ctx: WalkContext, phase: list[ItemWork]) -> None:
    """Poll until every order is terminal; at the deadline or poll budget, cancel ours."""
    for _ in range(ctx.max_polls):
        if ctx.kill_switch() == "HALTED":
            raise Halted
        refresh(ctx.broker, phase)
        if not any(w.open_orders for w in phase):
            return
        now = ctx.broker.get_clock().timestamp
        if now >= ctx.deadline:
            break
        ctx.sleep(_bounded(ctx.poll_seconds, now, ctx.deadline))
    cancel_open(ctx.broker, phase, "deadline reached; remaining quantity canceled")

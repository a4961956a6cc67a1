"""Execute a plan with market orders: idempotent, adopt-before-place, SELLs before BUYs.

This is the first execution engine (the walk-the-book engine replaces the order type
later, not these rules):
- every order carries a deterministic client_order_id, so a rerun finds its own orders
  and adopts them instead of placing new ones; an order of ours for the same symbol
  that is still working (from an earlier plan of the day) is adopted too;
- an ambiguous submit (timeout, dropped connection, 5xx) is looked up by
  client_order_id before anything else, and resent with the same id only when absent;
- business rejects are recorded with their code, never retried;
- the SELL phase is terminal before any BUY is sent;
- polling is bounded: at the deadline (or after `max_polls`) our open orders are
  canceled and the rest reported unfilled.
The clock and the sleep are injected so tests and the simulator never wait.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from alchemiser_dagster.domain.broker import Broker, OrderInfo, OrderRequest
from alchemiser_dagster.domain.errors import AmbiguousSubmit, OrderRejected
from alchemiser_dagster.domain.execution.guard import trading_refusal
from alchemiser_dagster.domain.execution.ids import client_order_id, plan_prefix_for, session_prefix
from alchemiser_dagster.domain.execution.models import ExecutionResult, ExecutionStatus, OrderOutcome
from alchemiser_dagster.domain.portfolio.models import PlanItem, RebalancePlan
from alchemiser_dagster.domain.risk.killswitch import KillState, allows

MARKET_STEP = 1
BPS = Decimal(10000)


class ExecutionSettings(BaseModel):
    """How execution waits: poll interval, poll budget, hard deadline before the close."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    poll_seconds: float = Field(default=1.0, ge=0)
    max_polls: int = Field(default=600, ge=1)
    deadline_minutes_before_close: float = Field(default=2.0, ge=0)

    @property
    def deadline_before_close(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.deadline_minutes_before_close)


@dataclass
class _Tracked:
    item: PlanItem
    client_order_id: str
    order: OrderInfo | None
    adopted: bool
    error_code: int | None = None
    error: str | None = None


def always_active() -> KillState:
    return "ACTIVE"


class _Halted(Exception):
    """The kill switch went to HALTED during the run (internal control flow only)."""


def execute_plan(
    broker: Broker,
    plan: RebalancePlan,
    *,
    settings: ExecutionSettings,
    sleep: Callable[[float], None],
    kill_switch: Callable[[], KillState] = always_active,
) -> ExecutionResult:
    """Place (or adopt) one market order per plan item; returns what happened to each.

    The kill switch is read before every order and on every poll: HALTED stops the run,
    cancels our open orders for the session and places nothing more; REDUCING lets only
    SELLs through.
    """
    clock = broker.get_clock()
    started = clock.timestamp
    refusal = trading_refusal(plan.session, clock)
    if refusal is not None:
        return _result(plan, "PLAN_ONLY", refusal, [], started, started)
    deadline = clock.next_close - settings.deadline_before_close
    ours = _our_orders(broker, plan.session)
    tracked: list[_Tracked] = []
    try:
        if kill_switch() == "HALTED":
            raise _Halted
        earlier = [
            o
            for o in ours.values()
            if not o.client_order_id.startswith(plan_prefix_for(plan.session, plan.plan_id))
        ]
        if earlier:
            return _finish_earlier_execution(
                broker, plan, earlier, deadline, settings, sleep, started, kill_switch
            )
        for side in ("sell", "buy"):
            items = [item for item in plan.items if item.side == side]
            if items and broker.get_clock().timestamp >= deadline:
                # Past the hard deadline nothing more is placed: BUYs in particular would not
                # be backed by the cash of SELLs that the deadline canceled.
                tracked.extend(
                    _unplaced(plan, item, ours, f"past the deadline {deadline.isoformat()}") for item in items
                )
                continue
            phase: list[_Tracked] = []
            for item in items:
                state = kill_switch()
                if state == "HALTED":
                    tracked.extend(phase)
                    raise _Halted
                if allows(state, item.side):
                    phase.append(_place(broker, plan, item, ours))
                else:
                    phase.append(_unplaced(plan, item, ours, f"kill switch {state}: sells only"))
            tracked.extend(phase)
            _wait_until_terminal(broker, phase, deadline, settings, sleep, kill_switch)
    except _Halted:
        return _halt(broker, plan, ours, tracked, started)
    finished = broker.get_clock().timestamp
    outcomes = [_outcome(t) for t in tracked]
    status, reason = _status(outcomes)
    return _result(plan, status, reason, outcomes, started, finished)


def _halt(
    broker: Broker,
    plan: RebalancePlan,
    ours: dict[str, OrderInfo],
    tracked: list[_Tracked],
    started: dt.datetime,
) -> ExecutionResult:
    """HALTED: cancel every open order of ours for the session and report the rest unplaced."""
    open_orders = {o.id: o for o in ours.values() if not o.is_terminal}
    open_orders.update(
        {t.order.id: t.order for t in tracked if t.order is not None and not t.order.is_terminal}
    )
    for order in open_orders.values():
        broker.cancel_order(order.id)
    for entry in tracked:
        if entry.order is not None and entry.order.id in open_orders:
            refreshed = broker.get_order_by_client_id(entry.client_order_id)
            entry.order = refreshed if refreshed is not None else entry.order
    done = {t.item.symbol + t.item.side for t in tracked}
    rest = [
        _unplaced(plan, item, {}, "kill switch HALTED")
        for item in plan.items
        if item.symbol + item.side not in done
    ]
    outcomes = [_outcome(t) for t in [*tracked, *rest]]
    reason = f"kill switch HALTED: placed nothing more and canceled {len(open_orders)} open orders of ours"
    return _result(plan, "HALTED", reason, outcomes, started, broker.get_clock().timestamp)


def _our_orders(broker: Broker, session: dt.date) -> dict[str, OrderInfo]:
    prefix = session_prefix(session)
    after = dt.datetime.combine(session - dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return {
        o.client_order_id: o
        for o in broker.get_orders(status="all", after=after)
        if o.client_order_id.startswith(prefix)
    }


def _place(broker: Broker, plan: RebalancePlan, item: PlanItem, ours: dict[str, OrderInfo]) -> _Tracked:
    coid = client_order_id(plan.session, plan.plan_id, item.symbol, item.side, MARKET_STEP)
    if coid in ours:  # this plan's order from an interrupted run: adopt, never re-place
        return _Tracked(item, coid, ours[coid], adopted=True)
    request = OrderRequest(client_order_id=coid, symbol=item.symbol, side=item.side, qty=item.qty)
    try:
        return _Tracked(item, coid, _submit_idempotent(broker, request), adopted=False)
    except OrderRejected as rejected:
        return _Tracked(item, coid, None, adopted=False, error_code=rejected.code, error=str(rejected))


def _unplaced(plan: RebalancePlan, item: PlanItem, ours: dict[str, OrderInfo], why: str) -> _Tracked:
    coid = client_order_id(plan.session, plan.plan_id, item.symbol, item.side, MARKET_STEP)
    if coid in ours:  # placed by an interrupted run: still ours to report, never re-placed
        return _Tracked(item, coid, ours[coid], adopted=True)
    return _Tracked(item, coid, None, adopted=False, error=f"not placed: {why}")


def _finish_earlier_execution(
    broker: Broker,
    plan: RebalancePlan,
    earlier: list[OrderInfo],
    deadline: dt.datetime,
    settings: ExecutionSettings,
    sleep: Callable[[float], None],
    started: dt.datetime,
    kill_switch: Callable[[], KillState],
) -> ExecutionResult:
    """The session was already executed by another plan: adopt its orders, place nothing.

    A rerun recomputes the plan from the account after the first run's fills, so its
    plan differs; trading it would rebalance twice in one session (and chase the
    spread the first run paid). One execution per session is the rule.
    """
    tracked = [_Tracked(_item_of(order), order.client_order_id, order, adopted=True) for order in earlier]
    _wait_until_terminal(broker, tracked, deadline, settings, sleep, kill_switch)
    outcomes = [_outcome(t) for t in tracked]
    status, summary = _status(outcomes)
    plans = sorted({o.client_order_id.split("-")[2] for o in earlier})
    reason = (
        f"session {plan.session} was already executed by plan {', '.join(plans)}; "
        f"adopted its {len(earlier)} orders and placed none ({summary})"
    )
    return _result(plan, status, reason, outcomes, started, broker.get_clock().timestamp)


def _item_of(order: OrderInfo) -> PlanItem:
    """A plan item reconstructed from an adopted order (its arrival price is unknown)."""
    qty = order.qty if order.qty is not None else order.filled_qty
    return PlanItem(
        symbol=order.symbol,
        side=order.side,
        qty=qty,
        est_price=Decimal(0),
        est_value=Decimal(0),
        current_weight=Decimal(0),
        target_weight=Decimal(0),
        reason="increase" if order.side == "buy" else "reduce",
    )


def _submit_idempotent(broker: Broker, request: OrderRequest) -> OrderInfo:
    """Submit once; on an ambiguous failure look the id up, and resend only if absent."""
    try:
        return broker.submit_order(request)
    except AmbiguousSubmit:
        found = broker.get_order_by_client_id(request.client_order_id)
        if found is not None:
            return found
        return broker.submit_order(request)


def _wait_until_terminal(
    broker: Broker,
    tracked: list[_Tracked],
    deadline: dt.datetime,
    settings: ExecutionSettings,
    sleep: Callable[[float], None],
    kill_switch: Callable[[], KillState],
) -> None:
    for _ in range(settings.max_polls):
        if kill_switch() == "HALTED":
            raise _Halted
        pending = [t for t in tracked if t.order is not None and not t.order.is_terminal]
        if not pending:
            return
        for entry in pending:
            refreshed = broker.get_order_by_client_id(entry.client_order_id)
            entry.order = refreshed if refreshed is not None else entry.order
        if all(t.order is None or t.order.is_terminal for t in tracked):
            return
        if broker.get_clock().timestamp >= deadline:
            break
        sleep(settings.poll_seconds)
    for entry in tracked:  # deadline or poll budget reached: cancel what is ours and still open
        if entry.order is not None and not entry.order.is_terminal:
            broker.cancel_order(entry.order.id)
            refreshed = broker.get_order_by_client_id(entry.client_order_id)
            entry.order = refreshed if refreshed is not None else entry.order
            entry.error = "deadline reached; remaining quantity canceled"


def _outcome(entry: _Tracked) -> OrderOutcome:
    item, order = entry.item, entry.order
    filled = order.filled_qty if order is not None else Decimal(0)
    price = order.filled_avg_price if order is not None and filled > 0 else None
    slippage = None
    if price is not None and item.est_price > 0:  # adopted earlier orders have no arrival price
        signed = price - item.est_price if item.side == "buy" else item.est_price - price
        slippage = (signed / item.est_price * BPS).quantize(Decimal("0.01"))
    return OrderOutcome(
        symbol=item.symbol,
        side=item.side,
        requested_qty=item.qty,
        filled_qty=filled,
        filled_avg_price=price,
        arrival_price=item.est_price,
        slippage_bps=slippage,
        client_order_id=entry.client_order_id,
        order_id=order.id if order is not None else None,
        status=order.status
        if order is not None
        else ("rejected" if entry.error_code is not None else "not_placed"),
        adopted=entry.adopted,
        error_code=entry.error_code,
        error=entry.error,
    )


def _status(outcomes: list[OrderOutcome]) -> tuple[ExecutionStatus, str]:
    if not outcomes:
        return "SUCCESS", "nothing to trade"
    complete = [o for o in outcomes if o.filled_qty >= o.requested_qty]
    touched = [o for o in outcomes if o.filled_qty > 0]
    if len(complete) == len(outcomes):
        return "SUCCESS", f"{len(outcomes)} orders filled"
    if touched:
        return "PARTIAL", f"{len(complete)} of {len(outcomes)} orders filled completely"
    return "FAILED", f"none of {len(outcomes)} orders filled"


def _result(
    plan: RebalancePlan,
    status: ExecutionStatus,
    reason: str,
    outcomes: list[OrderOutcome],
    started: dt.datetime,
    finished: dt.datetime,
) -> ExecutionResult:
    return ExecutionResult(
        session=plan.session,
        plan_id=plan.plan_id,
        account_number=plan.account_number,
        status=status,
        reason=reason,
        outcomes=tuple(outcomes),
        orders_placed=sum(1 for o in outcomes if not o.adopted and o.order_id is not None),
        orders_adopted=sum(1 for o in outcomes if o.adopted),
        started_at=started,
        finished_at=finished,
    )

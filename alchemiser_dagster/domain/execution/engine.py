"""Execute a rebalance plan: guard, kill switch, journal, SELLs then BUYs, walking the book.

The rules (portfolio-execution spec, "Execution"):
- orders only for the broker's current session while the market is open (the guard);
- the plan is journaled before its first order; a rerun of the session finishes the
  journaled plan (adopting every order it placed, by deterministic client_order_id)
  instead of planning again from an account the first run already changed;
- the SELL phase ends (every order terminal) before the BUYs are sized, on the cash the
  account actually has then; BUYs shrink pro rata when it is short;
- the kill switch is read before every order and at every wait: HALTED cancels our
  open orders and stops, REDUCING places SELLs only;
- nothing is placed past the hard deadline (close minus a few minutes).
Clock and sleep are injected, so tests and the stand-in never wait in real time.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from pydantic import ConfigDict, Field, field_validator

from alchemiser_dagster.domain.broker import Broker, OrderInfo
from alchemiser_dagster.domain.constants import MIN_ORDER_USD
from alchemiser_dagster.domain.execution.guard import trading_refusal
from alchemiser_dagster.domain.execution.ids import plan_prefix_for, session_prefix
from alchemiser_dagster.domain.execution.models import ExecutionResult, ExecutionStatus, OrderOutcome
from alchemiser_dagster.domain.execution.pricing import WALK_STEPS, tradable_qty
from alchemiser_dagster.domain.execution.walk import (
    Halted,
    ItemWork,
    WalkContext,
    cancel_open,
    wait_until_terminal,
    walk_phase,
)
from alchemiser_dagster.domain.model import FrozenModel
from alchemiser_dagster.domain.portfolio.models import PlanItem, RebalancePlan
from alchemiser_dagster.domain.risk.killswitch import KillState

BPS = Decimal(10000)


class ExecutionSettings(FrozenModel):
    """How execution walks and waits (spec defaults: 10 s per step, deadline 2 min before close)."""

    model_config = ConfigDict(strict=False)  # parsed from user text: coercion wanted

    step_seconds: float = Field(default=10.0, ge=0)
    walk_steps: tuple[Decimal, ...] = WALK_STEPS
    poll_seconds: float = Field(default=1.0, ge=0)
    max_polls: int = Field(default=600, ge=1)
    deadline_minutes_before_close: float = Field(default=2.0, ge=0)
    # The execution lock of an (account, session): how long a second run waits for the
    # holder before it stops, and after how long without a heartbeat a holder on another
    # host counts as crashed (a dead holder on the same host is taken over at once).
    lock_wait_seconds: float = Field(default=900.0, ge=0)
    lock_stale_seconds: float = Field(default=120.0, gt=0)

    @field_validator("walk_steps")
    @classmethod
    def _inside_the_spread(cls, steps: tuple[Decimal, ...]) -> tuple[Decimal, ...]:
        """Each step is the share of the spread given up: 0 (own side) to 1 (far side), rising."""
        if not steps:
            raise ValueError("walk_steps must hold at least one step (e.g. [0.5, 0.75, 0.95])")
        outside = [str(r) for r in steps if not (r.is_finite() and 0 <= r <= 1)]
        if outside:
            raise ValueError(
                f"walk_steps must each lie in [0, 1] (a share of the spread), got {', '.join(outside)}"
            )
        if any(later <= earlier for earlier, later in itertools.pairwise(steps)):
            shown = ", ".join(map(str, steps))
            raise ValueError(
                f"walk_steps must rise step by step (each gives up more of the spread), got {shown}"
            )
        return steps

    @property
    def deadline_before_close(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.deadline_minutes_before_close)


class PlanJournal(Protocol):
    """Where the plan being executed for a session is kept, outside any run."""

    def started(self, session: dt.date, account_number: str) -> RebalancePlan | None: ...

    def record(self, plan: RebalancePlan) -> None: ...


def always_active() -> KillState:
    return "ACTIVE"


def execute_plan(
    broker: Broker,
    plan: RebalancePlan,
    *,
    settings: ExecutionSettings,
    sleep: Callable[[float], None],
    kill_switch: Callable[[], KillState] = always_active,
    journal: PlanJournal | None = None,
) -> ExecutionResult:
    """Execute (or finish) the session's plan; returns what happened to each item."""
    clock = broker.get_clock()
    started = clock.timestamp
    refusal = trading_refusal(plan.session, clock)
    if refusal is not None:
        return _result(
            plan, "PLAN_ONLY", refusal, [], started, started, _session_orders(broker, plan.session)
        )
    ours = our_orders(broker, plan.session)
    ctx = WalkContext(
        broker=broker,
        plan=plan,
        steps=settings.walk_steps,
        step_seconds=settings.step_seconds,
        poll_seconds=settings.poll_seconds,
        max_polls=settings.max_polls,
        deadline=clock.next_close - settings.deadline_before_close,
        sleep=sleep,
        kill_switch=kill_switch,
    )
    works: list[ItemWork] = []
    try:
        if kill_switch() == "HALTED":
            raise Halted
        executing, note = _plan_to_execute(plan, ours, journal)
        if executing is None:
            return _adopt_only(ctx, plan, ours, started)
        ctx = WalkContext(**{**ctx.__dict__, "plan": executing})
        works = [_work_for(item, executing, ours) for item in executing.items]
        walk_phase(ctx, [w for w in works if w.item.side == "sell"])
        buys = [w for w in works if w.item.side == "buy"]
        _size_buys_on_cash(broker, executing, buys)
        walk_phase(ctx, buys)
    except Halted:
        return _halt(broker, plan, ours, works, started)
    outcomes = [_outcome(w) for w in works]
    status, summary = _status(outcomes)
    return _result(
        executing,  # the plan actually executed: the journaled one when finishing a session
        status,
        f"{note}{summary}",
        outcomes,
        started,
        broker.get_clock().timestamp,
        _session_orders(broker, plan.session),
        sum(len(w.placed) for w in works),
    )


def our_orders(broker: Broker, session: dt.date) -> dict[str, OrderInfo]:
    """Every order of ours for the session (by client-id prefix), whichever run placed it."""
    prefix = session_prefix(session)
    after = dt.datetime.combine(session - dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    until = dt.datetime.combine(session + dt.timedelta(days=2), dt.time(), tzinfo=dt.UTC)
    return {
        o.client_order_id: o
        for o in broker.get_orders(status="all", after=after, until=until)
        if o.client_order_id.startswith(prefix)
    }


def _session_orders(broker: Broker, session: dt.date) -> tuple[OrderInfo, ...]:
    """The session's orders of ours as the broker reports them now: what the ledger records.

    Read again at the end rather than taken from this run's bookkeeping, so an order
    another process placed for the session (a run the lock did not cover, a manual one
    with our prefix) is in the result and the ledger too.
    """
    return tuple(sorted(our_orders(broker, session).values(), key=lambda o: o.client_order_id))


def _plan_to_execute(
    plan: RebalancePlan, ours: dict[str, OrderInfo], journal: PlanJournal | None
) -> tuple[RebalancePlan | None, str]:
    """This run's plan, or the session's journaled plan when an earlier run started one.

    Returns (None, "") when orders of ours exist for the session but no journal says
    which plan they belong to: then nothing new may be placed.
    """
    started = journal.started(plan.session, plan.account_number) if journal is not None else None
    if started is not None and started.plan_id != plan.plan_id:
        return started, f"finishing plan {started.plan_id[:8]} started earlier this session; "
    own = plan_prefix_for(plan.session, plan.plan_id)
    if any(not coid.startswith(own) for coid in ours):
        return None, ""
    if journal is not None and started is None:
        journal.record(plan)
    return plan, ""


def _work_for(item: PlanItem, plan: RebalancePlan, ours: dict[str, OrderInfo]) -> ItemWork:
    prefix = f"{plan_prefix_for(plan.session, plan.plan_id)}{item.symbol.replace('/', '.')}-{item.side[0]}"
    adopted = {coid: order for coid, order in ours.items() if coid.startswith(prefix)}
    return ItemWork(item=item, qty=item.qty, orders=adopted, adopted=bool(adopted))


def _size_buys_on_cash(broker: Broker, plan: RebalancePlan, buys: list[ItemWork]) -> None:
    """Shrink the BUYs pro rata when the cash after the SELL phase cannot pay for them."""
    wanted = sum((w.remaining * w.item.est_price for w in buys if not w.done), Decimal(0))
    if wanted == 0:
        return
    account = broker.get_account()
    # Our own open BUY orders (adopted from an interrupted run) hold buying power that the
    # walk frees when it cancels and replaces them: it is theirs, so it counts as available.
    ours_reserved = sum(
        ((o.qty or Decimal(0)) - o.filled_qty) * (o.limit_price or w.item.est_price)
        for w in buys
        for o in w.open_orders
    )
    spendable = min(account.cash, account.buying_power + ours_reserved)
    available = spendable - account.equity * plan.settings.cash_reserve_pct
    if available >= wanted:
        return
    factor = max(available, Decimal(0)) / wanted
    for work in buys:
        if work.done:
            continue
        whole_shares = work.item.qty == work.item.qty.to_integral_value()
        scaled = tradable_qty(work.remaining * factor, fractionable=not whole_shares)
        if scaled * work.item.est_price < MIN_ORDER_USD:
            work.error = f"not placed: cash after sells covers {factor:.4f} of the buys"
        work.qty = work.filled + scaled


def _adopt_only(
    ctx: WalkContext, plan: RebalancePlan, ours: dict[str, OrderInfo], started: dt.datetime
) -> ExecutionResult:
    """Orders of ours exist for the session but no journal names their plan: place nothing."""
    works = [
        ItemWork(item=_item_of(order), qty=order.qty or order.filled_qty, orders={coid: order}, adopted=True)
        for coid, order in ours.items()
    ]
    wait_until_terminal(ctx, works)
    outcomes = [_outcome(w) for w in works]
    status, summary = _status(outcomes)
    plans = sorted({coid.split("-")[2] for coid in ours})
    reason = (
        f"session {plan.session} was already executed by plan {', '.join(plans)}; "
        f"adopted its {len(ours)} orders and placed none ({summary})"
    )
    return _result(
        plan,
        status,
        reason,
        outcomes,
        started,
        ctx.broker.get_clock().timestamp,
        _session_orders(ctx.broker, plan.session),
    )


def _halt(
    broker: Broker,
    plan: RebalancePlan,
    ours: dict[str, OrderInfo],
    works: list[ItemWork],
    started: dt.datetime,
) -> ExecutionResult:
    """HALTED: cancel every open order of ours for the session; the rest is not placed."""
    loose = [
        ItemWork(item=_item_of(o), qty=o.qty or o.filled_qty, orders={c: o}, adopted=True)
        for c, o in ours.items()
    ]
    tracked = {coid for w in works for coid in w.orders}
    cancel_open(broker, [*works, *(w for w in loose if not set(w.orders) & tracked)], None)
    placed = {(w.item.symbol, w.item.side) for w in works}
    rest = [
        ItemWork(item=i, qty=i.qty, error="not placed: kill switch HALTED")
        for i in plan.items
        if (i.symbol, i.side) not in placed
    ]
    for work in works:
        if not work.done and not work.open_orders:
            work.error = work.error or "not placed: kill switch HALTED"
    canceled = sum(1 for w in [*works, *loose] for o in w.orders.values() if o.status == "canceled")
    outcomes = [_outcome(w) for w in [*works, *rest]]
    reason = f"kill switch HALTED: placed nothing more and canceled {canceled} open orders of ours"
    return _result(
        plan,
        "HALTED",
        reason,
        outcomes,
        started,
        broker.get_clock().timestamp,
        _session_orders(broker, plan.session),
        sum(len(w.placed) for w in works),
    )


def _item_of(order: OrderInfo) -> PlanItem:
    """A plan item reconstructed from an adopted order (its arrival price is unknown)."""
    return PlanItem(
        symbol=order.symbol,
        side=order.side,
        qty=order.qty if order.qty is not None else order.filled_qty,
        est_price=Decimal(0),
        est_value=Decimal(0),
        current_weight=Decimal(0),
        target_weight=Decimal(0),
        reason="increase" if order.side == "buy" else "reduce",
    )


def _outcome(work: ItemWork) -> OrderOutcome:
    item = work.item
    orders = list(work.orders.values())
    filled = work.filled
    notional = sum(
        (o.filled_qty * o.filled_avg_price for o in orders if o.filled_avg_price is not None), Decimal(0)
    )
    vwap = (notional / filled).quantize(Decimal("0.000001")) if filled > 0 else None
    slippage = None
    if vwap is not None and item.est_price > 0:  # adopted orphans have no arrival price
        signed = vwap - item.est_price if item.side == "buy" else item.est_price - vwap
        slippage = (signed / item.est_price * BPS).quantize(Decimal("0.01"))
    if filled > 0 and filled >= work.qty:
        status = "filled"
    elif filled > 0:
        status = "partially_filled"
    elif orders:
        status = orders[-1].status
    else:
        status = "rejected" if work.error_code is not None else "not_placed"
    last = orders[-1] if orders else None
    return OrderOutcome(
        symbol=item.symbol,
        side=item.side,
        requested_qty=item.qty,
        filled_qty=filled,
        filled_avg_price=vwap,
        arrival_price=item.est_price,
        slippage_bps=slippage,
        client_order_id=last.client_order_id if last is not None else "",
        order_id=last.id if last is not None else None,
        order_ids=tuple(o.id for o in orders),
        status=status,
        adopted=work.adopted,
        error_code=work.error_code,
        error=work.error,
    )


def _status(outcomes: list[OrderOutcome]) -> tuple[ExecutionStatus, str]:
    if not outcomes:
        return "SUCCESS", "nothing to trade"
    complete = [o for o in outcomes if o.status == "filled"]
    touched = [o for o in outcomes if o.filled_qty > 0]
    if len(complete) == len(outcomes):
        return "SUCCESS", f"{len(outcomes)} orders filled"
    if touched:
        return "PARTIAL", f"{len(complete)} of {len(outcomes)} items filled completely"
    return "FAILED", f"none of {len(outcomes)} items filled"


def _result(
    plan: RebalancePlan,
    status: ExecutionStatus,
    reason: str,
    outcomes: list[OrderOutcome],
    started: dt.datetime,
    finished: dt.datetime,
    orders: tuple[OrderInfo, ...] = (),
    placed: int = 0,
) -> ExecutionResult:
    return ExecutionResult(
        session=plan.session,
        plan_id=plan.plan_id,
        account_number=plan.account_number,
        status=status,
        reason=reason,
        outcomes=tuple(outcomes),
        orders=orders,
        orders_placed=placed,
        orders_adopted=sum(1 for o in outcomes if o.adopted),
        started_at=started,
        finished_at=finished,
    )

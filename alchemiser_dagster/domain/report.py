"""The daily report: what the strategies chose and why, what traded and what it cost, where
the account ended, and what went wrong.

The report is data first (every number a field, copied from the snapshot, the ledger and
the reconciliation, never recomputed from floats); markdown (`report_markdown.py`), HTML and
plots are renderings of it, so what the operator reads is exactly what was stored. The stored
models stay in this module: stored envelopes name `alchemiser_dagster.domain.report:DailyReport`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Literal

import pandas as pd

from alchemiser_dagster.domain.constants import CENT, NEW_YORK
from alchemiser_dagster.domain.execution.ledger import read_fill_ledger
from alchemiser_dagster.domain.execution.models import ExecutionResult, OrderOutcome
from alchemiser_dagster.domain.execution.outcome import limit_requotes
from alchemiser_dagster.domain.model import Record
from alchemiser_dagster.domain.portfolio.models import (
    AccountSnapshot,
    AllocationComparison,
    RebalancePlan,
    TargetAllocation,
)
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation
from alchemiser_dagster.domain.report_markdown import DECISIONS_SHOWN, decision_line, report_markdown
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation


class StrategySection(Record):
    name: str
    title: str
    share: Decimal
    weights: dict[str, Decimal]
    decisions: tuple[str, ...]
    earlier_decisions: int
    failure: str | None = None
    policy: str | None = None
    trading: str | None = None  # "weekly: rebalance day (weekly)", "threshold 5 %: within corridor 5 %: held"


class WeightRow(Record):
    """Weights as fractions of equity: before (snapshot), target, after (re-read), all 0..1."""

    symbol: str
    before: Decimal
    target: Decimal
    after: Decimal | None


class OrderRow(Record):
    """One plan item's execution; slippage against the arrival price (positive = cost)."""

    symbol: str
    side: str
    requested_qty: Decimal
    filled_qty: Decimal
    avg_price: Decimal | None
    arrival_price: Decimal
    slippage_bps: Decimal | None
    slippage_usd: Decimal | None
    status: str
    orders: int


class FillRow(Record):
    """One ledger row: the broker's actual fill of one of our orders."""

    client_order_id: str
    symbol: str
    side: str
    filled_qty: Decimal
    filled_avg_price: Decimal
    notional: Decimal
    filled_at: str | None


class EquityPoint(Record):
    session: dt.date
    equity: Decimal
    traded_notional: Decimal


class AlertLine(Record):
    severity: Literal["ERROR", "WARN"]
    where: str
    reason: str


class Delivery(Record):
    status: Literal["sent", "not_configured", "failed", "pending"]
    detail: str


class RunLine(Record):
    """One run of the session after the trading run: when, and what its execution did."""

    run_id: str | None
    finished_at: dt.datetime
    status: str
    placed: int
    adopted: int
    plan_id: str

    @property
    def text(self) -> str:
        at = self.finished_at.astimezone(NEW_YORK).strftime("%H:%M")
        run = f"run {self.run_id[:8]}" if self.run_id else "run unknown"
        did = "finished nothing" if self.placed == 0 else "traded"
        return f"rerun at {at} ET ({run}): {did}, placed {self.placed}, adopted {self.adopted}; {self.status}"


def trading_run_index(executions: Sequence[ExecutionResult]) -> int:
    """Which of the session's executions (oldest first) tells the day's story: the earliest
    that placed orders, else the first (a day that placed nothing is told by its first run)."""
    if not executions:
        raise ValueError("a session's report needs at least one execution")
    return next((i for i, e in enumerate(executions) if e.orders_placed > 0), 0)


def run_line(execution: ExecutionResult, run_id: str | None) -> RunLine:
    return RunLine(
        run_id=run_id,
        finished_at=execution.finished_at,
        status=execution.status,
        placed=execution.orders_placed,
        adopted=execution.orders_adopted,
        plan_id=execution.plan_id,
    )


class DailyReport(Record):
    session: dt.date
    status: str
    headline: str
    plan_id: str
    execution_reason: str
    strategies: tuple[StrategySection, ...]
    weights: tuple[WeightRow, ...]
    orders: tuple[OrderRow, ...]
    fills: tuple[FillRow, ...]
    equity_before: Decimal
    cash_before: Decimal
    equity_after: Decimal
    cash_after: Decimal
    after_note: str
    traded_notional: Decimal
    slippage_usd: Decimal
    alerts: tuple[AlertLine, ...]
    equity_history: tuple[EquityPoint, ...]
    # The run whose execution this report tells (the day's trading run) and every run of
    # the session after it, so a rerun never replaces the day's story with its own view.
    trading_run: str | None = None
    later_runs: tuple[RunLine, ...] = ()
    # Where the stored plan and snapshot the trading run's execution used are kept.
    inputs: tuple[str, ...] = ()
    delivery: Delivery = Delivery(status="pending", detail="not yet sent")
    # When the account shown under "Account" was read (the trading run's snapshot); None in
    # reports stored before this field existed.
    snapshot_taken_at: dt.datetime | None = None

    @property
    def markdown(self) -> str:
        return report_markdown(self)

    @property
    def account_basis(self) -> str:
        """Which account state the report compares with: the session's own or a later day's."""
        if self.snapshot_taken_at is None:
            return "When the account was read is not recorded in this report."
        read = self.snapshot_taken_at.astimezone(NEW_YORK)
        when = f"{read:%Y-%m-%d %H:%M} New York"
        if read.date() == self.session:
            return f"Compared with the account of the session's day, as read at {when}."
        if read.date() > self.session:
            return (
                f"Compared with the account as read at {when}, after the session: that later state,"
                f" not the account of {self.session}."
            )
        return f"Compared with the account as read at {when}, before the session."


# --- building -----------------------------------------------------------------------------------


def _strategy_section(
    sleeve_name: str, share: Decimal, evaluation: StrategyEvaluation, target: TargetAllocation
) -> StrategySection:
    sleeve = next(s for s in target.sleeves if s.strategy == sleeve_name)
    failure = evaluation.failure
    shown = evaluation.trace[-DECISIONS_SHOWN:]
    return StrategySection(
        name=sleeve_name,
        title=evaluation.strategy,
        share=share,
        weights=dict(sleeve.weights),
        decisions=tuple(decision_line(e) for e in shown),
        earlier_decisions=len(evaluation.trace) - len(shown),
        failure=f"{failure.location}: {failure.error}: {failure.message}" if failure else None,
        policy=(sleeve.policy + (f" (weights of {sleeve.weights_from})" if sleeve.weights_from else ""))
        if sleeve.policy
        else None,
        trading=f"{sleeve.setting}: {sleeve.trading}" if sleeve.trading else None,
    )


def _order_row(outcome: OrderOutcome) -> OrderRow:
    cost = None
    if outcome.filled_avg_price is not None and outcome.filled_qty > 0:
        per_share = outcome.filled_avg_price - outcome.arrival_price
        cost = (per_share if outcome.side == "buy" else -per_share) * outcome.filled_qty
        cost = cost.quantize(CENT)
    return OrderRow(
        symbol=outcome.symbol,
        side=outcome.side,
        requested_qty=outcome.requested_qty,
        filled_qty=outcome.filled_qty,
        avg_price=outcome.filled_avg_price,
        arrival_price=outcome.arrival_price,
        slippage_bps=outcome.slippage_bps,
        slippage_usd=cost,
        status=outcome.status,
        orders=max(len(outcome.order_ids), 1 if outcome.order_id else 0),
    )


def fills_from_ledger(ledger: pd.DataFrame) -> tuple[FillRow, ...]:
    return tuple(
        FillRow(
            client_order_id=f.client_order_id,
            symbol=f.symbol,
            side=f.side,
            filled_qty=f.filled_qty,
            filled_avg_price=f.filled_avg_price,
            notional=f.notional,
            filled_at=f.filled_at.isoformat() if f.filled_at else None,
        )
        for f in read_fill_ledger(ledger, "the fill ledger").fills
    )


def ledger_notional(ledger: pd.DataFrame) -> Decimal:
    return read_fill_ledger(ledger, "the fill ledger").notional


def input_problems(
    evaluations: Mapping[str, StrategyEvaluation], execution: ExecutionResult, reconciliation: Reconciliation
) -> list[AlertLine]:
    """The problems the report's own inputs show (the same facts the post-trade checks judge)."""
    lines = [
        AlertLine(
            severity="ERROR",
            where=f"signals/{name} / strategy_evaluated",
            reason=f"{e.failure.location}: {e.failure.error}: {e.failure.message}",
        )
        for name, e in evaluations.items()
        if e.failure is not None
    ]
    if execution.status not in ("SUCCESS", "PLAN_ONLY"):
        lines.append(
            AlertLine(
                severity="ERROR",
                where="execution_result / execution_succeeded",
                reason=f"{execution.status}: {execution.reason}",
            )
        )
    lines += [
        AlertLine(severity="ERROR", where="reconciliation / intended_trades_happened", reason=e)
        for e in reconciliation.errors
    ]
    lines += [
        AlertLine(severity="WARN", where="reconciliation / weights_within_tolerance", reason=w)
        for w in reconciliation.warnings
    ]
    return lines


def build_daily_report(
    evaluations: Mapping[str, StrategyEvaluation],
    target: TargetAllocation,
    snapshot: AccountSnapshot,
    comparison: AllocationComparison,
    plan: RebalancePlan,
    execution: ExecutionResult,
    ledger: pd.DataFrame,
    reconciliation: Reconciliation,
    *,
    alerts: Sequence[AlertLine] = (),
    history: Sequence[EquityPoint] = (),
    trading_run: str | None = None,
    later_runs: Sequence[RunLine] = (),
    inputs: Sequence[str] = (),
) -> DailyReport:
    """The report for one session, told by its trading run's stored values. `alerts` are the
    day's earlier alerts; `history` the earlier sessions' equity (this session's point is
    added here); `later_runs` the session's runs after the trading run, one line each."""
    filled = sum(1 for o in execution.outcomes if o.filled_qty > 0)
    traded = ledger_notional(ledger)
    headline = (
        f"{target.session}: {execution.status} - {len(plan.items)} planned orders, "
        f"{execution.orders_placed} broker orders ({limit_requotes(execution)} limit re-quotes),"
        f" {execution.orders_adopted} adopted, {filled} filled; "
        f"equity {reconciliation.equity:,.2f}"
    )
    if later_runs:
        headline += f"; {len(later_runs)} later run(s)"
    before = {r.symbol: r.current_weight for r in comparison.rows}
    after = (
        {r.symbol: r.actual_weight for r in reconciliation.rows}
        if reconciliation.applicable
        else dict(before)
    )
    weights = tuple(
        WeightRow(
            symbol=symbol,
            before=before.get(symbol, Decimal(0)),
            target=target.weights.get(symbol, Decimal(0)),
            after=after.get(symbol, Decimal(0)),
        )
        for symbol in sorted(set(before) | set(target.weights) | set(after))
    )
    orders = tuple(_order_row(o) for o in execution.outcomes)
    all_alerts = _unique([*alerts, *input_problems(evaluations, execution, reconciliation)])
    points = [p for p in history if p.session < target.session]
    if reconciliation.applicable:
        points.append(
            EquityPoint(session=target.session, equity=reconciliation.equity, traded_notional=traded)
        )
    return DailyReport(
        session=target.session,
        status=execution.status,
        headline=headline,
        plan_id=execution.plan_id,
        execution_reason=execution.reason,
        strategies=tuple(
            _strategy_section(s.strategy, s.share, evaluations[s.strategy], target) for s in target.sleeves
        ),
        weights=weights,
        orders=orders,
        fills=fills_from_ledger(ledger),
        equity_before=snapshot.account.equity,
        cash_before=snapshot.account.cash,
        equity_after=reconciliation.equity,
        cash_after=reconciliation.cash,
        after_note=reconciliation.note,
        traded_notional=traded,
        slippage_usd=sum((o.slippage_usd for o in orders if o.slippage_usd is not None), Decimal(0)),
        alerts=tuple(all_alerts),
        equity_history=tuple(sorted(points, key=lambda p: p.session)),
        trading_run=trading_run,
        later_runs=tuple(later_runs),
        inputs=tuple(inputs),
        snapshot_taken_at=snapshot.taken_at,
    )


def _unique(lines: Sequence[AlertLine]) -> list[AlertLine]:
    seen: set[tuple[str, str]] = set()
    kept = []
    for line in lines:
        if (line.where, line.reason) not in seen:
            seen.add((line.where, line.reason))
            kept.append(line)
    return kept

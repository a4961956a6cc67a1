"""The daily report: what the strategies chose and why, what traded and what it cost, where
the account ended, and what went wrong.

The report is data first (every number a field, copied from the snapshot, the ledger and
the reconciliation, never recomputed from floats); markdown, HTML and plots are renderings
of it, so what the operator reads is exactly what was stored.
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
from alchemiser_dagster.domain.strategy.render import condition_text
from alchemiser_dagster.domain.strategy.trace import (
    FilterTrace,
    IfTrace,
    InverseVolatilityTrace,
    StrategyEvaluation,
    TraceEntry,
)

DECISIONS_SHOWN = 8


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


def decision_line(entry: TraceEntry) -> str:
    """One decision in one line: the condition and its values, the ranking, the vol shares."""
    if isinstance(entry, IfTrace):
        if entry.lhs is None or entry.rhs is None:  # and/or: each evaluated term with its values
            return f"{entry.node} {condition_text(entry)} -> {entry.branch}"
        rhs = f"{entry.rhs.expr} = {entry.rhs.value:.4f}" if entry.rhs.indicator else entry.rhs.expr
        return f"{entry.node} {entry.lhs.expr} = {entry.lhs.value:.4f} {entry.op} {rhs} -> {entry.branch}"
    if isinstance(entry, FilterTrace):
        chosen = [c for c in sorted(entry.candidates, key=lambda c: c.rank) if c.selected]
        picked = ", ".join(f"{c.label} ({c.score:.4f})" for c in chosen)
        return (
            f"{entry.node} filter {entry.key} {entry.select} {entry.n} of {len(entry.candidates)} -> {picked}"
        )
    assert isinstance(entry, InverseVolatilityTrace)
    shares = ", ".join(f"{c.label} {c.share:.2%}" for c in entry.children)
    return f"{entry.node} inverse volatility ({entry.window} d) -> {shares}"


def trace_summary(evaluation: StrategyEvaluation, limit: int = DECISIONS_SHOWN) -> str:
    """The last decisions of a strategy (the ones that picked the leaf), one line each."""
    lines = [f"- `{decision_line(e)}`" for e in evaluation.trace[-limit:]]
    hidden = len(evaluation.trace) - len(lines)
    if hidden > 0:
        lines.insert(0, f"- ({hidden} earlier decisions in the full trace)")
    return "\n".join(lines)


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


# --- markdown -----------------------------------------------------------------------------------


def weights_markdown(weights: Mapping[str, Decimal | float], title: str = "weight") -> str:
    lines = [f"| symbol | {title} |", "|---|---:|"]
    lines += [f"| {symbol} | {float(weight) * 100:.2f} % |" for symbol, weight in sorted(weights.items())]
    return "\n".join(lines)


def percent(value: Decimal | None) -> str:
    """A weight as a percentage with two decimals; empty when unknown."""
    return "" if value is None else f"{float(value) * 100:.2f} %"


def optional(value: object) -> str:
    """A value as text; empty when unknown."""
    return "" if value is None else str(value)


def _md_row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def report_markdown(report: DailyReport, images: Mapping[str, str] | None = None) -> str:
    """The report as markdown; `images` maps a plot name ("weights", "equity") to its URL."""
    images = images or {}
    parts = [f"# Daily report {report.session}", "", f"**{report.headline}**", ""]
    if report.alerts:
        parts += ["## Alerts of the day", ""]
        parts += [f"- **{a.severity}** {a.where}: {a.reason}" for a in report.alerts]
        parts.append("")
    parts += [
        "## Account",
        "",
        "| | equity | cash |",
        "|---|---:|---:|",
        f"| before (snapshot) | {report.equity_before:,.2f} | {report.cash_before:,.2f} |",
        f"| after (re-read) | {report.equity_after:,.2f} | {report.cash_after:,.2f} |",
        "",
        report.account_basis,
        "",
        f"Traded {report.traded_notional:,.2f} USD; slippage cost {report.slippage_usd:,.2f} USD"
        f" against arrival prices. {report.after_note}",
        "",
        "## Strategies",
    ]
    for s in report.strategies:
        parts += ["", f"### {s.name} ({float(s.share) * 100:.1f} % of the account): {s.title}"]
        if s.failure:
            parts.append(f"**FAILED**: {s.failure}" + (f"; policy applied: {s.policy}" if s.policy else ""))
        if s.trading:
            parts += ["", f"Trading setting {s.trading}"]
        parts += ["", weights_markdown(s.weights) if s.weights else "(no weights: held as cash)", ""]
        if s.earlier_decisions:
            parts.append(f"- ({s.earlier_decisions} earlier decisions in the full trace)")
        parts += [f"- `{d}`" for d in s.decisions]
    parts += ["", "## Weights", ""]
    if "weights" in images:
        parts += [f"![weights before, target and after]({images['weights']})", ""]
    parts += ["| symbol | before | target | after |", "|---|---:|---:|---:|"]
    parts += [
        f"| {w.symbol} | {percent(w.before)} | {percent(w.target)} | {percent(w.after)} |"
        for w in report.weights
    ]
    parts += ["", "## Orders", "", f"{report.status}: {report.execution_reason}", ""]
    if report.orders:
        headers = ["symbol", "side", "requested", "filled", "avg price", "arrival"]
        headers += ["slippage bps", "slippage USD", "orders", "status"]
        parts += [_md_row(headers), "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        parts += [
            _md_row(
                [
                    o.symbol,
                    o.side,
                    o.requested_qty,
                    o.filled_qty,
                    optional(o.avg_price),
                    o.arrival_price,
                    optional(o.slippage_bps),
                    optional(o.slippage_usd),
                    o.orders,
                    o.status,
                ]
            )
            for o in report.orders
        ]
    if report.fills:
        parts += [
            "",
            "### Fills (ledger)",
            "",
            _md_row(["order", "symbol", "side", "qty", "price", "notional"]),
        ]
        parts.append("|---|---|---|---:|---:|---:|")
        parts += [
            _md_row(
                [f.client_order_id, f.symbol, f.side, f.filled_qty, f.filled_avg_price, f"{f.notional:,.2f}"]
            )
            for f in report.fills
        ]
    parts += runs_markdown(report)
    parts += ["", "## Equity", ""]
    if "equity" in images:
        parts += [f"![equity over the last sessions]({images['equity']})", ""]
    parts += ["| session | equity | traded |", "|---|---:|---:|"]
    parts += [f"| {p.session} | {p.equity:,.2f} | {p.traded_notional:,.2f} |" for p in report.equity_history]
    return "\n".join(parts)


def runs_markdown(report: DailyReport) -> list[str]:
    """The day's runs: the trading run told above, then one line per later run."""
    parts = ["", "## Runs of the day", ""]
    parts.append(f"- trading run {report.trading_run or 'unknown'}: the orders, fills and account above")
    parts += [f"- {r.text}" for r in report.later_runs]
    if report.inputs:
        parts += ["", "Stored inputs of the trading run's execution:", ""]
        parts += [f"- `{path}`" for path in report.inputs]
    return parts


def report_summary_markdown(report: DailyReport, limit: int = 990) -> str:
    """The at-a-glance part (Dagster shows markdown of up to 1,000 characters inline)."""
    head = [f"**{report.status}**, equity {report.equity_after:,.2f} (before {report.equity_before:,.2f})"]
    head.append(f"traded {report.traded_notional:,.2f}, slippage {report.slippage_usd:,.2f} USD")
    if report.alerts:
        head.append(f"**{len(report.alerts)} alert(s)**: {report.alerts[0].where}")
    lines = ["; ".join(head), "", "| symbol | before | target | after |", "|---|---:|---:|---:|"]
    rows = [
        f"| {w.symbol} | {percent(w.before)} | {percent(w.target)} | {percent(w.after)} |"
        for w in report.weights
    ]
    text = "\n".join(lines)
    reserve = 40  # room for the "(n more rows ...)" line
    for shown, row in enumerate(rows):
        if len(text) + 1 + len(row) + reserve > limit:
            return text + f"\n\n({len(rows) - shown} more rows in the full report)"
        text += "\n" + row
    return text

"""The daily report: what the strategies chose and why, what traded, where the account ended."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.portfolio.models import (
    AllocationComparison,
    RebalancePlan,
    Record,
    TargetAllocation,
)
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation
from alchemiser_dagster.domain.strategy.trace import IfTrace, StrategyEvaluation


class DailyReport(Record):
    session: dt.date
    status: str
    headline: str
    markdown: str


def weights_markdown(weights: Mapping[str, Decimal | float], title: str = "weight") -> str:
    lines = [f"| symbol | {title} |", "|---|---:|"]
    lines += [f"| {symbol} | {float(weight) * 100:.2f} % |" for symbol, weight in sorted(weights.items())]
    return "\n".join(lines)


def trace_summary(evaluation: StrategyEvaluation, limit: int = 8) -> str:
    """The last decisions of a strategy (the ones that picked the leaf), one line each."""
    ifs = [e for e in evaluation.trace if isinstance(e, IfTrace)]
    lines = [
        f"- `{e.node}` {e.lhs.expr} = {e.lhs.value:.4f} {e.op} {e.rhs.expr}"
        f"{f' = {e.rhs.value:.4f}' if e.rhs.indicator else ''} -> {e.branch}"
        for e in ifs[-limit:]
    ]
    hidden = len(evaluation.trace) - len(lines)
    if hidden > 0:
        lines.insert(0, f"- ({hidden} earlier decisions in the full trace)")
    return "\n".join(lines)


def build_daily_report(
    evaluations: Mapping[str, StrategyEvaluation],
    target: TargetAllocation,
    comparison: AllocationComparison,
    plan: RebalancePlan,
    execution: ExecutionResult,
    reconciliation: Reconciliation,
) -> DailyReport:
    filled = sum(1 for o in execution.outcomes if o.filled_qty > 0)
    headline = (
        f"{target.session}: {execution.status} - {len(plan.items)} planned orders, "
        f"{execution.orders_placed} placed, {execution.orders_adopted} adopted, {filled} filled; "
        f"equity {reconciliation.equity:,.2f}"
    )
    parts = [f"# Daily report {target.session}", "", headline, "", "## Strategies"]
    for sleeve in target.sleeves:
        evaluation = evaluations[sleeve.strategy]
        parts += [
            "",
            f"### {sleeve.strategy} ({sleeve.share * 100:.1f} % of the account): {evaluation.strategy}",
            weights_markdown(sleeve.weights),
            "",
            trace_summary(evaluation),
        ]
    before = {r.symbol: r.current_weight for r in comparison.rows}
    after = {r.symbol: r.actual_weight for r in reconciliation.rows}
    parts += ["", "## Weights", "| symbol | before | target | after |", "|---|---:|---:|---:|"]
    for symbol in sorted(set(before) | set(target.weights) | set(after)):
        cells = [before.get(symbol), target.weights.get(symbol), after.get(symbol)]
        parts.append(
            f"| {symbol} | "
            + " | ".join("" if c is None else f"{float(c) * 100:.2f} %" for c in cells)
            + " |"
        )
    parts += ["", "## Orders", f"{execution.status}: {execution.reason}", ""]
    if execution.outcomes:
        parts += [
            "| symbol | side | requested | filled | avg price | slippage bps | status |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        parts += [
            f"| {o.symbol} | {o.side} | {o.requested_qty} | {o.filled_qty} | {o.filled_avg_price or ''} |"
            f" {o.slippage_bps if o.slippage_bps is not None else ''} | {o.status} |"
            for o in execution.outcomes
        ]
    parts += [
        "",
        "## Account",
        f"equity {reconciliation.equity:,.2f}, cash {reconciliation.cash:,.2f}; {reconciliation.note}",
    ]
    parts += [f"- WARN {w}" for w in reconciliation.warnings] + [
        f"- ERROR {e}" for e in reconciliation.errors
    ]
    return DailyReport(
        session=target.session, status=execution.status, headline=headline, markdown="\n".join(parts)
    )

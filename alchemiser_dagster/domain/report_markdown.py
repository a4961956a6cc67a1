"""The daily report as text: markdown for the UI's metadata, the notification and the HTML
page, and the one-line decisions the report stores. It renders stored values, computes nothing
new, and reads `DailyReport` for types only (report.py imports this module)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from alchemiser_dagster.domain.strategy.render import condition_text
from alchemiser_dagster.domain.strategy.trace import (
    FilterTrace,
    IfTrace,
    InverseVolatilityTrace,
    StrategyEvaluation,
    TraceEntry,
)

if TYPE_CHECKING:
    from alchemiser_dagster.domain.report import DailyReport, WeightRow


DECISIONS_SHOWN = 8


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


def weight_row(w: WeightRow) -> str:
    """One symbol's before, target and after weights as a markdown table row."""
    return f"| {w.symbol} | {percent(w.before)} | {percent(w.target)} | {percent(w.after)} |"


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
    parts += [weight_row(w) for w in report.weights]
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
    rows = [weight_row(w) for w in report.weights]
    text = "\n".join(lines)
    reserve = 40  # room for the "(n more rows ...)" line
    for shown, row in enumerate(rows):
        if len(text) + 1 + len(row) + reserve > limit:
            return text + f"\n\n({len(rows) - shown} more rows in the full report)"
        text += "\n" + row
    return text

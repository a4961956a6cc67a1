"""Plain-text renderings of weights and decision traces for people (CLI, demo, logs)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from alchemiser_dagster.domain.strategy.trace import (
    FilterTrace,
    IfTrace,
    InverseVolatilityTrace,
    OperandValue,
    StrategyEvaluation,
)

WEIGHT_DECIMALS = 10


def rounded_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Symbols sorted, zeros omitted, rounded to the CLI's 10 decimals (spec §8)."""
    out = {symbol: round(weights[symbol], WEIGHT_DECIMALS) for symbol in sorted(weights)}
    return {symbol: weight for symbol, weight in out.items() if weight != 0.0}


def weights_table(by_session: Mapping[dt.date, Mapping[str, float]]) -> str:
    """One block per session: symbol, weight as a fraction and as a percentage."""
    lines: list[str] = []
    for session in sorted(by_session):
        lines.append(f"{session}")
        for symbol, weight in rounded_weights(by_session[session]).items():
            lines.append(f"  {symbol:<8} {weight:>14.10f}  {weight * 100:7.3f} %")
    return "\n".join(lines)


def _operand(value: OperandValue) -> str:
    if value.indicator is None:
        return value.expr
    return f"{value.expr} = {value.value:.4f}"


def trace_text(evaluation: StrategyEvaluation) -> str:
    """The decision trace of one evaluation, one line per decision, in evaluation order."""
    lines = [
        f"{evaluation.strategy} ({evaluation.source}) on {evaluation.session}:"
        f" {len(evaluation.trace)} decisions"
    ]
    for entry in evaluation.trace:
        if isinstance(entry, IfTrace):
            lines.append(
                f"  {entry.node}  if {_operand(entry.lhs)} {entry.op} {_operand(entry.rhs)}"
                f" -> {str(entry.result).lower()}, take {entry.branch}"
            )
        elif isinstance(entry, FilterTrace):
            lines.append(f"  {entry.node}  filter {entry.key} select-{entry.select} {entry.n}")
            for candidate in sorted(entry.candidates, key=lambda c: c.rank):
                mark = "*" if candidate.selected else " "
                lines.append(
                    f"      {mark} {candidate.rank:>2}. {candidate.label:<40.40} {candidate.score:>12.4f}"
                )
        elif isinstance(entry, InverseVolatilityTrace):
            lines.append(f"  {entry.node}  inverse-volatility window {entry.window}")
            for child in entry.children:
                lines.append(
                    f"        {child.label:<40.40} sigma {child.sigma:>10.6f} share {child.share:.6f}"
                )
    lines.append("  weights: " + ", ".join(f"{s} {w:.4f}" for s, w in evaluation.weights.items()))
    return "\n".join(lines)

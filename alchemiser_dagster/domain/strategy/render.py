"""Plain-text renderings of weights and decision traces for people (CLI, demo, logs)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from alchemiser_dagster.domain.strategy.trace import (
    ConditionTrace,
    FilterTrace,
    IfTrace,
    InverseVolatilityTrace,
    OperandValue,
    StrategyEvaluation,
)

WEIGHT_DECIMALS = 10


def rounded_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Symbols sorted, zeros omitted, 10 decimals (spec §8) summing to exactly 1.

    Rounding each weight on its own can leave the day's sum off by a few units of the
    last place (60 equal weights do); the largest-remainder method hands those units to
    the weights that lost the most in rounding.
    """
    scale = 10**WEIGHT_DECIMALS
    exact = {symbol: weights[symbol] * scale for symbol in sorted(weights) if weights[symbol] != 0.0}
    floors = {symbol: math.floor(value) for symbol, value in exact.items()}
    missing = round(math.fsum(exact.values())) - sum(floors.values())
    by_remainder = sorted(exact, key=lambda s: (-(exact[s] - floors[s]), s))
    for symbol in by_remainder[: max(missing, 0)]:
        floors[symbol] += 1
    return {symbol: units / scale for symbol, units in floors.items() if units != 0}


def weights_table(by_session: Mapping[dt.date, Mapping[str, float]]) -> str:
    """One block per session: symbol, weight as a fraction and as a percentage."""
    lines: list[str] = []
    for session in sorted(by_session):
        lines.append(f"{session}")
        for symbol, weight in rounded_weights(by_session[session]).items():
            lines.append(f"  {symbol:<8} {weight:>14.10f}  {weight * 100:7.3f} %")
    return "\n".join(lines)


def _operand(value: OperandValue | None) -> str:
    if value is None:
        return "?"
    if value.indicator is None:
        return value.expr
    return f"{value.expr} = {value.value:.4f}"


def condition_text(entry: IfTrace | ConditionTrace) -> str:
    """A condition with its values: `A = 1.2 > 1`, or `(and [A = 1.2 > 1: true] ...)`
    listing only the terms evaluated (and stops at the first false, or at the first true)."""
    if not entry.terms:
        return f"{_operand(entry.lhs)} {entry.op} {_operand(entry.rhs)}"
    terms = " ".join(f"[{condition_text(term)}: {str(term.result).lower()}]" for term in entry.terms)
    return f"({entry.op} {terms})"


def trace_text(evaluation: StrategyEvaluation) -> str:
    """The decision trace of one evaluation, one line per decision, in evaluation order."""
    options = ", ".join(f":{k} {v}" for k, v in evaluation.options.items())
    lines = [
        f"{evaluation.strategy} ({evaluation.source}) on {evaluation.session}:"
        f" {len(evaluation.trace)} decisions" + (f" [options {options}]" if options else "")
    ]
    for entry in evaluation.trace:
        if isinstance(entry, IfTrace):
            lines.append(
                f"  {entry.node}  if {condition_text(entry)}"
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

"""Evaluate an `if`'s condition: comparisons and `and`/`or` (spec §2, §9).

`and` stops at the first false term and `or` at the first true one, like Composer's
editor: a term after the decisive one is never read, so a data gap there cannot fail
the day. The traced variant records every term it evaluated, with its values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from alchemiser_dagster.domain.strategy.ast import BoolCondition, Condition, Operand, Predicate
from alchemiser_dagster.domain.strategy.trace import ConditionTrace, OperandValue

COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,  # exact float equality (spec §9)
}

ValueOf = Callable[[Operand], float]
Describe = Callable[[Operand, float], OperandValue]


def holds(condition: Predicate, value_of: ValueOf) -> bool:
    """Whether the condition holds, reading each operand through `value_of`."""
    if isinstance(condition, Condition):
        return COMPARE[condition.op](value_of(condition.lhs), value_of(condition.rhs))
    if condition.op == "and":
        return all(holds(term, value_of) for term in condition.terms)
    return any(holds(term, value_of) for term in condition.terms)


def traced(condition: Predicate, value_of: ValueOf, describe: Describe) -> ConditionTrace:
    """`holds` with every evaluated comparison's values, for the decision trace."""
    if isinstance(condition, Condition):
        lhs = value_of(condition.lhs)
        rhs = value_of(condition.rhs)
        return ConditionTrace(
            node=str(condition.loc),
            op=condition.op,
            lhs=describe(condition.lhs, lhs),
            rhs=describe(condition.rhs, rhs),
            result=COMPARE[condition.op](lhs, rhs),
        )
    return _traced_bool(condition, value_of, describe)


def _traced_bool(condition: BoolCondition, value_of: ValueOf, describe: Describe) -> ConditionTrace:
    decisive = condition.op == "or"  # and stops at the first False, or at the first True
    terms: list[ConditionTrace] = []
    for term in condition.terms:
        terms.append(traced(term, value_of, describe))
        if terms[-1].result is decisive:
            break
    return ConditionTrace(
        node=str(condition.loc), op=condition.op, terms=tuple(terms), result=terms[-1].result
    )

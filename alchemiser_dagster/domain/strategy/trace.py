"""What a strategy decided and why: weights plus the decision trace (spec §6).

The trace lists, in evaluation order, every `if` with the values it compared and the
branch it took, every filter's ranking and every inverse-volatility split, each
pointing at its `file:line:col`. An operator reading a day's trace can replay the
decision by hand.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field

from alchemiser_dagster.domain.model import FrozenModel, Record


class OperandValue(FrozenModel):
    """One side of a comparison: a literal or an indicator reading."""

    expr: str
    value: float
    symbol: str | None = None
    indicator: str | None = None
    window: int | None = None
    last_bar_date: dt.date | None = None


class ConditionTrace(FrozenModel):
    """One evaluated condition: a comparison with both values, or an and/or with the
    terms it evaluated (it stops at the first false / first true, so later terms are
    absent)."""

    node: str
    op: str
    lhs: OperandValue | None = None
    rhs: OperandValue | None = None
    terms: tuple[ConditionTrace, ...] = ()
    result: bool


class IfTrace(FrozenModel):
    """An `if`: for a comparison `op`/`lhs`/`rhs` hold it; for `and`/`or` `op` is the
    boolean and `terms` the conditions evaluated, each with its values."""

    kind: Literal["if"] = "if"
    node: str
    op: str
    lhs: OperandValue | None = None
    rhs: OperandValue | None = None
    terms: tuple[ConditionTrace, ...] = ()
    result: bool
    branch: Literal["then", "else"]


class RankedCandidate(FrozenModel):
    label: str
    score: float
    rank: int
    selected: bool
    # The candidate's daily returns (fractions) the score was computed from; only for
    # non-asset candidates, which are scored on their return stream.
    stream_returns: tuple[float, ...] | None = None


class FilterTrace(FrozenModel):
    kind: Literal["filter"] = "filter"
    node: str
    key: str
    select: Literal["top", "bottom"]
    n: int
    candidates: tuple[RankedCandidate, ...]


class VolatilityShare(FrozenModel):
    label: str
    sigma: float
    share: float


class InverseVolatilityTrace(FrozenModel):
    kind: Literal["inverse-volatility"] = "inverse-volatility"
    node: str
    window: int
    children: tuple[VolatilityShare, ...]


TraceEntry = Annotated[IfTrace | FilterTrace | InverseVolatilityTrace, Field(discriminator="kind")]


class StrategyFailure(FrozenModel):
    """Why a symphony could not be evaluated for a session (its typed error, kept whole)."""

    error: str
    message: str
    location: str
    session: dt.date | None = None
    symbol: str | None = None
    indicator: str | None = None
    window: int | None = None


class StrategyEvaluation(Record):
    """One symphony evaluated for one session; `failure` set (and no weights) when it could not be."""

    strategy: str
    source: str
    session: dt.date
    weights: dict[str, float]
    # The symphony's own options (e.g. :rebalance-threshold), kept for the record; they
    # do not change the weights.
    options: dict[str, str | float | None] = Field(default_factory=dict)
    trace: tuple[TraceEntry, ...] = ()
    failure: StrategyFailure | None = None

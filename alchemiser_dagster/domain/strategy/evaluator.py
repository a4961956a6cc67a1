"""Evaluate a symphony for one session or a range of sessions (spec §2).

Indicator series come precomputed from `MarketHistory`; the tree is walked per
session. Only the taken branch of an `if` is evaluated, so a data gap in a branch
that does not run cannot fail the day. Non-asset filter candidates (and
inverse-volatility children) are scored on their own return stream, which needs the
candidate evaluated as of earlier sessions: those evaluations are memoized by
(node, session), so a range evaluation computes each of them once.

Weight maps are plain `dict[str, float]` inside the walk and are treated as
immutable once returned.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import TypeAlias

import numpy as np

from alchemiser_dagster.domain.constants import FLOAT_WEIGHT_SUM_TOLERANCE
from alchemiser_dagster.domain.errors import (
    BadIndicatorValue,
    EmptyAllocation,
    InsufficientHistory,
    StrategyDataError,
    ZeroVolatility,
)
from alchemiser_dagster.domain.strategy.ast import (
    Asset,
    Condition,
    Filter,
    Group,
    If,
    IndicatorCall,
    Loc,
    Node,
    Number,
    Operand,
    Symphony,
    WeightEqual,
    WeightInverseVolatility,
    WeightSpecified,
    label_of,
)
from alchemiser_dagster.domain.strategy.conditions import COMPARE, holds, traced
from alchemiser_dagster.domain.strategy.history import MarketHistory
from alchemiser_dagster.domain.strategy.indicators import stream_metric
from alchemiser_dagster.domain.strategy.reader import deep_recursion
from alchemiser_dagster.domain.strategy.trace import (
    FilterTrace,
    IfTrace,
    InverseVolatilityTrace,
    OperandValue,
    RankedCandidate,
    StrategyEvaluation,
    TraceEntry,
    VolatilityShare,
)

Weights: TypeAlias = dict[str, float]
Trace: TypeAlias = list[TraceEntry] | None


def _scaled_sum(parts: Iterable[tuple[float, Weights]]) -> Weights:
    out: Weights = {}
    for share, weights in parts:
        for symbol, weight in weights.items():
            out[symbol] = out.get(symbol, 0.0) + share * weight
    return out


class SymphonyEvaluator:
    """Evaluates one symphony against one `MarketHistory`; reuse it across sessions."""

    def __init__(self, symphony: Symphony, history: MarketHistory) -> None:
        self.symphony = symphony
        self.history = history
        self._memo: dict[tuple[int, int], Weights | StrategyDataError] = {}
        self._stream_memo: dict[tuple[int, int], float | StrategyDataError] = {}
        self._dispatch: dict[type, Callable[[Node, int, Trace], Weights]] = {
            Asset: self._asset,  # type: ignore[dict-item]
            Group: self._group,  # type: ignore[dict-item]
            WeightEqual: self._weight_equal,  # type: ignore[dict-item]
            WeightSpecified: self._weight_specified,  # type: ignore[dict-item]
            WeightInverseVolatility: self._inverse_volatility,  # type: ignore[dict-item]
            If: self._if,  # type: ignore[dict-item]
            Filter: self._filter,  # type: ignore[dict-item]
        }

    # --- public -------------------------------------------------------------------------

    def evaluate(self, session: dt.date, *, trace: bool = False) -> StrategyEvaluation:
        """Weights (and optionally the decision trace) for one session of the input calendar."""
        t = self._position(session)
        entries: list[TraceEntry] | None = [] if trace else None
        with deep_recursion():
            weights = self._eval(self.symphony.body, t, entries)
        return StrategyEvaluation(
            strategy=self.symphony.name,
            source=self.symphony.source,
            session=session,
            weights=self._finish(weights, t),
            options=dict(self.symphony.options),
            trace=tuple(entries or ()),
        )

    def evaluate_range(self, sessions: Iterable[dt.date]) -> dict[dt.date, Weights]:
        """Weights for each session, sharing indicator series and stream memos across days."""
        out: dict[dt.date, Weights] = {}
        with deep_recursion():
            for session in sessions:
                t = self._position(session)
                out[session] = self._finish(self._eval(self.symphony.body, t, None), t)
        return out

    # --- plumbing -----------------------------------------------------------------------

    def _position(self, session: dt.date) -> int:
        try:
            return self.history.position(session)
        except KeyError:
            raise self._data_error(
                InsufficientHistory,
                f"session {session} is not a date of the bars"
                f" ({self.history.sessions[0]} .. {self.history.sessions[-1]})"
                if self.history.sessions
                else "the bars are empty",
                self._root_loc(),
                session,
            ) from None

    def _root_loc(self) -> Loc:
        root = self.symphony.body
        return root.loc

    def _data_error(
        self, kind: type[StrategyDataError], message: str, loc: Loc, session: dt.date | None
    ) -> StrategyDataError:
        return kind(
            message, source=loc.source, line=loc.line, column=loc.column, path=loc.path, session=session
        )

    def _finish(self, weights: Weights, t: int) -> Weights:
        """Root guard: non-negative weights summing to 1, zeros dropped, symbols sorted."""
        kept = {symbol: weights[symbol] for symbol in sorted(weights) if weights[symbol] != 0.0}
        total = math.fsum(kept.values())
        if not kept or abs(total - 1.0) > FLOAT_WEIGHT_SUM_TOLERANCE or min(kept.values()) < 0.0:
            raise self._data_error(
                EmptyAllocation,
                f"the symphony's weights are invalid (sum {total!r}, {len(kept)} symbols)",
                self._root_loc(),
                self.history.sessions[t],
            )
        return kept

    def _eval(self, node: Node, t: int, trace: Trace) -> Weights:
        return self._dispatch[type(node)](node, t, trace)

    def _eval_memo(self, node: Node, t: int) -> Weights:
        """Untraced evaluation as of session t, memoized (errors included)."""
        key = (node.uid, t)
        cached = self._memo.get(key)
        if cached is None:
            try:
                cached = self._eval(node, t, None)
            except StrategyDataError as error:
                cached = error
            self._memo[key] = cached
        if isinstance(cached, StrategyDataError):
            raise cached
        return cached

    def _eval_child(self, node: Node, t: int, trace: Trace) -> Weights:
        """A child that is also a stream candidate: memoized unless its trace is wanted."""
        if trace is None and not isinstance(node, Asset):
            return self._eval_memo(node, t)
        return self._eval(node, t, trace)

    def _vector(self, children: tuple[Node, ...], t: int, trace: Trace) -> Weights:
        if len(children) == 1:
            return self._eval(children[0], t, trace)
        share = 1.0 / len(children)
        return _scaled_sum((share, self._eval(child, t, trace)) for child in children)

    # --- node kinds ---------------------------------------------------------------------

    def _asset(self, node: Asset, t: int, trace: Trace) -> Weights:
        self.history.require_bar(node.symbol, t, node.loc)
        return {node.symbol: 1.0}

    def _group(self, node: Group, t: int, trace: Trace) -> Weights:
        return self._vector(node.children, t, trace)

    def _weight_equal(self, node: WeightEqual, t: int, trace: Trace) -> Weights:
        return self._vector(node.children, t, trace)

    def _weight_specified(self, node: WeightSpecified, t: int, trace: Trace) -> Weights:
        return _scaled_sum(
            (weight, self._eval(child, t, trace))
            for weight, child in zip(node.weights, node.children, strict=True)
            if weight != 0.0
        )

    def _if(self, node: If, t: int, trace: Trace) -> Weights:
        condition = node.condition
        if trace is None and type(condition) is Condition:  # the common case, kept inline
            result = COMPARE[condition.op](self._operand(condition.lhs, t), self._operand(condition.rhs, t))
        elif trace is None:
            result = holds(condition, lambda operand: self._operand(operand, t))
        else:
            checked = traced(
                condition,
                lambda operand: self._operand(operand, t),
                lambda operand, value: self._operand_trace(operand, value, t),
            )
            result = checked.result
            trace.append(
                IfTrace(
                    node=str(node.loc),
                    op=checked.op,
                    lhs=checked.lhs,
                    rhs=checked.rhs,
                    terms=checked.terms,
                    result=result,
                    branch="then" if result else "else",
                )
            )
        return self._vector(node.then if result else node.otherwise, t, trace)

    def _operand(self, operand: Operand, t: int) -> float:
        if isinstance(operand, Number):
            return operand.value
        return self.history.indicator(operand.symbol, operand.indicator, operand.window, t, operand.loc)

    def _operand_trace(self, operand: Operand, value: float, t: int) -> OperandValue:
        if isinstance(operand, IndicatorCall):
            return OperandValue(
                expr=operand.render(),
                value=value,
                symbol=operand.symbol,
                indicator=operand.indicator,
                window=operand.window,
                last_bar_date=self.history.sessions[t],
            )
        return OperandValue(expr=operand.text, value=value)

    def _filter(self, node: Filter, t: int, trace: Trace) -> Weights:
        key = node.key
        scores: list[float] = []
        streams: list[tuple[float, ...] | None] = []
        for candidate in node.candidates:
            if isinstance(candidate, Asset):
                scores.append(
                    self.history.indicator(candidate.symbol, key.indicator, key.window, t, node.loc)
                )
                streams.append(None)
            else:
                returns = self._stream(candidate, key.window, t, node.loc)
                scores.append(self._stream_score(key.indicator, returns, candidate, t, node.loc))
                streams.append(returns)
        order = sorted(range(len(scores)), key=scores.__getitem__, reverse=node.select == "top")
        chosen = order[: min(node.count, len(order))]
        if trace is not None:
            rank_of = {index: rank for rank, index in enumerate(order, start=1)}
            trace.append(
                FilterTrace(
                    node=str(node.loc),
                    key=key.render(),
                    select=node.select,
                    n=node.count,
                    candidates=tuple(
                        RankedCandidate(
                            label=label_of(candidate),
                            score=scores[i],
                            rank=rank_of[i],
                            selected=i in chosen,
                            stream_returns=streams[i],
                        )
                        for i, candidate in enumerate(node.candidates)
                    ),
                )
            )
        share = 1.0 / len(chosen)
        return _scaled_sum((share, self._eval_child(node.candidates[i], t, trace)) for i in sorted(chosen))

    def _inverse_volatility(self, node: WeightInverseVolatility, t: int, trace: Trace) -> Weights:
        sigmas: list[float] = []
        for child in node.children:
            if isinstance(child, Asset):
                sigma = self.history.indicator(child.symbol, "stdev-return", node.window, t, node.loc)
            else:
                returns = self._stream(child, node.window, t, node.loc)
                sigma = self._stream_score("stdev-return", returns, child, t, node.loc)
            if sigma == 0.0:
                raise ZeroVolatility(
                    f"{label_of(child)} has zero {node.window}-session volatility",
                    source=node.loc.source,
                    line=node.loc.line,
                    column=node.loc.column,
                    path=node.loc.path,
                    session=self.history.sessions[t],
                    symbol=child.symbol if isinstance(child, Asset) else None,
                    indicator="stdev-return",
                    window=node.window,
                )
            sigmas.append(sigma)
        inverse = [1.0 / sigma for sigma in sigmas]
        total = math.fsum(inverse)
        shares = [value / total for value in inverse]
        if trace is not None:
            trace.append(
                InverseVolatilityTrace(
                    node=str(node.loc),
                    window=node.window,
                    children=tuple(
                        VolatilityShare(label=label_of(child), sigma=sigma, share=share)
                        for child, sigma, share in zip(node.children, sigmas, shares, strict=True)
                    ),
                )
            )
        return _scaled_sum(
            (share, self._eval_child(child, t, trace))
            for share, child in zip(shares, node.children, strict=True)
        )

    # --- return streams of non-asset candidates (spec §2 steps 1-3) ----------------------

    def _stream(self, node: Node, window: int, t: int, loc: Loc) -> tuple[float, ...]:
        """The candidate's returns r_{t-window+1} .. r_t; yesterday's pick earns today's return."""
        if t - window < 0:
            raise InsufficientHistory(
                f"{label_of(node)} needs a {window}-session return stream, only {t} earlier"
                f" sessions in the bars",
                source=loc.source,
                line=loc.line,
                column=loc.column,
                path=loc.path,
                session=self.history.sessions[t],
                indicator="return-stream",
                window=window,
            )
        return tuple(self._stream_return(node, k) for k in range(t - window + 1, t + 1))

    def _stream_return(self, node: Node, k: int) -> float:
        key = (node.uid, k)
        cached = self._stream_memo.get(key)
        if cached is None:
            try:
                held = self._eval_memo(node, k - 1)
                cached = math.fsum(
                    weight * self.history.daily_return(symbol, k, node.loc) for symbol, weight in held.items()
                )
            except StrategyDataError as error:
                cached = error
            self._stream_memo[key] = cached
        if isinstance(cached, StrategyDataError):
            raise cached
        return cached

    def _stream_score(
        self, indicator: str, returns: tuple[float, ...], node: Node, t: int, loc: Loc
    ) -> float:
        score = stream_metric(indicator, np.asarray(returns, dtype=np.float64))
        if not math.isfinite(score):
            raise BadIndicatorValue(
                f"{indicator} of {label_of(node)}'s return stream is not finite",
                source=loc.source,
                line=loc.line,
                column=loc.column,
                path=loc.path,
                session=self.history.sessions[t],
                indicator=indicator,
                window=len(returns),
            )
        return score

"""The typed, frozen syntax tree of a symphony.

Nodes are slotted frozen dataclasses rather than pydantic models: the largest
symphonies have ~100,000 nodes and are built on every load. Each node carries its
source location (for errors and the decision trace) and a `uid`, unique within its
symphony, which the evaluator uses to memoize by (node, session).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

ComparisonOp = Literal[">", "<", ">=", "<=", "="]
BoolOp = Literal["and", "or"]
SelectMode = Literal["top", "bottom"]


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a node stands: file plus 1-based line and column of its opening bracket
    (text), or file plus the JSON path of its object (score JSON: `$.children[0]...`)."""

    source: str
    line: int
    column: int
    path: str | None = None

    def __str__(self) -> str:
        if self.path is not None:
            return f"{self.source}:{self.path}"
        return f"{self.source}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    text: str


@dataclass(frozen=True, slots=True)
class IndicatorCall:
    """`(IND "SYM" {:window n})` inside a condition; `window` is 1 for current-price."""

    indicator: str
    symbol: str
    window: int
    loc: Loc

    def render(self) -> str:
        if self.indicator == "current-price":
            return f'(current-price "{self.symbol}")'
        return f'({self.indicator} "{self.symbol}" {{:window {self.window}}})'


Operand = Number | IndicatorCall


@dataclass(frozen=True, slots=True)
class Condition:
    op: ComparisonOp
    lhs: Operand
    rhs: Operand
    loc: Loc


@dataclass(frozen=True, slots=True)
class BoolCondition:
    """`(and c1 c2 ...)` / `(or ...)`: evaluated left to right, stopping at the first
    false (and) or first true (or)."""

    op: BoolOp
    terms: tuple[Predicate, ...]
    loc: Loc


Predicate = Condition | BoolCondition


@dataclass(frozen=True, slots=True)
class SortKey:
    """`(IND {:window n})` of a filter: the symbol is supplied per candidate."""

    indicator: str
    window: int

    def render(self) -> str:
        if self.indicator == "current-price":
            return "(current-price)"
        return f"({self.indicator} {{:window {self.window}}})"


@dataclass(frozen=True, slots=True)
class Asset:
    symbol: str
    name: str | None
    loc: Loc
    uid: int


@dataclass(frozen=True, slots=True)
class Group:
    """A named group; several children are weighted equally."""

    name: str
    children: tuple[Node, ...]
    loc: Loc
    uid: int


@dataclass(frozen=True, slots=True)
class WeightEqual:
    children: tuple[Node, ...]
    loc: Loc
    uid: int


@dataclass(frozen=True, slots=True)
class WeightSpecified:
    """Weights are fractions summing to 1; percent forms (60 40) are divided by 100 at load."""

    weights: tuple[float, ...]
    children: tuple[Node, ...]
    loc: Loc
    uid: int


@dataclass(frozen=True, slots=True)
class WeightInverseVolatility:
    window: int
    children: tuple[Node, ...]
    loc: Loc
    uid: int


@dataclass(frozen=True, slots=True)
class If:
    """Both branches are vectors of nodes; several nodes are weighted equally."""

    condition: Predicate
    then: tuple[Node, ...]
    otherwise: tuple[Node, ...]
    loc: Loc
    uid: int


@dataclass(frozen=True, slots=True)
class Filter:
    key: SortKey
    select: SelectMode
    count: int
    candidates: tuple[Node, ...]
    loc: Loc
    uid: int


Node = Asset | Group | WeightEqual | WeightSpecified | WeightInverseVolatility | If | Filter


@dataclass(frozen=True, slots=True)
class Symphony:
    """One loaded symphony (text or score JSON).

    `options` keep the text's keys (`rebalance-frequency`, `rebalance-threshold`, ...);
    a score JSON's `rebalance` / `rebalance-corridor-width` are stored under those.
    """

    name: str
    options: dict[str, str | float | None] = field(hash=False)
    body: Node
    source: str
    node_count: int
    symbols: frozenset[str]
    max_window: int


#: Control characters: they would split an error's or a trace's one line.
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def label_of(node: Node) -> str:
    """How a filter candidate is named in the trace: symbol, group name, else operator."""
    if isinstance(node, Asset):
        return node.symbol
    if isinstance(node, Group):
        # Group names are free text; a control character would split an error's one line.
        return CONTROL_CHARS.sub(lambda m: f"\\x{ord(m.group()):02x}", node.name)
    return {
        WeightEqual: "weight-equal",
        WeightSpecified: "weight-specified",
        WeightInverseVolatility: "weight-inverse-volatility",
        If: "if",
        Filter: "filter",
    }[type(node)]

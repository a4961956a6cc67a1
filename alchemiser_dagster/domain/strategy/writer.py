"""Write a symphony back out as canonical text: the `.clj` form of `strategy convert`.

One symphony has many spellings (positional windows, percent weights, score JSON, ...);
this module gives it exactly one, so that converting any of them yields the same bytes
and a diff between two versions shows only what changed. The layout puts one node per
line, indents children by two spaces, closes a node's vector on a line of its own and
writes every indicator with `{:window N}`. An `if` reads like `if (...) { } else { }`:

    (if (> (rsi "SPY" {:window 10}) 80) [
      (asset "UVXY")
    ] [
      (asset "SPY")
    ])

Numbers are written as the shortest decimal that reads back to the same float, strings
with only the escapes the grammar defines (spec §1), options in a fixed order. The
asset class and trading setting are always written (`:asset-class "EQUITIES"` and
`:rebalance-frequency :daily`, or `:none` beside a threshold, when the source left them to
Composer's defaults, spec §10), so the canonical text states everything that decides what
the symphony trades, and its score JSON (`score_writer.py`) carries the same facts.
"""

from __future__ import annotations

import dataclasses
import math
import re
from decimal import Decimal
from typing import Any

from alchemiser_dagster.domain.strategy.ast import (
    Asset,
    BoolCondition,
    Filter,
    Group,
    If,
    IndicatorCall,
    Node,
    Number,
    Operand,
    Predicate,
    SortKey,
    Symphony,
    WeightEqual,
    WeightInverseVolatility,
    WeightSpecified,
)
from alchemiser_dagster.domain.strategy.reader import deep_recursion

INDENT = "  "
# Written when the source leaves them out: Composer's defaults (spec §1, §10).
DEFAULT_OPTIONS: dict[str, str | float | None] = {"asset-class": "EQUITIES", "rebalance-frequency": "daily"}
# Written first, in this order; any other option follows in name order.
OPTION_ORDER = ("asset-class", "rebalance-frequency", "rebalance-threshold")
# Options whose value is a keyword in the text (`:rebalance-frequency :daily`).
KEYWORD_OPTIONS = frozenset({"rebalance-frequency"})
_KEYWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}
_IGNORED_FIELDS = frozenset({"loc", "uid", "text", "source", "node_count", "symbols", "max_window"})


def to_clj(symphony: Symphony) -> str:
    """The canonical text of `symphony`, ending with a newline."""
    lines = [f"(defsymphony {quote(symphony.name)} {options_text(canonical_options(symphony))}"]
    with deep_recursion():
        _node_lines(symphony.body, 1, "", lines)
    lines.append(")")
    return "\n".join(lines) + "\n"


def canonical_options(symphony: Symphony) -> dict[str, str | float | None]:
    """The options in their written order, with the defaults made explicit.

    A threshold with no frequency is Composer's threshold-only setting (its score JSON says
    `"rebalance": "none"` beside the corridor width), so the explicit frequency is `:none`
    then, never `:daily`, which would add a daily trigger the source did not have.
    """
    defaults = dict(DEFAULT_OPTIONS)
    if symphony.options.get("rebalance-threshold") is not None:
        defaults["rebalance-frequency"] = "none"
    options = defaults | symphony.options
    ordered = {key: options[key] for key in OPTION_ORDER if key in options}
    ordered.update({key: options[key] for key in sorted(options) if key not in ordered})
    return ordered


def options_text(options: dict[str, str | float | None]) -> str:
    parts = []
    for key, value in options.items():
        if value is None:
            text = "nil"
        elif isinstance(value, str):
            keyword = key in KEYWORD_OPTIONS and _KEYWORD.fullmatch(value)
            text = f":{value}" if keyword else quote(value)
        else:
            text = format_number(value)
        parts.append(f":{key} {text}")
    return "{" + ", ".join(parts) + "}"


def quote(text: str) -> str:
    """A string literal using only the grammar's escapes: `\\"` `\\\\` `\\n` `\\t`."""
    return '"' + "".join(_STRING_ESCAPES.get(char, char) for char in text) + '"'


def format_number(value: float) -> str:
    """The shortest decimal (grammar `-?[0-9]+(.[0-9]+)?`) that reads back to `value`."""
    if not math.isfinite(value):
        raise ValueError(f"{value} cannot be written as a number literal")
    if value == int(value):
        return str(int(value))
    # repr is the shortest round-tripping form but may use an exponent (1e-05).
    return format(Decimal(repr(float(value))), "f")


def predicate_text(predicate: Predicate) -> str:
    if isinstance(predicate, BoolCondition):
        return f"({predicate.op} {' '.join(predicate_text(term) for term in predicate.terms)})"
    return f"({predicate.op} {operand_text(predicate.lhs)} {operand_text(predicate.rhs)})"


def operand_text(operand: Operand) -> str:
    if isinstance(operand, Number):
        return format_number(operand.value)
    return indicator_text(operand)


def indicator_text(call: IndicatorCall) -> str:
    if call.indicator == "current-price":
        return f"(current-price {quote(call.symbol)})"
    return f"({call.indicator} {quote(call.symbol)} {{:window {call.window}}})"


def sort_key_text(key: SortKey) -> str:
    if key.indicator == "current-price":
        return "(current-price)"
    return f"({key.indicator} {{:window {key.window}}})"


def _vector_lines(children: tuple[Node, ...], depth: int, lines: list[str]) -> None:
    for child in children:
        _node_lines(child, depth, "", lines)


def _node_lines(node: Node, depth: int, prefix: str, lines: list[str]) -> None:
    """Append `node`'s lines; `prefix` precedes its head (a weight-specified weight)."""
    pad = INDENT * depth
    head = pad + prefix
    if isinstance(node, Asset):
        name = f" {quote(node.name)}" if node.name is not None else ""
        lines.append(f"{head}(asset {quote(node.symbol)}{name})")
    elif isinstance(node, WeightSpecified):
        lines.append(f"{head}(weight-specified")
        for weight, child in zip(node.weights, node.children, strict=True):
            _node_lines(child, depth + 1, f"{format_number(weight)} ", lines)
        lines.append(f"{pad})")
    elif isinstance(node, If):
        lines.append(f"{head}(if {predicate_text(node.condition)} [")
        _vector_lines(node.then, depth + 1, lines)
        lines.append(f"{pad}] [")
        _vector_lines(node.otherwise, depth + 1, lines)
        lines.append(f"{pad}])")
    else:
        lines.append(f"{head}{_container_head(node)} [")
        _vector_lines(node.children if not isinstance(node, Filter) else node.candidates, depth + 1, lines)
        lines.append(f"{pad}])")


def _container_head(node: Group | WeightEqual | WeightInverseVolatility | Filter) -> str:
    if isinstance(node, Group):
        return f"(group {quote(node.name)}"
    if isinstance(node, WeightEqual):
        return "(weight-equal"
    if isinstance(node, WeightInverseVolatility):
        return f"(weight-inverse-volatility {node.window}"
    return f"(filter {sort_key_text(node.key)} (select-{node.select} {node.count})"


def strategy_key(symphony: Symphony) -> Any:
    """What decides a symphony's trades, independent of spelling and source positions.

    Options are taken with their defaults made explicit, as the writers state them.
    """
    return (symphony.name, structural_key(canonical_options(symphony)), structural_key(symphony.body))


def structural_key(value: Any) -> Any:
    """A comparable value of a symphony or node that ignores where it came from.

    Two loads of the same strategy from different spellings (text, score JSON) differ in
    locations, uids and number spellings only; this key drops those, so equal keys mean
    the same strategy. Options compare by value.
    """
    with deep_recursion():
        return _key(value)


def _key(value: Any) -> Any:
    if isinstance(value, Number):
        return ("Number", value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = (f.name for f in dataclasses.fields(value) if f.name not in _IGNORED_FIELDS)
        return (type(value).__name__, *(_key(getattr(value, name)) for name in fields))
    if isinstance(value, tuple):
        return tuple(_key(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, _key(item)) for key, item in value.items()))
    return value

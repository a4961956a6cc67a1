"""Write a symphony as Composer score JSON: the `.json` form of `strategy convert`.

Field names and shapes mirror Composer's own exports (the `oc__*.json` samples) and the
schema of Composer's MCP server (`invest-composer/composer-trade-mcp`,
`schemas/symphony_score_schema.py`): steps `root`, `asset`, `group`, `wt-cash-equal`,
`wt-cash-specified` (each child's `weight` is `{"num", "den"}`), `wt-inverse-vol`
(`window-days`), `if` with two `if-child`ren and `filter`. A comparison is written in
both condition layouts Composer exports: the flat `lhs-*`/`rhs-*` fields (when its left
side is an indicator) and the structured `condition`; and/or only have the structured
form (`compound`, `all`/`any`).

The mapping is one to one with the AST, so reading the JSON back gives the same
strategy (spec §9): a node's children are written as they are, never wrapped in an extra
weight step, and every weight is a fraction `num/den` that divides back to the very same
float. Ids are UUIDs derived from the symphony name and the step's number in writing order, so the
same symphony always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

from alchemiser_dagster.domain.errors import DslValidationError
from alchemiser_dagster.domain.portfolio.trading import FREQUENCY_OPTION, THRESHOLD_OPTION
from alchemiser_dagster.domain.strategy import rules, score_json
from alchemiser_dagster.domain.strategy.ast import (
    Asset,
    BoolCondition,
    Condition,
    Filter,
    Group,
    If,
    IndicatorCall,
    Node,
    Number,
    Operand,
    Predicate,
    Symphony,
    WeightEqual,
    WeightInverseVolatility,
    WeightSpecified,
)
from alchemiser_dagster.domain.strategy.reader import deep_recursion
from alchemiser_dagster.domain.strategy.writer import canonical_options

JsonObject = dict[str, Any]

ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/alchemiser-dagster/score-json")
# The reader's tables turned around, so a name pairing is stated once.
COMPARATORS = {ours: theirs for theirs, ours in score_json.COMPARATORS.items()}
COMPOUND_OPERATORS = {ours: theirs for theirs, ours in score_json.COMPOUND_OPERATORS.items()}
# Our indicator names that Composer spells differently in score JSON.
JSON_FN_NAMES = {ours: theirs for theirs, ours in rules.COMPOSER_INDICATOR_NAMES.items()}
# Symphony options and the root field each one is written to.
ROOT_FIELDS = {
    FREQUENCY_OPTION: "rebalance",
    THRESHOLD_OPTION: "rebalance-corridor-width",
    "asset-class": "asset_class",
}


def to_score_json_text(symphony: Symphony) -> str:
    """The score JSON of `symphony` as text: one-space indents as Composer exports, UTF-8, final newline."""
    lines: list[str] = []
    with deep_recursion():
        _pretty(to_score_json(symphony), "", "", lines)
    return "\n".join(lines) + "\n"


def _pretty(value: object, indent: str, prefix: str, lines: list[str]) -> None:
    """`json.dumps(value, indent=1)` line by line, in time linear in the output.

    The standard indenting encoder chains one generator per nesting level, so every
    chunk of a 190-level symphony passes through 190 frames (seconds for Starburst).
    """
    if isinstance(value, dict) and value:
        lines.append(f"{indent}{prefix}{{")
        items = list(value.items())
        for i, (key, item) in enumerate(items):
            _pretty(item, indent + " ", json.dumps(key, ensure_ascii=False) + ": ", lines)
            if i < len(items) - 1:
                lines[-1] += ","
        lines.append(f"{indent}}}")
    elif isinstance(value, list) and value:
        lines.append(f"{indent}{prefix}[")
        for i, item in enumerate(value):
            _pretty(item, indent + " ", "", lines)
            if i < len(value) - 1:
                lines[-1] += ","
        lines.append(f"{indent}]")
    else:
        lines.append(f"{indent}{prefix}{json.dumps(value, ensure_ascii=False)}")


def to_score_json(symphony: Symphony) -> JsonObject:
    """The score JSON object of `symphony` (a `root` step holding its body)."""
    root: JsonObject = {"id": step_id(symphony.name, 0), "step": "root", "name": symphony.name}
    root["description"] = ""
    for key, value in canonical_options(symphony).items():
        if key not in ROOT_FIELDS:
            loc = symphony.body.loc
            raise DslValidationError(
                f"option :{key} has no score-JSON field (known: {', '.join(ROOT_FIELDS)});"
                " remove it to convert this symphony",
                source=symphony.source,
                line=loc.line,
                column=loc.column,
            )
        root[ROOT_FIELDS[key]] = value
    with deep_recursion():
        root["children"] = [_Writer(symphony.name).node(symphony.body)]
    return root


def weight_fraction(weight: float) -> JsonObject:
    """`{"num", "den"}` whose quotient is exactly `weight`.

    Percent over 100 as Composer writes it (0.35 -> 35/100) when that is exact, else
    the shortest decimal over a power of ten, else the float's own binary fraction.
    Each candidate is checked with float division, the way any reader may compute it.
    """
    decimal = Decimal(repr(float(weight)))
    percent = decimal * 100
    candidates: list[tuple[int | float, int]] = []
    if percent == percent.to_integral_value():
        candidates.append((int(percent), 100))
    else:
        candidates.append((float(percent), 100))
        places = -int(decimal.as_tuple().exponent)
        candidates.append((int(decimal.scaleb(places)), 10**places))
    candidates.append(float(weight).as_integer_ratio())
    for num, den in candidates:
        if float(num) / float(den) == weight:
            return {"num": num, "den": den}
    raise AssertionError(f"no exact fraction for {weight!r}")  # as_integer_ratio always is


def step_id(name: str, number: int) -> str:
    """`str(uuid.uuid5(namespace, f"{name}\\0{number}"))`, without uuid's per-call overhead
    (a tenth of the time for 10,000 steps)."""
    digest = bytearray(hashlib.sha1(ID_NAMESPACE.bytes + f"{name}\x00{number}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _json_number(value: float) -> int | float:
    """Whole numbers without a fraction part (80, not 80.0), as Composer writes them."""
    return int(value) if value == int(value) and abs(value) < 2**53 else value


def _fn(indicator: str) -> str:
    return JSON_FN_NAMES.get(indicator, indicator)


def _params(call: IndicatorCall) -> JsonObject:
    return {} if call.indicator == "current-price" else {"window": call.window}


class _Writer:
    """Builds the steps; each gets the next id of the symphony's id sequence."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    def step(self, step: str, **fields: Any) -> JsonObject:
        self.count += 1
        return {"id": step_id(self.name, self.count), "step": step, **fields}

    def children(self, nodes: tuple[Node, ...]) -> list[JsonObject]:
        return [self.node(child) for child in nodes]

    def node(self, node: Node) -> JsonObject:
        if isinstance(node, Asset):
            out = self.step("asset", ticker=node.symbol)
            if node.name is not None:
                out["name"] = node.name
            return out
        if isinstance(node, Group):
            return self.step("group", name=node.name, children=self.children(node.children))
        if isinstance(node, WeightEqual):
            return self.step("wt-cash-equal", children=self.children(node.children))
        if isinstance(node, WeightSpecified):
            children = self.children(node.children)
            for child, weight in zip(children, node.weights, strict=True):
                child["weight"] = weight_fraction(weight)
            return self.step("wt-cash-specified", children=children)
        if isinstance(node, WeightInverseVolatility):
            children = self.children(node.children)
            return self.step("wt-inverse-vol", **{"window-days": node.window}, children=children)
        if isinstance(node, If):
            return self.if_step(node)
        return self.filter_step(node)

    def if_step(self, node: If) -> JsonObject:
        then = self.step("if-child", **{"is-else-condition?": False})
        if isinstance(node.condition, Condition) and isinstance(node.condition.lhs, IndicatorCall):
            then.update(_flat_condition(node.condition, node.condition.lhs))
        then["condition"] = _structured(node.condition)
        then["children"] = self.children(node.then)
        otherwise = self.step("if-child", **{"is-else-condition?": True})
        otherwise["children"] = self.children(node.otherwise)
        return self.step("if", children=[then, otherwise])

    def filter_step(self, node: Filter) -> JsonObject:
        key = node.key
        params = {} if key.indicator == "current-price" else {"window": key.window}
        return self.step(
            "filter",
            **{"sort-by-fn": _fn(key.indicator), "sort-by-fn-params": params},
            **{"select-fn": node.select, "select-n": node.count},
            children=self.children(node.candidates),
        )


def _flat_condition(condition: Condition, lhs: IndicatorCall) -> JsonObject:
    """The older flat layout; it has no place for a number on the left."""
    out: JsonObject = {
        "comparator": COMPARATORS[condition.op],
        "lhs-fn": _fn(lhs.indicator),
        "lhs-val": lhs.symbol,
        "lhs-fn-params": _params(lhs),
    }
    rhs = condition.rhs
    if isinstance(rhs, Number):
        out.update({"rhs-fixed-value?": True, "rhs-val": _json_number(rhs.value)})
    else:
        out.update(
            {
                "rhs-fixed-value?": False,
                "rhs-fn": _fn(rhs.indicator),
                "rhs-val": rhs.symbol,
                "rhs-fn-params": _params(rhs),
            }
        )
    return out


def _structured(predicate: Predicate) -> JsonObject:
    if isinstance(predicate, BoolCondition):
        return {
            "condition-type": "compound",
            "operator": COMPOUND_OPERATORS[predicate.op],
            "conditions": [_structured(term) for term in predicate.terms],
        }
    return {
        "condition-type": "binary",
        "comparator": COMPARATORS[predicate.op],
        "lhs": _operand(predicate.lhs),
        "rhs": _operand(predicate.rhs),
    }


def _operand(operand: Operand) -> JsonObject:
    if isinstance(operand, Number):
        return {"constant": _json_number(operand.value)}
    return {"fn": _fn(operand.indicator), "ticker": operand.symbol, "params": _params(operand)}

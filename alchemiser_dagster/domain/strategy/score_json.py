"""Read a Composer score JSON (what Composer's editor and API export) into the AST.

The export is a tree of `{"step": ...}` objects; older and newer exports mix two
condition layouts (flat `lhs-fn`/`rhs-val` fields and a structured `condition`), numbers
arrive as numbers or numeric strings, tickers as `SPY` or `EQUITIES::SPY//USD`. All of
it maps onto the same frozen AST as the text (spec §9), under the same static rules
(`rules.py`). Keys the engine does not need are ignored; an unknown step, comparator or
fn is a `DslValidationError`. Every error names the JSON path of the offending object
(`FILE:$.children[0].children[2]`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Final, cast

from alchemiser_dagster.domain.errors import DslParseError, DslValidationError
from alchemiser_dagster.domain.portfolio.trading import FREQUENCY_OPTION, THRESHOLD_OPTION
from alchemiser_dagster.domain.strategy import rules
from alchemiser_dagster.domain.strategy.ast import (
    Asset,
    BoolCondition,
    ComparisonOp,
    Condition,
    Filter,
    Group,
    If,
    IndicatorCall,
    Loc,
    Node,
    Number,
    Operand,
    Predicate,
    SelectMode,
    SortKey,
    Symphony,
    WeightEqual,
    WeightInverseVolatility,
    WeightSpecified,
)
from alchemiser_dagster.domain.strategy.reader import MAX_DEPTH, deep_recursion
from alchemiser_dagster.domain.strategy.rules import RuleViolation

COMPARATORS: Final[Mapping[str, ComparisonOp]] = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "="}
COMPOUND_OPERATORS: Final = {"all": "and", "any": "or"}
NODE_STEPS: Final = ("asset", "group", "wt-cash-equal", "wt-cash-specified", "wt-inverse-vol", "if", "filter")
# Each AST level costs the evaluator a few Python frames: the same bound as text nesting.
MAX_NODE_DEPTH: Final = MAX_DEPTH // 2
_NUMERIC = re.compile(r"\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")

JsonObject = dict[str, object]


def parse_score_json(text: str, source: str = "<string>") -> Symphony:
    """Parse and validate a score JSON text; errors name `source` and a JSON path."""
    with deep_recursion():
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise DslParseError(
                f"invalid JSON: {error.msg}", source=source, line=error.lineno, column=error.colno
            ) from error
        except RecursionError:
            raise DslParseError(
                f"JSON nested deeper than {MAX_DEPTH}", source=source, line=1, column=1
            ) from None
        return _ScoreReader(source).symphony(document)


class _ScoreReader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.next_uid = 0
        self.symbols: set[str] = set()
        self.max_window = 1

    # --- helpers ----------------------------------------------------------------------

    def loc(self, path: str) -> Loc:
        return Loc(self.source, 0, 0, path)

    def error(self, path: str, message: str) -> DslValidationError:
        return DslValidationError(message, source=self.source, path=path)

    def uid(self) -> int:
        self.next_uid += 1
        return self.next_uid

    def obj(self, value: object, path: str, what: str) -> JsonObject:
        if not isinstance(value, dict):
            raise self.error(path, f"{what} must be a JSON object, found {_kind(value)}")
        return cast(JsonObject, value)

    def text(self, node: JsonObject, key: str, path: str, *, optional: bool = False) -> str | None:
        value = node.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self.error(path, f'"{key}" must be a string, found {_kind(value)}')
        return value

    def number(self, value: object, path: str, what: str) -> float:
        """A JSON number or a numeric string (`"80"`, `"0.5"`), finite."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.error(path, f"{what} must be a number, found {_kind(value)}")
        if isinstance(value, str) and not _NUMERIC.fullmatch(value):
            raise self.error(path, f"{what} must be a number, found {value[:40]!r}")
        number = float(value)
        if not math.isfinite(number):
            raise self.error(path, f"{what} must be a finite number, found {str(value)[:40]}")
        return number

    def count(self, value: object, path: str, what: str) -> int:
        try:
            return rules.window(self.number(value, path, what), what)
        except RuleViolation as violation:
            raise self.error(path, str(violation)) from None

    def ticker(self, value: object, path: str, what: str) -> str:
        if not isinstance(value, str):
            raise self.error(path, f"{what} must be a string, found {_kind(value)}")
        try:
            symbol = rules.ticker(value, what)
        except RuleViolation as violation:
            raise self.error(path, str(violation)) from None
        self.symbols.add(symbol)
        return symbol

    def fn(self, value: object, path: str, key: str) -> str:
        name = rules.JSON_FN_NAMES.get(value) if isinstance(value, str) else None
        if name is None:
            raise self.error(
                path,
                f'unknown fn {value!r} in "{key}"; expected one of {", ".join(sorted(rules.JSON_FN_NAMES))}',
            )
        return name

    def window(self, indicator: str, value: object, path: str, what: str) -> int:
        window = self.count(value, path, what)
        try:
            rules.indicator_window(indicator, window)
        except RuleViolation as violation:
            raise self.error(path, str(violation)) from None
        self.max_window = max(self.max_window, window)
        return window

    def children(self, node: JsonObject, path: str, depth: int) -> tuple[Node, ...]:
        items = node.get("children")
        if not isinstance(items, list) or not items:
            raise self.error(path, f'"children" must be a non-empty list, found {_kind(items)}')
        return tuple(self.node(item, f"{path}.children[{i}]", depth + 1) for i, item in enumerate(items))

    # --- steps ------------------------------------------------------------------------

    def symphony(self, document: object) -> Symphony:
        root = self.obj(document, "$", "a score")
        if root.get("step") != "root":
            raise self.error(
                "$", f'a score must start with {{"step": "root", ...}}, found step {root.get("step")!r}'
            )
        name = self.text(root, "name", "$")
        assert name is not None
        options = self.options(root)
        body = self.children(root, "$", 0)
        top = body[0] if len(body) == 1 else WeightEqual(body, self.loc("$"), self.uid())
        return Symphony(
            name=name,
            options=options,
            body=top,
            source=self.source,
            node_count=self.next_uid,
            symbols=frozenset(self.symbols),
            max_window=self.max_window,
        )

    def options(self, root: JsonObject) -> dict[str, str | float | None]:
        """`rebalance` and `rebalance-corridor-width`, under the text's option names."""
        out: dict[str, str | float | None] = {}
        try:
            if root.get("rebalance") is not None:
                out[FREQUENCY_OPTION] = rules.frequency(root["rebalance"])
            if root.get("rebalance-corridor-width") is not None:
                width = root["rebalance-corridor-width"]
                if isinstance(width, str) and _NUMERIC.fullmatch(width):
                    width = float(width)
                out[THRESHOLD_OPTION] = rules.threshold(width)
        except RuleViolation as violation:
            raise self.error("$", str(violation)) from None
        return out

    def node(self, value: object, path: str, depth: int) -> Node:
        node = self.obj(value, path, "a step")
        if depth > MAX_NODE_DEPTH:
            raise self.error(path, f"steps nested deeper than {MAX_NODE_DEPTH}")
        step = node.get("step")
        loc = self.loc(path)
        if step == "asset":
            if node.get("children"):
                raise self.error(path, "an asset step cannot have children")
            symbol = self.ticker(node.get("ticker"), path, "asset ticker")
            return Asset(symbol, self.text(node, "name", path, optional=True), loc, self.uid())
        if step == "group":
            name = self.text(node, "name", path, optional=True) or ""
            return Group(name, self.children(node, path, depth), loc, self.uid())
        if step == "wt-cash-equal":
            return WeightEqual(self.children(node, path, depth), loc, self.uid())
        if step == "wt-cash-specified":
            return self.weight_specified(node, path, depth)
        if step == "wt-inverse-vol":
            window = self.count(node.get("window-days"), path, '"window-days"')
            try:
                rules.inverse_volatility_window(window)
            except RuleViolation as violation:
                raise self.error(path, str(violation)) from None
            self.max_window = max(self.max_window, window)
            return WeightInverseVolatility(window, self.children(node, path, depth), loc, self.uid())
        if step == "if":
            return self.if_step(node, path, depth)
        if step == "filter":
            return self.filter(node, path, depth)
        if step == "empty":
            # Composer's schema calls it the "Empty/cash placeholder"; its MCP tells authors
            # to use BIL instead of an empty block to hold cash. The engine has no cash
            # position, and dropping the share would renormalize the siblings silently.
            raise self.error(
                path,
                'an "empty" step holds its share in cash in Composer; this engine has no cash'
                " position: replace it with a cash-like asset such as BIL",
            )
        raise self.error(path, f"unknown step {step!r}; expected one of {', '.join(NODE_STEPS)}")

    def weight_specified(self, node: JsonObject, path: str, depth: int) -> WeightSpecified:
        children = self.children(node, path, depth)
        raw = cast(list[object], node["children"])
        values: list[float] = []
        for i, child in enumerate(raw):
            child_path = f"{path}.children[{i}]"
            weight = cast(JsonObject, child).get("weight")
            if not isinstance(weight, dict):
                raise self.error(child_path, 'a child of wt-cash-specified needs "weight": {"num", "den"}')
            num = self.number(weight.get("num"), child_path, "weight num")
            den = self.number(weight.get("den"), child_path, "weight den")
            if den <= 0:
                raise self.error(child_path, f"weight den must be > 0, found {den:g}")
            values.append(num / den)
        try:
            weights = rules.weights(values)
        except RuleViolation as violation:
            raise self.error(path, str(violation)) from None
        return WeightSpecified(weights, children, self.loc(path), self.uid())

    def filter(self, node: JsonObject, path: str, depth: int) -> Filter:
        indicator = self.fn(node.get("sort-by-fn"), path, "sort-by-fn")
        if indicator == "current-price":
            key = SortKey(indicator, 1)
        else:
            params = node.get("sort-by-fn-params")
            raw = params.get("window") if isinstance(params, dict) else node.get("sort-by-window-days")
            key = SortKey(indicator, self.window(indicator, raw, path, "sort-by window"))
        select = node.get("select-fn")
        if select not in ("top", "bottom"):
            raise self.error(path, f'"select-fn" must be "top" or "bottom", found {select!r}')
        count = self.count(node.get("select-n"), path, '"select-n"')
        candidates = rules.unique_candidates(self.children(node, path, depth))
        try:
            rules.check_sort_key(key, candidates)
        except RuleViolation as violation:
            raise self.error(path, str(violation)) from None
        mode: SelectMode = select
        return Filter(key, mode, count, candidates, self.loc(path), self.uid())

    def if_step(self, node: JsonObject, path: str, depth: int) -> If:
        items = node.get("children")
        if not isinstance(items, list) or len(items) != 2:
            raise self.error(path, 'an "if" step needs exactly two "if-child" children (condition and else)')
        branches: dict[bool, tuple[str, JsonObject]] = {}
        for i, item in enumerate(items):
            child_path = f"{path}.children[{i}]"
            child = self.obj(item, child_path, "an if-child")
            if child.get("step") != "if-child":
                raise self.error(
                    child_path, f'a child of "if" must be an "if-child", found step {child.get("step")!r}'
                )
            is_else = child.get("is-else-condition?") is True
            if is_else in branches:
                raise self.error(
                    path, 'an "if" step needs one if-child with "is-else-condition?" true and one without'
                )
            branches[is_else] = (child_path, child)
        then_path, then_child = branches[False]
        else_path, else_child = branches[True]
        condition = self.condition(then_child, then_path)
        then = self.children(then_child, then_path, depth)
        otherwise = self.children(else_child, else_path, depth)
        return If(condition, then, otherwise, self.loc(path), self.uid())

    # --- conditions -------------------------------------------------------------------

    def condition(self, child: JsonObject, path: str) -> Predicate:
        """The structured `condition` when present (it wins), else the flat fields."""
        structured = child.get("condition")
        if structured is not None:
            return self.structured(structured, f"{path}.condition", 0)
        op = self.comparator(child.get("comparator"), path)
        lhs = self.flat_indicator(child, "lhs", path)
        if child.get("rhs-fixed-value?") is True:
            rhs: Operand = self.constant(child.get("rhs-val"), path, '"rhs-val"')
        elif child.get("rhs-fn") is not None:
            rhs = self.flat_indicator(child, "rhs", path)
        else:
            raise self.error(path, 'the right side needs "rhs-fixed-value?": true or an "rhs-fn"')
        return Condition(op, lhs, rhs, self.loc(path))

    def comparator(self, value: object, path: str) -> ComparisonOp:
        op = COMPARATORS.get(value) if isinstance(value, str) else None
        if op is None:
            raise self.error(path, f"unknown comparator {value!r}; expected one of {', '.join(COMPARATORS)}")
        return op

    def constant(self, value: object, path: str, what: str) -> Number:
        number = self.number(value, path, what)
        text = value.strip() if isinstance(value, str) else _number_text(number)
        return Number(number, text)

    def flat_indicator(self, child: JsonObject, side: str, path: str) -> IndicatorCall:
        indicator = self.fn(child.get(f"{side}-fn"), path, f"{side}-fn")
        symbol = self.ticker(child.get(f"{side}-val"), path, f'"{side}-val"')
        if indicator == "current-price":
            return IndicatorCall(indicator, symbol, 1, self.loc(path))
        params = child.get(f"{side}-fn-params")
        raw = params.get("window") if isinstance(params, dict) else child.get(f"{side}-window-days")
        window = self.window(indicator, raw, path, f"{side} window")
        return IndicatorCall(indicator, symbol, window, self.loc(path))

    def structured(self, value: object, path: str, depth: int) -> Predicate:
        condition = self.obj(value, path, "a condition")
        if depth > MAX_NODE_DEPTH:
            raise self.error(path, f"conditions nested deeper than {MAX_NODE_DEPTH}")
        kind = condition.get("condition-type")
        if kind == "binary":
            op = self.comparator(condition.get("comparator"), path)
            lhs = self.operand(condition.get("lhs"), f"{path}.lhs")
            rhs = self.operand(condition.get("rhs"), f"{path}.rhs")
            return Condition(op, lhs, rhs, self.loc(path))
        if kind == "compound":
            operator = condition.get("operator")
            if operator not in COMPOUND_OPERATORS:
                raise self.error(path, f'compound "operator" must be "all" or "any", found {operator!r}')
            items = condition.get("conditions")
            if not isinstance(items, list) or not items:
                raise self.error(path, '"conditions" must be a non-empty list')
            terms = tuple(
                self.structured(item, f"{path}.conditions[{i}]", depth + 1) for i, item in enumerate(items)
            )
            if len(terms) == 1:
                return terms[0]
            return BoolCondition("and" if operator == "all" else "or", terms, self.loc(path))
        raise self.error(path, f'"condition-type" must be "binary" or "compound", found {kind!r}')

    def operand(self, value: object, path: str) -> Operand:
        side = self.obj(value, path, "a condition side")
        if "constant" in side:
            return self.constant(side["constant"], path, '"constant"')
        indicator = self.fn(side.get("fn"), path, "fn")
        symbol = self.ticker(side.get("ticker"), path, '"ticker"')
        if indicator == "current-price":
            return IndicatorCall(indicator, symbol, 1, self.loc(path))
        params = side.get("params")
        raw = params.get("window") if isinstance(params, dict) else None
        return IndicatorCall(indicator, symbol, self.window(indicator, raw, path, "window"), self.loc(path))


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else type(value).__name__

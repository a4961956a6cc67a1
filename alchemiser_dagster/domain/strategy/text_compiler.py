"""The text reader's second half: give read forms their meaning (spec §1 and §9).

Every rule of the language is checked here, in every branch, before any data is
read: a typo in an `else` branch that only runs in a crash must fail at load, not on
the day it is needed. Errors point at the opening bracket of the offending form.
"""

from __future__ import annotations

from typing import cast

from alchemiser_dagster.domain.errors import DslValidationError
from alchemiser_dagster.domain.portfolio.trading import FREQUENCY_OPTION, THRESHOLD_OPTION
from alchemiser_dagster.domain.strategy import rules
from alchemiser_dagster.domain.strategy.ast import (
    Asset,
    BoolCondition,
    BoolOp,
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
from alchemiser_dagster.domain.strategy.reader import Atom, Bracketed, Form, SourceText, describe
from alchemiser_dagster.domain.strategy.rules import MAX_WINDOW, RuleViolation

COMPARISONS: frozenset[str] = frozenset({">", "<", ">=", "<=", "="})
BOOLEANS: frozenset[str] = frozenset({"and", "or"})
NODE_OPERATORS: frozenset[str] = frozenset(
    {
        "asset",
        "group",
        "weight-equal",
        "weight-specified",
        "weight-inverse-volatility",
        "if",
        "filter",
    }
)
MAX_INT_DIGITS = len(str(MAX_WINDOW))


class TextCompiler:
    """Builds the AST of one read form; `symphony(form)` is the entry point."""

    def __init__(self, src: SourceText) -> None:
        self.src = src
        self.next_uid = 0
        self.symbols: set[str] = set()
        self.max_window = 1

    # --- helpers ----------------------------------------------------------------------

    def loc(self, form: Form) -> Loc:
        line, column = self.src.position(form.offset)
        return Loc(self.src.source, line, column)

    def error(self, form: Form, message: str) -> DslValidationError:
        loc = self.loc(form)
        return DslValidationError(message, source=loc.source, line=loc.line, column=loc.column)

    def uid(self) -> int:
        self.next_uid += 1
        return self.next_uid

    def call(self, form: Form, what: str) -> tuple[str, tuple[Form, ...]]:
        """Split `(head args...)`; `what` says what was expected, for the error."""
        if not (isinstance(form, Bracketed) and form.kind == "list" and form.items):
            raise self.error(form, f"expected {what}, found {describe(form)}")
        head = form.items[0]
        if not (isinstance(head, Atom) and head.kind == "symbol"):
            raise self.error(form, f"expected {what}, found a list starting with {describe(head)}")
        assert isinstance(head.value, str)
        return head.value, form.items[1:]

    def arity(self, form: Form, args: tuple[Form, ...], n: int, shape: str) -> None:
        if len(args) != n:
            raise self.error(form, f"wrong number of arguments: expected {shape}, got {len(args)}")

    def string(self, form: Form, what: str) -> str:
        if not (isinstance(form, Atom) and form.kind == "string"):
            raise self.error(form, f"{what} must be a string, found {describe(form)}")
        assert isinstance(form.value, str)
        return form.value

    def number(self, form: Form, what: str) -> float:
        if not (isinstance(form, Atom) and form.kind == "number"):
            raise self.error(form, f"{what} must be a number, found {describe(form)}")
        assert isinstance(form.value, float)
        return form.value

    def ticker(self, form: Form, what: str, at: Form) -> str:
        try:
            symbol = rules.ticker(self.string(form, what), what)
        except RuleViolation as violation:
            raise self.error(at, str(violation)) from None
        self.symbols.add(symbol)
        return symbol

    def count(self, form: Form, what: str, at: Form, *, digit_string: bool = False) -> int:
        """An integral literal >= 1 (`10`, `10.0`; with `digit_string` also `"10"`)."""
        is_number = isinstance(form, Atom) and form.kind == "number"
        is_digits = (
            digit_string
            and isinstance(form, Atom)
            and form.kind == "string"
            and isinstance(form.value, str)
            and form.value.isascii()
            and form.value.isdigit()
        )
        if not (is_number or is_digits):
            raise self.error(at, f"{what} must be an integer >= 1, found {describe(form)}")
        assert isinstance(form, Atom)
        literal = form.text.strip('"')
        # Checked on the text first: a literal of thousands of digits is not a number here.
        if len(literal.split(".")[0].lstrip("-").lstrip("0")) > MAX_INT_DIGITS:
            raise self.error(at, f"{what} must be at most {MAX_WINDOW:,}, found {literal[:40]}")
        try:
            return rules.window(float(literal), what)
        except RuleViolation as violation:
            raise self.error(at, str(violation)) from None

    def window(self, indicator: str, form: Form, at: Form) -> int:
        """`{:window N}` or a positional N (`10`, `10.0`, `"10"`), checked for `indicator`."""
        if isinstance(form, Bracketed) and form.kind == "map":
            keys = form.items[::2]
            for key in keys:
                if not (isinstance(key, Atom) and key.kind == "keyword" and key.value == "window"):
                    raise self.error(
                        at, f"unknown keyword {cast(Atom, key).text}; only :window is allowed here"
                    )
            if not keys:
                raise self.error(at, "missing :window option")
            value = self.count(form.items[1], ":window", at)
        elif isinstance(form, Atom) and form.kind in ("number", "string"):
            value = self.count(form, "window", at, digit_string=True)
        else:
            raise self.error(at, f"expected a window {{:window N}} or N, found {describe(form)}")
        try:
            rules.indicator_window(indicator, value)
        except RuleViolation as violation:
            raise self.error(at, str(violation)) from None
        self.max_window = max(self.max_window, value)
        return value

    def indicator(self, head: str, form: Form) -> str:
        name = rules.indicator_name(head)
        if name is None:
            raise self.error(form, f"unknown indicator '{head}'")
        return name

    def nodes(self, form: Form, what: str) -> tuple[Node, ...]:
        """A `[node+]` vector; a single node written without the vector is `[node]`."""
        if isinstance(form, Bracketed) and form.kind == "list":
            return (self.node(form),)
        if not (isinstance(form, Bracketed) and form.kind == "vector"):
            raise self.error(form, f"{what} must be a vector [...] of nodes, found {describe(form)}")
        if not form.items:
            raise self.error(form, f"{what} must hold at least one node")
        return tuple(self.node(item) for item in form.items)

    # --- the grammar ------------------------------------------------------------------

    def symphony(self, form: Form) -> Symphony:
        head, args = self.call(form, "(defsymphony NAME {OPTIONS} BODY)")
        if head != "defsymphony":
            raise self.error(form, f"a file must hold (defsymphony ...), found ({head} ...)")
        self.arity(form, args, 3, "(defsymphony NAME {OPTIONS} BODY)")
        name = self.string(args[0], "symphony name")
        options = self.options(args[1])
        body = self.node(args[2])
        return Symphony(
            name=name,
            options=options,
            body=body,
            source=self.src.source,
            node_count=self.next_uid,
            symbols=frozenset(self.symbols),
            max_window=self.max_window,
        )

    def options(self, form: Form) -> dict[str, str | float | None]:
        if not (isinstance(form, Bracketed) and form.kind == "map"):
            raise self.error(form, f"symphony options must be a map {{...}}, found {describe(form)}")
        out: dict[str, str | float | None] = {}
        for key, value in zip(form.items[::2], form.items[1::2], strict=True):
            assert isinstance(key, Atom) and isinstance(key.value, str)
            if key.kind != "keyword":
                raise self.error(
                    key, f"option names must be keywords such as :rebalance-frequency, found {key.text}"
                )
            if not isinstance(value, Atom):
                raise self.error(value, f"option :{key.value} must be a literal")
            try:
                if key.value == FREQUENCY_OPTION:
                    out[key.value] = rules.frequency(value.value)
                elif key.value == THRESHOLD_OPTION:
                    out[key.value] = rules.threshold(value.value)
                else:
                    out[key.value] = value.value
            except RuleViolation as violation:
                raise self.error(value, f"option :{key.value}: {violation}") from None
        return out

    def node(self, form: Form) -> Node:
        head, args = self.call(form, "a node such as (asset ...) or (weight-equal [...])")
        head = rules.NODE_ALIASES.get(head, head)
        loc = self.loc(form)
        if head == "asset":
            if len(args) not in (1, 2):
                raise self.error(
                    form, f"wrong number of arguments: expected (asset SYMBOL [NAME]), got {len(args)}"
                )
            symbol = self.ticker(args[0], "asset symbol", form)
            name: str | None = None
            if len(args) == 2 and not (isinstance(args[1], Atom) and args[1].kind == "nil"):
                name = self.string(args[1], "asset name")
            return Asset(symbol, name, loc, self.uid())
        if head == "group":
            self.arity(form, args, 2, "(group NAME [nodes])")
            group_name = self.string(args[0], "group name")
            return Group(group_name, self.nodes(args[1], "group body"), loc, self.uid())
        if head == "weight-equal":
            self.arity(form, args, 1, "(weight-equal [nodes])")
            return WeightEqual(self.nodes(args[0], "weight-equal body"), loc, self.uid())
        if head == "weight-specified":
            return self.weight_specified(form, args, loc)
        if head == "weight-inverse-volatility":
            self.arity(form, args, 2, "(weight-inverse-volatility WINDOW [nodes])")
            window = self.count(args[0], "inverse-volatility window", form)
            try:
                rules.inverse_volatility_window(window)
            except RuleViolation as violation:
                raise self.error(form, str(violation)) from None
            self.max_window = max(self.max_window, window)
            children = self.nodes(args[1], "weight-inverse-volatility body")
            return WeightInverseVolatility(window, children, loc, self.uid())
        if head == "if":
            self.arity(form, args, 3, "(if CONDITION [then] [else])")
            condition = self.condition(args[0])
            then = self.nodes(args[1], "if's then-branch")
            otherwise = self.nodes(args[2], "if's else-branch")
            return If(condition, then, otherwise, loc, self.uid())
        if head == "filter":
            return self.filter(form, args, loc)
        if rules.indicator_name(head) or head in COMPARISONS or head in BOOLEANS:
            raise self.error(form, f"({head} ...) is not a node here; expected an allocation node")
        raise self.error(
            form, f"unknown operator '{head}'; expected one of {', '.join(sorted(NODE_OPERATORS))}"
        )

    def weight_specified(self, form: Form, args: tuple[Form, ...], loc: Loc) -> WeightSpecified:
        """`W1 NODE1 W2 NODE2 ...`, or `{"A" 60 "B" 40} [cA cB]`, or `[60 40] [cA cB]`."""
        first = args[0] if args else None
        if isinstance(first, Bracketed) and first.kind in ("map", "vector"):
            self.arity(form, args, 2, "(weight-specified {LABEL WEIGHT ...} [nodes])")
            raw = first.items[1::2] if first.kind == "map" else first.items
            values = [self.number(w, "weight") for w in raw]
            children = self.nodes(args[1], "weight-specified body")
            if len(values) != len(children):
                raise self.error(
                    form, f"{len(values)} weights for {len(children)} nodes; give one weight per node"
                )
        else:
            if not args or len(args) % 2:
                raise self.error(
                    form,
                    "wrong number of arguments: expected (weight-specified W1 NODE1 W2 NODE2 ...),"
                    f" got {len(args)}",
                )
            values = [self.number(w, "weight") for w in args[::2]]
            children = ()
        try:
            weights = rules.weights(values)
        except RuleViolation as violation:
            raise self.error(form, str(violation)) from None
        if not children:
            children = tuple(self.node(child) for child in args[1::2])
        return WeightSpecified(weights, children, loc, self.uid())

    def filter(self, form: Form, args: tuple[Form, ...], loc: Loc) -> Filter:
        self.arity(form, args, 3, "(filter (INDICATOR {:window N}) (select-top N) [nodes])")
        key = self.sort_key(args[0])
        select_head, select_args = self.call(args[1], "(select-top N) or (select-bottom N)")
        if select_head not in ("select-top", "select-bottom"):
            raise self.error(args[1], f"expected select-top or select-bottom, found '{select_head}'")
        self.arity(args[1], select_args, 1, f"({select_head} N)")
        count = self.count(select_args[0], f"{select_head} count", args[1])
        select = cast(SelectMode, select_head.removeprefix("select-"))
        candidates = rules.unique_candidates(self.nodes(args[2], "filter candidates"))
        try:
            rules.check_sort_key(key, candidates)
        except RuleViolation as violation:
            raise self.error(form, str(violation)) from None
        return Filter(key, select, count, candidates, loc, self.uid())

    def sort_key(self, form: Form) -> SortKey:
        head, args = self.call(form, "a sort key such as (rsi {:window 10})")
        name = self.indicator(head, form)
        if name == "current-price":
            if len(args) > 1:
                raise self.error(form, "wrong number of arguments: expected (current-price)")
            return SortKey(name, 1)
        if len(args) != 1:
            raise self.error(
                form,
                f"wrong number of arguments: expected ({head} {{:window N}}) as a sort key, got {len(args)}",
            )
        return SortKey(name, self.window(name, args[0], form))

    def condition(self, form: Form) -> Predicate:
        head, args = self.call(form, "a comparison such as (> A B)")
        if head in BOOLEANS:
            if len(args) < 2:
                raise self.error(form, f"({head} ...) needs at least two conditions, got {len(args)}")
            terms = tuple(self.condition(arg) for arg in args)
            return BoolCondition(cast(BoolOp, head), terms, self.loc(form))
        if head not in COMPARISONS:
            expected = ", ".join(sorted(COMPARISONS | BOOLEANS))
            raise self.error(form, f"unknown comparison '{head}'; expected one of {expected}")
        self.arity(form, args, 2, f"({head} A B)")
        op = cast(ComparisonOp, head)
        return Condition(op, self.operand(args[0]), self.operand(args[1]), self.loc(form))

    def operand(self, form: Form) -> Operand:
        if isinstance(form, Atom):
            if form.kind != "number":
                raise self.error(
                    form, f"a comparison operand must be a number or an indicator, found {describe(form)}"
                )
            assert isinstance(form.value, float)
            return Number(form.value, form.text)
        head, args = self.call(form, 'an indicator such as (rsi "SPY" {:window 10})')
        name = self.indicator(head, form)
        if name == "current-price":
            # A window after the symbol means nothing for the current price: ignored.
            if len(args) not in (1, 2):
                raise self.error(
                    form, f'wrong number of arguments: expected (current-price "SYMBOL"), got {len(args)}'
                )
            return IndicatorCall(name, self.ticker(args[0], "indicator symbol", form), 1, self.loc(form))
        if len(args) != 2:
            raise self.error(
                form,
                f'wrong number of arguments: expected ({head} "SYMBOL" {{:window N}}), got {len(args)}',
            )
        symbol = self.ticker(args[0], "indicator symbol", form)
        return IndicatorCall(name, symbol, self.window(name, args[1], form), self.loc(form))

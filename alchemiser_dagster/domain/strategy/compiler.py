"""Give read forms their meaning: validate a symphony statically and build its AST.

Every rule of the language is checked here, in every branch, before any data is
read: a typo in an `else` branch that only runs in a crash must fail at load, not on
the day it is needed. Errors point at the opening bracket of the offending form.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import cast

from alchemiser_dagster.domain.errors import DslParseError, DslValidationError
from alchemiser_dagster.domain.strategy.ast import (
    Asset,
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
    SelectMode,
    SortKey,
    Symphony,
    WeightEqual,
    WeightInverseVolatility,
    WeightSpecified,
)
from alchemiser_dagster.domain.strategy.indicators import INDICATOR_NAMES
from alchemiser_dagster.domain.strategy.reader import (
    MAX_DEPTH,
    Atom,
    Bracketed,
    Form,
    SourceText,
    describe,
    read_form,
)

COMPARISONS: frozenset[str] = frozenset({">", "<", ">=", "<="})
# Sort keys that have a meaning over a non-asset candidate's return stream (spec §2).
STREAM_SORT_KEYS: frozenset[str] = frozenset(
    {"moving-average-return", "cumulative-return", "stdev-return", "max-drawdown", "rsi"}
)
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
WEIGHT_SUM_TOLERANCE = 1e-6
# Windows and counts are session counts; anything beyond this is a typo, not a strategy.
MAX_WINDOW = 100_000
MAX_INT_DIGITS = len(str(MAX_WINDOW))
_RECURSION_HEADROOM = 4 * MAX_DEPTH + 500


@contextmanager
def deep_recursion() -> Iterator[None]:
    """Allow recursion as deep as the reader permits nesting (bounded by MAX_DEPTH)."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, _RECURSION_HEADROOM))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def load_symphony(path: str | Path) -> Symphony:
    """Read, parse and validate a `.clj` file; errors name the file by its base name.

    Symphonies are immutable, so a file is parsed once per content version (path,
    modification time and size) and shared by every step that reads it.
    """
    file_path = Path(path).resolve()
    stat = file_path.stat()
    return _load_cached(file_path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _load_cached(file_path: Path, mtime_ns: int, size: int) -> Symphony:
    raw = file_path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        raise DslParseError(
            f"the file is not valid UTF-8 (byte 0x{raw[error.start]:02x})",
            source=file_path.name,
            line=line,
            column=column,
        ) from error
    return parse_symphony(text, source=file_path.name)


def parse_symphony(text: str, source: str = "<string>") -> Symphony:
    form, src = read_form(text, source)
    with deep_recursion():
        return _Compiler(src).symphony(form)


class _Compiler:
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

    def positive_int(self, form: Form, what: str, at: Form) -> int:
        """An integer literal >= 1; errors point at `at`, the enclosing form."""
        if not (isinstance(form, Atom) and form.kind == "number"):
            raise self.error(at, f"{what} must be an integer >= 1, found {describe(form)}")
        digits = form.text.lstrip("0")
        if "." in form.text or not form.text.isdigit() or not digits:
            raise self.error(at, f"{what} must be an integer >= 1, found {form.text[:40]}")
        # Checked on the text first: int() refuses literals of thousands of digits.
        if len(digits) > MAX_INT_DIGITS or int(digits) > MAX_WINDOW:
            raise self.error(at, f"{what} must be at most {MAX_WINDOW:,}, found {form.text[:40]}")
        return int(digits)

    def window_option(self, form: Form, options: Form, at: Form) -> int:
        if not (isinstance(options, Bracketed) and options.kind == "map"):
            raise self.error(at, f"expected the option map {{:window N}}, found {describe(options)}")
        keys = [cast(Atom, key).value for key in options.items[::2]]
        unknown = [key for key in keys if key != "window"]
        if unknown:
            raise self.error(at, f"unknown keyword :{unknown[0]}; only :window is allowed here")
        if not keys:
            raise self.error(at, "missing :window option")
        window = self.positive_int(options.items[1], ":window", at)
        if window < 2 and self.indicator_name(at) == "stdev-price":
            raise self.error(
                at, "stdev-price needs :window >= 2 (a sample deviation of one close is undefined)"
            )
        self.max_window = max(self.max_window, window)
        return window

    @staticmethod
    def indicator_name(form: Form) -> str | None:
        if isinstance(form, Bracketed) and form.items and isinstance(form.items[0], Atom):
            head = form.items[0].value
            return head if isinstance(head, str) else None
        return None

    def nodes(self, form: Form, what: str) -> tuple[Node, ...]:
        """A `[node+]` vector."""
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
            if not isinstance(value, Atom):
                raise self.error(value, f"option :{key.value} must be a literal")
            out[key.value] = value.value
        return out

    def node(self, form: Form) -> Node:
        head, args = self.call(form, "a node such as (asset ...) or (weight-equal [...])")
        loc = self.loc(form)
        if head == "asset":
            if len(args) not in (1, 2):
                raise self.error(
                    form, f"wrong number of arguments: expected (asset SYMBOL [NAME]), got {len(args)}"
                )
            symbol = self.string(args[0], "asset symbol")
            if not symbol.strip():
                raise self.error(form, "asset symbol is empty")
            name: str | None = None
            if len(args) == 2 and not (isinstance(args[1], Atom) and args[1].kind == "nil"):
                name = self.string(args[1], "asset name")
            self.symbols.add(symbol)
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
            window = self.positive_int(args[0], "inverse-volatility window", form)
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
        if head in INDICATOR_NAMES or head in COMPARISONS:
            raise self.error(form, f"({head} ...) is not a node here; expected an allocation node")
        raise self.error(
            form, f"unknown operator '{head}'; expected one of {', '.join(sorted(NODE_OPERATORS))}"
        )

    def weight_specified(self, form: Form, args: tuple[Form, ...], loc: Loc) -> WeightSpecified:
        if not args or len(args) % 2:
            raise self.error(
                form,
                "wrong number of arguments: expected (weight-specified W1 NODE1 W2 NODE2 ...),"
                f" got {len(args)}",
            )
        weights = tuple(self.number(w, "weight") for w in args[::2])
        if any(w < 0 or not math.isfinite(w) for w in weights):
            raise self.error(form, f"weights must be >= 0, found {list(weights)}")
        if abs(sum(weights) - 1.0) > WEIGHT_SUM_TOLERANCE:
            raise self.error(form, f"weights must sum to 1, they sum to {sum(weights):.6g}")
        children = tuple(self.node(child) for child in args[1::2])
        return WeightSpecified(weights, children, loc, self.uid())

    def filter(self, form: Form, args: tuple[Form, ...], loc: Loc) -> Filter:
        self.arity(form, args, 3, "(filter (INDICATOR {:window N}) (select-top N) [nodes])")
        key = self.sort_key(args[0])
        select_head, select_args = self.call(args[1], "(select-top N) or (select-bottom N)")
        if select_head not in ("select-top", "select-bottom"):
            raise self.error(args[1], f"expected select-top or select-bottom, found '{select_head}'")
        self.arity(args[1], select_args, 1, f"({select_head} N)")
        count = self.positive_int(select_args[0], f"{select_head} count", args[1])
        select = cast(SelectMode, select_head.removeprefix("select-"))
        candidates = self.unique_candidates(self.nodes(args[2], "filter candidates"))
        if key.indicator not in STREAM_SORT_KEYS:
            for candidate in candidates:
                if not isinstance(candidate, Asset):
                    raise self.error(
                        form,
                        f"sort key {key.render()} cannot rank a non-asset candidate"
                        f" (line {candidate.loc.line} column {candidate.loc.column}); use one of"
                        f" {', '.join(sorted(STREAM_SORT_KEYS))}",
                    )
        return Filter(key, select, count, candidates, loc, self.uid())

    @staticmethod
    def unique_candidates(candidates: tuple[Node, ...]) -> tuple[Node, ...]:
        """A repeated asset in one candidate list keeps its first place (spec §2)."""
        seen: set[str] = set()
        kept: list[Node] = []
        for candidate in candidates:
            if isinstance(candidate, Asset):
                if candidate.symbol in seen:
                    continue
                seen.add(candidate.symbol)
            kept.append(candidate)
        return tuple(kept)

    def sort_key(self, form: Form) -> SortKey:
        head, args = self.call(form, "a sort key such as (rsi {:window 10})")
        if head not in INDICATOR_NAMES:
            raise self.error(form, f"unknown indicator '{head}'")
        if head == "current-price":
            if args:
                raise self.error(form, "wrong number of arguments: expected (current-price)")
            return SortKey(head, 1)
        if len(args) != 1:
            raise self.error(
                form,
                f"wrong number of arguments: expected ({head} {{:window N}}) as a sort key, got {len(args)}",
            )
        return SortKey(head, self.window_option(form, args[0], form))

    def condition(self, form: Form) -> Condition:
        head, args = self.call(form, "a comparison such as (> A B)")
        if head not in COMPARISONS:
            raise self.error(
                form, f"unknown comparison '{head}'; expected one of {', '.join(sorted(COMPARISONS))}"
            )
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
        if head not in INDICATOR_NAMES:
            raise self.error(form, f"unknown indicator '{head}'")
        if head == "current-price":
            self.arity(form, args, 1, '(current-price "SYMBOL")')
            symbol = self.string(args[0], "indicator symbol")
            self.symbols.add(symbol)
            return IndicatorCall(head, symbol, 1, self.loc(form))
        if len(args) != 2:
            raise self.error(
                form,
                f'wrong number of arguments: expected ({head} "SYMBOL" {{:window N}}), got {len(args)}',
            )
        symbol = self.string(args[0], "indicator symbol")
        if isinstance(args[1], Atom) and args[1].kind == "number":
            raise self.error(
                form,
                f'positional window is not supported; write ({head} "{symbol}" {{:window {args[1].text}}})',
            )
        window = self.window_option(form, args[1], form)
        self.symbols.add(symbol)
        return IndicatorCall(head, symbol, window, self.loc(form))

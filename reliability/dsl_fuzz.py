"""Mutation fuzzer of the symphony DSL parser over the strategy corpus.

Every input is a corpus text (a balanced form of a small or medium file wrapped into a
`defsymphony`, a whole small file, a splice of two texts, slices of the big generated
files, or a generated very deep tree) put through a few seeded mutations: deletions,
insertions of grammar-relevant tokens (brackets, quotes, backslashes, `:window`,
numbers from `-0.0` to thousands of digits, `nil`, unicode, NUL, deep `((((` runs),
duplicated, swapped, moved or replaced forms and slices, truncation, renamed operators
and replaced numbers and strings.

The invariant: `compiler.parse_symphony` returns, or raises a `StrategyError` whose
line and column are >= 1, inside the text (line <= lines + 1, column <= the line's
length + 1) and rendered as `SOURCE:LINE:COL: ...`. Anything else (RecursionError,
IndexError, ValueError, an out-of-text location, ...) is a crash.

Input `i` of seed `s` depends only on (corpus, s, i), so runs are reproducible and can
be split over processes. Run:
`python -m reliability.dsl_fuzz --inputs 100000 --seed 0 [--jobs 2] [--max-seconds S]`.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import random
import re
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from alchemiser_dagster.domain.errors import StrategyError
from alchemiser_dagster.domain.strategy import compiler
from alchemiser_dagster.domain.strategy.indicators import INDICATOR_NAMES
from alchemiser_dagster.domain.strategy.reader import MAX_DEPTH

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "fuzz.clj"
BIG_FILE_CHARS = 100_000  # whole files above this are only ever sliced
TINY_FILE_CHARS = 8_000
FRAGMENT_MIN_CHARS = 12
FRAGMENT_MAX_CHARS = 6_000
MAX_INPUT_CHARS = 140_000  # growth mutations stop above this
EXCERPT_CHARS = 120  # each side of the last mutation
MESSAGE_CHARS = 400
PROGRESS_EVERY = 10_000
CHUNK_INPUTS = 500  # divides PROGRESS_EVERY

HEADER = '(defsymphony\n "fuzz"\n {:asset-class "EQUITIES", :rebalance-threshold 0.1}\n '

NODE_OPERATORS: tuple[str, ...] = tuple(sorted(compiler.NODE_OPERATORS))
OPERATOR_NAMES: tuple[str, ...] = (
    *NODE_OPERATORS,
    *sorted(INDICATOR_NAMES),
    *sorted(compiler.COMPARISONS),
    "defsymphony",
    "select-top",
    "select-bottom",
    "=",
    "!=",
    "<>",
    "and",
    "or",
    "not",
    "nil",
    "fn",
    "weight-equal-",
    "-",
    "?",
)

# Grammar-relevant insertions; "\x00" is also the marker the slice test watches for.
TOKENS: tuple[str, ...] = (
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "()",
    "[]",
    "{}",
    ")]",
    "])",
    '"',
    '""',
    "\\",
    '\\"',
    '"\\',
    "\\n",
    "\\u0041",
    ":window",
    " :window ",
    "{:window}",
    "{:window 10}",
    "{:window 0}",
    "{:window -3}",
    "{:window 2.5}",
    "{:window 10 :window 3}",
    "{:window 10 :foo 1}",
    "{:foo}",
    ":",
    "::window",
    ":9",
    " nil ",
    "nil",
    "true",
    "NaN",
    "Infinity",
    "-",
    "+",
    "1e5",
    "1E-3",
    "0x1F",
    "1/2",
    "--1",
    "1..2",
    ".5",
    "5.",
    "1_000",
    "-0",
    ";",
    '; comment (with [brackets] "and quotes\n',
    "#",
    "#_",
    "'",
    "`",
    "~",
    "@",
    "^",
    "&",
    "%",
    "|",
    ",",
    " ",
    "\x00",
    "\t",
    "\r",
    "\r\n",
    "\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x7f",
    "\x85",
    "\u2028",
    "\u00a0",
    "\ufeff",
    "\ud800",
    "\udfff",
    "\u00e9",
    "\u65e5\u672c",
    "\U0001f600",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: isdigit() and float() accept it
    "\uff11",  # FULLWIDTH DIGIT ONE
    "\u00b2",  # SUPERSCRIPT TWO: isdigit() but not int()
    "\u212a",  # KELVIN SIGN, lowercases to ASCII k
    "\u0130",
    "e\u0301",
    '(asset "SPY")',
    '(asset "")',
    '(asset " ")',
    "(asset nil)",
    '(asset "SPY" nil)',
    '(rsi "SPY" {:window 10})',
    '(current-price "SPY")',
    "(select-top 1)",
    "(select-bottom 0)",
    "(> 1 2)",
)

# Fixed interesting numbers; `_number` adds random and enormous ones.
NUMBERS: tuple[str, ...] = (
    "0",
    "1",
    "2",
    "3",
    "10",
    "200",
    "-1",
    "-0",
    "0.0",
    "-0.0",
    "1.0",
    "0.5",
    "0.25",
    "0.75",
    "1.5",
    "-2.5",
    "00",
    "007",
    "0.1",
    "0.333333",
    "1.0000001",
    "0.9999999",
    "1023",
    "1024",
    "2147483648",
    "9223372036854775808",
    "1" + "0" * 308,  # the largest finite float's order
    "1" + "0" * 309,  # overflows a float to inf
    "0." + "0" * 400 + "1",  # underflows to 0.0
    "1.",
    ".5",
    "1e3",
    "--5",
    "5-",
    "1.2.3",
    "nil",
)

_SCAN = re.compile(r'"(?:[^"\\]|\\.)*"|;[^\n]*|[()\[\]{}]', re.DOTALL)
_HEAD = re.compile(r"\(\s*([^\s()\[\]{}\",;]+)")
_OPERATOR = re.compile(r"(?<=\()\s*([A-Za-z_<>=!?*+/\-][A-Za-z0-9_<>=!?*+/\-]*)")
_NUMBER_LITERAL = re.compile(r"(?<![A-Za-z0-9_\-])-?[0-9]+(?:\.[0-9]+)?")
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_KEYWORD = re.compile(r":[A-Za-z_][A-Za-z0-9_\-]*")
_BRACKETS = "()[]{}"
_CLOSER = {"(": ")", "[": "]", "{": "}"}


# --- report -----------------------------------------------------------------------------


class Crash(NamedTuple):
    """One input that broke the invariant: an excerpt around its last mutation."""

    excerpt: str
    exc_type: str
    message: str


@dataclass(frozen=True)
class CrashSample:
    """The first whole input of one crash signature, with its traceback."""

    signature: str
    text: str
    traceback: str


@dataclass(frozen=True)
class FuzzReport:
    inputs: int
    parsed_ok: int
    typed_errors: int
    crashes: list[Crash]
    seconds: float
    # signature ("ValueError at compiler.py:166") -> the first input that showed it
    samples: Mapping[str, CrashSample] = field(default_factory=dict)

    @property
    def survived(self) -> int:
        return self.parsed_ok + self.typed_errors

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds > 0 else 0.0

    def row(self) -> str:
        return f"dsl fuzz | {self.inputs} | {self.survived} | {len(self.crashes)}"


# --- corpus -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """Corpus texts by size, and balanced `(...)` forms of the small and medium files."""

    names: tuple[str, ...]
    tiny: tuple[str, ...]  # whole files <= TINY_FILE_CHARS
    medium: tuple[str, ...]  # whole files <= BIG_FILE_CHARS
    big: tuple[str, ...]  # only sliced
    # (text index into tiny + medium, start, end); node forms and other forms, by size
    node_fragments: tuple[tuple[tuple[int, int, int], ...], ...]
    other_fragments: tuple[tuple[int, int, int], ...]

    @property
    def whole(self) -> tuple[str, ...]:
        return self.tiny + self.medium


def corpus_dir() -> Path:
    env = os.environ.get("ALCHEMISER_CORPUS")
    if env:
        return Path(env)
    shared = ROOT.parent / "shared" / "strategies"
    return shared if shared.is_dir() else ROOT / "strategies"


def corpus_files(base: Path | None = None) -> list[Path]:
    base = base or corpus_dir()
    files = sorted(base.glob("*.clj")) + sorted(base.glob("head/*.clj"))
    if not files and base != ROOT / "strategies":
        files = sorted((ROOT / "strategies").glob("*.clj"))
    return files


_FRAGMENT_BUCKETS = (300, 1_500, FRAGMENT_MAX_CHARS)


def load_corpus(base: Path | None = None) -> Corpus:
    files = corpus_files(base)
    if not files:
        raise FileNotFoundError(f"no .clj files in {base or corpus_dir()} or {ROOT / 'strategies'}")
    texts = [(path, path.read_text(encoding="utf-8")) for path in files]
    tiny = [(p, t) for p, t in texts if len(t) <= TINY_FILE_CHARS]
    medium = [(p, t) for p, t in texts if TINY_FILE_CHARS < len(t) <= BIG_FILE_CHARS]
    big = [(p, t) for p, t in texts if len(t) > BIG_FILE_CHARS]
    whole = [t for _, t in tiny + medium]
    nodes: list[list[tuple[int, int, int]]] = [[] for _ in _FRAGMENT_BUCKETS]
    others: list[tuple[int, int, int]] = []
    for index, text in enumerate(whole):
        for start, end in _balanced_forms(text):
            head = _HEAD.match(text, start)
            if head and head.group(1) in compiler.NODE_OPERATORS:
                bucket = next(i for i, top in enumerate(_FRAGMENT_BUCKETS) if end - start <= top)
                nodes[bucket].append((index, start, end))
            else:
                others.append((index, start, end))
    return Corpus(
        names=tuple(str(p) for p, _ in tiny + medium + big),
        tiny=tuple(t for _, t in tiny),
        medium=tuple(t for _, t in medium),
        big=tuple(t for _, t in big),
        node_fragments=tuple(tuple(bucket) for bucket in nodes),
        other_fragments=tuple(others),
    )


def _balanced_forms(text: str) -> list[tuple[int, int]]:
    """(start, end) of every `(...)` form of a reasonable size (strings and comments skipped)."""
    stack: list[tuple[str, int]] = []
    out: list[tuple[int, int]] = []
    for match in _SCAN.finditer(text):
        token = match.group()
        if token in "([{":
            stack.append((token, match.start()))
        elif token in ")]}":
            if not stack:
                continue
            opener, start = stack.pop()
            end = match.end()
            if opener == "(" and FRAGMENT_MIN_CHARS <= end - start <= FRAGMENT_MAX_CHARS:
                out.append((start, end))
    return out


# --- input generation -------------------------------------------------------------------


def _pick_fragment(rng: random.Random, corpus: Corpus) -> str:
    buckets = [b for b in corpus.node_fragments if b]
    if buckets and (rng.random() < 0.85 or not corpus.other_fragments):
        weights = [0.35, 0.4, 0.25][: len(buckets)]
        bucket = rng.choices(buckets, weights=weights)[0]
        index, start, end = rng.choice(bucket)
    elif corpus.other_fragments:
        index, start, end = rng.choice(corpus.other_fragments)
    else:
        return rng.choice(corpus.whole)
    return corpus.whole[index][start:end]


def _big_slice(rng: random.Random, corpus: Corpus) -> str:
    """A slice of one big file: a balanced form when one starts nearby, else raw chars."""
    text = rng.choice(corpus.big) if corpus.big else rng.choice(corpus.whole)
    start = rng.randrange(len(text))
    if rng.random() < 0.6:
        opener = text.find("(", start, start + 2_000)
        if opener >= 0:
            end = _matching(text, opener, 8_000)
            if end is not None:
                return text[opener:end]
    return text[start : start + rng.randint(20, 4_000)]


def _piece(rng: random.Random, corpus: Corpus) -> str:
    roll = rng.random()
    if roll < 0.5:
        return _pick_fragment(rng, corpus)
    if roll < 0.75:
        return rng.choice(corpus.tiny or corpus.whole)
    return _big_slice(rng, corpus)


def _deep(rng: random.Random) -> str:
    """A symphony nested around MAX_DEPTH brackets, valid unless the depth is too much."""
    depth = rng.choice(
        (
            100,
            500,
            MAX_DEPTH - 2,
            MAX_DEPTH - 1,
            MAX_DEPTH,
            MAX_DEPTH + 1,
            MAX_DEPTH + 2,
            2 * MAX_DEPTH,
            rng.randint(2, MAX_DEPTH + 10),
        )
    )
    leaf = '(asset "SPY")'
    style = rng.randrange(7)
    inner = depth - 2  # the defsymphony list and the leaf take two levels
    if style == 0:
        body = "(weight-equal [" * (inner // 2) + leaf + "])" * (inner // 2)
    elif style == 1:
        body = "(weight-specified 1 " * inner + leaf + ")" * inner
    elif style == 2:
        body = '(group "g" [' * (inner // 2) + leaf + "])" * (inner // 2)
    elif style == 3:
        levels = inner // 2
        body = '(if (> 1 2) [(asset "A")] [' * levels + leaf + "])" * levels
    elif style == 4:
        levels = inner // 2
        body = "(filter (max-drawdown {:window 3}) (select-top 1) [" * levels + leaf + "])" * levels
    elif style == 5:
        openers = [rng.choice("([{") for _ in range(inner)]
        body = "".join(openers) + leaf + "".join(_CLOSER[o] for o in reversed(openers))
    else:
        return "(" * depth + ")" * depth
    return HEADER + body + ")\n"


def _seed_text(rng: random.Random, corpus: Corpus) -> str:
    roll = rng.random()
    if roll < 0.52:
        return HEADER + _pick_fragment(rng, corpus) + ")\n"
    if roll < 0.74:
        return rng.choice(corpus.tiny or corpus.whole)
    if roll < 0.79:
        return rng.choice(corpus.medium or corpus.whole)
    if roll < 0.82:
        return _pick_fragment(rng, corpus)  # not a defsymphony at all
    if roll < 0.92:
        first, second = _piece(rng, corpus), _piece(rng, corpus)
        return first[: rng.randint(0, len(first))] + second[rng.randint(0, len(second)) :]
    if roll < 0.96:
        return HEADER + _big_slice(rng, corpus) + ")\n"
    return _deep(rng)


def _number(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.55:
        return rng.choice(NUMBERS)
    if roll < 0.75:
        return str(rng.randint(-5, 10 ** rng.randint(1, 20)))
    if roll < 0.9:
        return f"{rng.uniform(-2, 2):.{rng.randint(1, 8)}f}"
    # enormous digit runs: floats overflow at ~309 digits, int() refuses > 4300 by default
    digits = rng.choice((310, 1_000, 4_300, 4_301, rng.randint(300, 8_000)))
    return rng.choice("123456789") + "".join(rng.choices("0123456789", k=digits - 1))


def _matching(text: str, start: int, limit: int) -> int | None:
    """End (exclusive) of the bracketed form opening at `start`, ignoring strings; None if far."""
    depth = 0
    for i in range(start, min(len(text), start + limit)):
        char = text[i]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _random_form(rng: random.Random, text: str) -> tuple[int, int] | None:
    """A bracketed form of `text` near a random place."""
    for _ in range(3):
        at = rng.randrange(len(text) + 1)
        opener = max(text.rfind("(", 0, at), text.rfind("[", 0, at))
        if opener < 0:
            opener = text.find("(", at)
        if opener < 0:
            continue
        end = _matching(text, opener, 20_000)
        if end is not None:
            return opener, end
    return None


def _random_match(rng: random.Random, pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """A random match of `pattern`, looking from a random place (cheap on long texts)."""
    at = rng.randrange(len(text) + 1)
    window = 4_000
    matches = list(pattern.finditer(text, max(0, at - window), at + window))
    return rng.choice(matches) if matches else None


Mutation = Callable[[random.Random, str, Corpus], tuple[str, int]]


def _delete(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    at = rng.randrange(len(text) + 1)
    length = 1 if rng.random() < 0.6 else rng.randint(1, 120)
    return text[:at] + text[at + length :], at


def _insert_token(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    at = rng.randrange(len(text) + 1)
    roll = rng.random()
    if roll < 0.7:
        token = rng.choice(TOKENS)
    elif roll < 0.85:
        token = " " + _number(rng) + " "
    else:
        token = rng.choice(OPERATOR_NAMES)
    return text[:at] + token + text[at:], at


def _insert_deep(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    at = rng.randrange(len(text) + 1)
    count = rng.choice((10, 200, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 5_000))
    opener = rng.choice("([{")
    token = opener * count
    if rng.random() < 0.5:
        token += _CLOSER[opener] * count
    return text[:at] + token + text[at:], at


def _duplicate_slice(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    start = rng.randrange(len(text) + 1)
    piece = text[start : start + rng.randint(1, 400)]
    at = rng.randrange(len(text) + 1)
    return text[:at] + piece + text[at:], at


def _swap_slices(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    a, b, c, d = sorted(rng.randrange(len(text) + 1) for _ in range(4))
    return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:], a


def _truncate(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    at = rng.randrange(len(text) + 1)
    return (text[:at], at) if rng.random() < 0.8 else (text[at:], 0)


def _splice(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    at = rng.randrange(len(text) + 1)
    end = at + (rng.randint(0, 200) if rng.random() < 0.7 else rng.randint(0, len(text)))
    return text[:at] + _piece(rng, corpus) + text[end:], at


def _replace_operator(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    match = _random_match(rng, _OPERATOR, text)
    if match is None:
        return _insert_token(rng, text, corpus)
    name = rng.choice(OPERATOR_NAMES)
    roll = rng.random()
    if roll < 0.1:
        name = name[:-1]
    elif roll < 0.15:
        name = name.upper()
    elif roll < 0.2:
        name = name + rng.choice(("x", "-", "\u00e9", "?"))
    start, end = match.span(1)
    return text[:start] + name + text[end:], start


def _replace_number(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    match = _random_match(rng, _NUMBER_LITERAL, text)
    if match is None:
        return _insert_token(rng, text, corpus)
    start, end = match.span()
    return text[:start] + _number(rng) + text[end:], start


def _replace_string(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    match = _random_match(rng, _STRING_LITERAL, text)
    if match is None:
        return _insert_token(rng, text, corpus)
    replacement = rng.choice(
        (
            '""',
            '" "',
            '"\\q"',
            '"\\"',
            '"a\\nb\\t\\\\"',
            '"\u65e5\u672c"',
            '"\x00"',
            '"\ud800"',
            '"' + "A" * rng.randint(100, 5_000) + '"',
            '"SPY',
            "nil",
            "SPY",
            ":spy",
            _number(rng),
            '(asset "SPY")',
            '["SPY"]',
        )
    )
    start, end = match.span()
    return text[:start] + replacement + text[end:], start


def _replace_keyword(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    match = _random_match(rng, _KEYWORD, text)
    if match is None:
        return _insert_token(rng, text, corpus)
    replacement = rng.choice(
        (":window", ":Window", ":windows", ":window :window", "", ":", ":window 5 :window", "window", "::w")
    )
    start, end = match.span()
    return text[:start] + replacement + text[end:], start


def _flip_bracket(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    at = rng.randrange(len(text) + 1)
    positions = [i for i in range(at, min(len(text), at + 200)) if text[i] in _BRACKETS]
    if not positions:
        return _delete(rng, text, corpus)
    i = rng.choice(positions)
    return text[:i] + rng.choice(_BRACKETS.replace(text[i], "")) + text[i + 1 :], i


def _edit_form(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    """Delete, duplicate, move, wrap or replace a whole bracketed form (often still valid)."""
    span = _random_form(rng, text)
    if span is None:
        return _duplicate_slice(rng, text, corpus)
    start, end = span
    form = text[start:end]
    action = rng.randrange(6)
    if action == 0:
        return text[:start] + text[end:], start
    if action == 1:
        return text[:end] + " " + form + text[end:], end
    if action == 2:
        rest = text[:start] + text[end:]
        at = rng.randrange(len(rest) + 1)
        return rest[:at] + form + rest[at:], at
    if action == 3:
        wrapper = rng.choice((("(weight-equal [", "])"), ('(group "w" [', "])"), ("[", "]"), ("(", ")")))
        return text[:start] + wrapper[0] + form + wrapper[1] + text[end:], start
    if action == 4:
        return text[:start] + _pick_fragment(rng, corpus) + text[end:], start
    return text[:start] + form[: rng.randint(0, len(form))] + text[end:], start


def _whitespace(rng: random.Random, text: str, corpus: Corpus) -> tuple[str, int]:
    """A usually harmless edit: whitespace, a comma or a comment between tokens."""
    at = rng.randrange(len(text) + 1)
    token = rng.choice((" ", "\n", ",", "\t", "\r\n", " ; note [ ( {\n", "\n;;\n"))
    return text[:at] + token + text[at:], at


MUTATIONS: tuple[tuple[Mutation, float], ...] = (
    (_delete, 10),
    (_insert_token, 22),
    (_insert_deep, 2),
    (_duplicate_slice, 5),
    (_swap_slices, 4),
    (_truncate, 3),
    (_splice, 4),
    (_replace_operator, 10),
    (_replace_number, 10),
    (_replace_string, 5),
    (_replace_keyword, 4),
    (_flip_bracket, 4),
    (_edit_form, 12),
    (_whitespace, 5),
)
_MUTATION_FUNCS = [m for m, _ in MUTATIONS]
_MUTATION_CUM_WEIGHTS: list[float] = []
for _, _weight in MUTATIONS:
    _MUTATION_CUM_WEIGHTS.append((_MUTATION_CUM_WEIGHTS[-1] if _MUTATION_CUM_WEIGHTS else 0) + _weight)


def generate(corpus: Corpus, seed: int, index: int) -> tuple[str, int]:
    """Input `index` of run `seed` and the offset of its last mutation."""
    rng = random.Random(f"dsl-fuzz:{seed}:{index}")
    text = _seed_text(rng, corpus)
    focus = 0
    count = rng.choice((0, 1, 1, 1, 1, 2, 2, 3, 4, 6))
    for _ in range(count):
        mutation = rng.choices(_MUTATION_FUNCS, cum_weights=_MUTATION_CUM_WEIGHTS)[0]
        if len(text) > MAX_INPUT_CHARS:
            mutation = rng.choice((_delete, _truncate, _replace_operator, _flip_bracket))
        text, focus = mutation(rng, text, corpus)
    return text, focus


def generate_input(corpus: Corpus, seed: int, index: int) -> str:
    return generate(corpus, seed, index)[0]


# --- the invariant ----------------------------------------------------------------------


class BadErrorLocation(Exception):
    """A typed error whose line/column or rendering breaks the location contract."""


def location_problem(text: str, error: StrategyError, source: str = SOURCE) -> str | None:
    """Why `error`'s location is not a 1-based position inside `text`, or None."""
    line, column = error.line, error.column
    if not (isinstance(line, int) and isinstance(column, int)) or line < 1 or column < 1:
        return f"line/column {line!r}:{column!r} are not 1-based positions"
    if line > len(text.splitlines()) + 1:
        return f"line {line} is past the end of a text of {len(text.splitlines())} lines"
    lines = text.split("\n")
    if line <= len(lines) and column > len(lines[line - 1]) + 1:
        return f"column {column} is past the end of line {line} ({len(lines[line - 1])} characters)"
    prefix = f"{source}:{line}:{column}: "
    if error.source != source or not error.render().startswith(prefix):
        return f"render() does not start with {prefix!r}: {error.render()[:80]!r}"
    return None


def check(text: str, source: str = SOURCE) -> tuple[bool, BaseException | None]:
    """Parse `text`: (parsed, None), (False, None) for a good typed error, or the crash.

    Raises nothing itself (bar KeyboardInterrupt and friends).
    """
    try:
        compiler.parse_symphony(text, source=source)
    except StrategyError as error:
        problem = location_problem(text, error, source)
        if problem is None:
            return False, None
        bad = BadErrorLocation(f"{type(error).__name__}: {problem}")
        bad.__cause__ = error
        return False, bad
    except Exception as error:
        return False, error
    return True, None


def signature(error: BaseException) -> str:
    """Type and innermost raising frame: one bug, one signature."""
    frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
    if isinstance(error, BadErrorLocation) and error.__cause__ is not None:
        return f"BadErrorLocation({type(error.__cause__).__name__})"
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{where}"


# --- running ----------------------------------------------------------------------------


@dataclass
class _Partial:
    inputs: int = 0
    parsed_ok: int = 0
    typed_errors: int = 0
    crashes: list[Crash] = field(default_factory=list)
    samples: dict[str, CrashSample] = field(default_factory=dict)

    def add(self, other: _Partial) -> None:
        self.inputs += other.inputs
        self.parsed_ok += other.parsed_ok
        self.typed_errors += other.typed_errors
        self.crashes.extend(other.crashes)
        for key, sample in other.samples.items():
            self.samples.setdefault(key, sample)

    def report(self, seconds: float) -> FuzzReport:
        return FuzzReport(
            inputs=self.inputs,
            parsed_ok=self.parsed_ok,
            typed_errors=self.typed_errors,
            crashes=list(self.crashes),
            seconds=seconds,
            samples=dict(self.samples),
        )


def _excerpt(text: str, focus: int) -> str:
    if len(text) <= 2 * EXCERPT_CHARS:
        return text
    start = max(0, min(focus - EXCERPT_CHARS, len(text) - 2 * EXCERPT_CHARS))
    return text[start : start + 2 * EXCERPT_CHARS]


def _run_range(corpus: Corpus, seed: int, start: int, stop: int, deadline: float | None) -> _Partial:
    partial = _Partial()
    for index in range(start, stop):
        if deadline is not None and time.monotonic() > deadline:
            break
        text, focus = generate(corpus, seed, index)
        partial.inputs += 1
        parsed, crash = check(text)
        if crash is not None:
            _record(partial, text, focus, crash)
        elif parsed:
            partial.parsed_ok += 1
        else:
            partial.typed_errors += 1
    return partial


def _record(partial: _Partial, text: str, focus: int, error: BaseException) -> None:
    message = str(error)
    if len(message) > MESSAGE_CHARS:
        message = message[:MESSAGE_CHARS] + "..."
    partial.crashes.append(Crash(_excerpt(text, focus), type(error).__name__, message))
    key = signature(error)
    if key not in partial.samples:
        trace = "".join(traceback.format_exception(error))
        partial.samples[key] = CrashSample(key, text, trace)


# Set in the parent before forking the workers, so they share the loaded corpus.
_WORKER_CORPUS: dict[str, Corpus] = {}


def _worker(job: tuple[int, int, int, float | None]) -> _Partial:
    seed, start, stop, deadline = job
    return _run_range(_WORKER_CORPUS["corpus"], seed, start, stop, deadline)


def fuzz(
    n_inputs: int,
    seed: int = 0,
    max_seconds: float | None = None,
    *,
    jobs: int = 1,
    corpus: Corpus | None = None,
    progress: Callable[[FuzzReport], None] | None = None,
) -> FuzzReport:
    """Run inputs 0..n_inputs-1 of `seed` (fewer if `max_seconds` runs out).

    `jobs` > 1 splits the inputs over forked processes; the results are the same.
    `progress` gets the running report after every PROGRESS_EVERY inputs.
    """
    started = time.monotonic()
    deadline = started + max_seconds if max_seconds is not None else None
    corpus = corpus or load_corpus()
    chunks = [
        (seed, start, min(start + CHUNK_INPUTS, n_inputs), deadline)
        for start in range(0, n_inputs, CHUNK_INPUTS)
    ]
    total = _Partial()
    next_progress = PROGRESS_EVERY

    def collect(chunk_index: int, part: _Partial) -> None:
        nonlocal next_progress
        total.add(part)
        done = min((chunk_index + 1) * CHUNK_INPUTS, n_inputs)
        if progress is not None and done >= next_progress:
            progress(total.report(time.monotonic() - started))
            next_progress += PROGRESS_EVERY

    if jobs > 1 and len(chunks) > 1 and "fork" in multiprocessing.get_all_start_methods():
        _WORKER_CORPUS["corpus"] = corpus
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                for chunk_index, part in enumerate(pool.imap(_worker, chunks)):
                    collect(chunk_index, part)
        finally:
            _WORKER_CORPUS.clear()
    else:
        for chunk_index, (chunk_seed, start, stop, chunk_deadline) in enumerate(chunks):
            collect(chunk_index, _run_range(corpus, chunk_seed, start, stop, chunk_deadline))
    return total.report(time.monotonic() - started)


# --- minimising and showing crashes -----------------------------------------------------


_LEXEME = re.compile(r'"(?:[^"\\]|\\.)*"|[()\[\]{}]|\s+|[^\s()\[\]{}"]+|.', re.DOTALL)


def minimize(text: str, still_fails: Callable[[str], bool], max_seconds: float = 20.0) -> str:
    """Shrink `text` while `still_fails` holds: whole forms, then token chunks, then chars."""
    deadline = time.monotonic() + max_seconds
    tokens = _LEXEME.findall(text)
    tokens = _drop_forms(tokens, still_fails, deadline)
    tokens = _ddmin(tokens, still_fails, deadline)
    text = "".join(tokens)
    # Long digit runs are written as one repeated digit when that still fails (readable).
    for match in reversed(list(re.finditer(r"[0-9]{16,}", text))):
        candidate = text[: match.start()] + "1" * len(match.group()) + text[match.end() :]
        if still_fails(candidate):
            text = candidate
    return "".join(_ddmin(list(text), still_fails, deadline))


def _drop_forms(tokens: list[str], still_fails: Callable[[str], bool], deadline: float) -> list[str]:
    """Try deleting each bracketed form, or replacing it by one of its child forms or by a
    one-asset leaf, until no form shrinks."""
    leaf = _LEXEME.findall('(asset"A")')
    shrunk = True
    while shrunk and time.monotonic() < deadline:
        shrunk = False
        start = len(tokens)
        while start > 0 and time.monotonic() < deadline:
            start -= 1
            end = _closing_token(tokens, start)
            if end is None:
                continue
            children = _child_forms(tokens[start + 1 : end])
            children += [g for child in children for g in _child_forms(child[1:-1])]
            for replacement in ([], *children, leaf):
                if len(replacement) >= end + 1 - start:
                    continue
                candidate = tokens[:start] + replacement + tokens[end + 1 :]
                if candidate and still_fails("".join(candidate)):
                    tokens = candidate
                    shrunk = True
                    start = min(start + len(replacement), len(tokens))
                    break
    return tokens


def _child_forms(tokens: list[str]) -> list[list[str]]:
    """The bracketed forms directly inside a token run."""
    children: list[list[str]] = []
    i = 0
    while i < len(tokens):
        close = _closing_token(tokens, i)
        if close is not None:
            children.append(tokens[i : close + 1])
            i = close + 1
        else:
            i += 1
    return children


def _closing_token(tokens: list[str], start: int) -> int | None:
    """Index of the token closing the bracket opened at `start` (None if not an opener)."""
    if tokens[start] not in _CLOSER:
        return None
    depth = 0
    for end in range(start, len(tokens)):
        if tokens[end] in _CLOSER:
            depth += 1
        elif tokens[end] in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return end
    return None


def _ddmin(items: list[str], still_fails: Callable[[str], bool], deadline: float) -> list[str]:
    """Delete chunks of halving size while `still_fails` holds."""
    size = max(1, len(items) // 2)
    while time.monotonic() < deadline:
        i = 0
        shrunk = False
        while i < len(items) and time.monotonic() < deadline:
            candidate = items[:i] + items[i + size :]
            if candidate and still_fails("".join(candidate)):
                items = candidate
                shrunk = True
            else:
                i += size
        if not shrunk:
            if size == 1:
                break
            size //= 2
    return items


def as_python(text: str, run: int = 16) -> str:
    """`text` as a Python expression, long runs of one character written as `'c' * n`."""
    parts: list[str] = []
    literal: list[str] = []
    for match in re.finditer(r"(.)\1*", text, re.DOTALL):
        chunk = match.group()
        if len(chunk) >= run:
            if literal:
                parts.append(repr("".join(literal)))
                literal = []
            parts.append(f"{chunk[0]!r} * {len(chunk)}")
        else:
            literal.append(chunk)
    if literal:
        parts.append(repr("".join(literal)))
    return " + ".join(parts) or "''"


def _show(text: str, limit: int = 160) -> str:
    shown = as_python(text)
    return shown if len(shown) <= limit else shown[:limit] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--corpus", type=Path, default=None, help="default: ALCHEMISER_CORPUS or ../shared")
    parser.add_argument("--no-minimize", action="store_true", help="do not shrink crash inputs")
    args = parser.parse_args(argv)

    corpus = load_corpus(args.corpus)
    fragments = sum(len(b) for b in corpus.node_fragments) + len(corpus.other_fragments)
    print(
        f"dsl fuzz: {len(corpus.names)} corpus files ({len(corpus.big)} big, sliced only),"
        f" {fragments} fragments; {args.inputs} inputs, seed {args.seed}, {args.jobs} jobs",
        flush=True,
    )

    def progress(report: FuzzReport) -> None:
        print(
            f"dsl fuzz: {report.inputs:>7} inputs  ok {report.parsed_ok:>6}  typed errors"
            f" {report.typed_errors:>6}  crashes {len(report.crashes):>4}"
            f"  {report.rate:>6.0f} inputs/s  {report.seconds:6.1f} s",
            flush=True,
        )

    report = fuzz(args.inputs, args.seed, args.max_seconds, jobs=args.jobs, corpus=corpus, progress=progress)
    print(
        f"dsl fuzz: done, {report.inputs} inputs in {report.seconds:.1f} s ({report.rate:.0f} inputs/s):"
        f" {report.parsed_ok} parsed, {report.typed_errors} typed errors, {len(report.crashes)} crashes"
    )
    for key, sample in report.samples.items():
        count = sum(1 for crash in report.crashes if _crash_matches(crash, key))
        print(f"\nCRASH {key} ({count} inputs)")
        text = sample.text
        if not args.no_minimize:
            text = minimize(text, functools.partial(_fails_with, key=key))
        print(f"  minimal input ({len(text)} chars): {_show(text, 600)}")
        print("  " + sample.traceback.rstrip().replace("\n", "\n  "))
    print("\ncase | runs | survived | crashes")
    print(report.row())
    return 1 if report.crashes else 0


def _fails_with(text: str, *, key: str) -> bool:
    _, error = check(text)
    return error is not None and signature(error) == key


def _crash_matches(crash: Crash, key: str) -> bool:
    return key.split(" ", 1)[0].split("(", 1)[0] == crash.exc_type


if __name__ == "__main__":
    sys.exit(main())

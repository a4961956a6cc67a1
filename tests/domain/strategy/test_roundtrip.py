"""clj -> score JSON -> clj gives the same bytes and the same weights (issue 16 A).

Every symphony we hold (our corpus, Composer's in all their forms, their canonical
texts) is written as canonical text, that text as score JSON, and the JSON read back
and written as text again: the two texts must be byte-identical, and the strategy read
from the JSON must allocate exactly like the source on generated bars. Hypothesis adds
random symphonies of every node kind, operator and indicator.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alchemiser_dagster.demo.synth import generate_bars
from alchemiser_dagster.domain.strategy import rules
from alchemiser_dagster.domain.strategy.ast import (
    Asset,
    BoolCondition,
    Condition,
    Filter,
    Group,
    If,
    IndicatorCall,
    Loc,
    Node,
    Number,
    Predicate,
    SortKey,
    Symphony,
    WeightEqual,
    WeightInverseVolatility,
    WeightSpecified,
)
from alchemiser_dagster.domain.strategy.compiler import load_symphony, parse_symphony
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory
from alchemiser_dagster.domain.strategy.indicators import INDICATOR_NAMES
from alchemiser_dagster.domain.strategy.score_json import parse_score_json
from alchemiser_dagster.domain.strategy.score_writer import to_score_json_text
from alchemiser_dagster.domain.strategy.writer import strategy_key, to_clj
from tests.conftest import DATA_END, DATA_START, corpus_dir, corpus_files

COMPOSER = corpus_dir() / "composer"
CANONICAL = COMPOSER / "canonical"
SESSIONS = 10


def roundtrip_corpus() -> list[Path]:
    """Ours, Composer's sources that load (those with a canonical text) and the canonical texts."""
    sources = sorted([*COMPOSER.glob("*.clj"), *COMPOSER.glob("*.json")])
    valid = [p for p in sources if (CANONICAL / f"{p.stem}.clj").is_file()]
    return corpus_files() + valid + sorted(CANONICAL.glob("*.clj"))


FILES = roundtrip_corpus()


def test_the_corpus_is_all_there() -> None:
    assert len(FILES) >= 9 + 19 + 111 + 111, len(FILES)
    assert sum(p.suffix == ".json" for p in FILES) == 85


@pytest.fixture(scope="module")
def corpus_history() -> MarketHistory:
    symbols: set[str] = set()
    for path in FILES:
        symbols |= load_symphony(path).symbols
    bars = generate_bars(sorted(symbols), start=DATA_START, end=DATA_END, seed=11)
    return MarketHistory.from_bars(bars, source="synthetic")


def clj_json_clj(symphony: Symphony) -> tuple[str, Symphony, str]:
    """(first canonical text, the strategy read from its score JSON, that one's canonical text)."""
    first = to_clj(symphony)
    score = to_score_json_text(parse_symphony(first, source="first.clj"))
    from_json = parse_score_json(score, source="converted.json")
    return first, from_json, to_clj(from_json)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_round_trip_is_byte_identical_and_allocates_the_same(
    path: Path, corpus_history: MarketHistory
) -> None:
    source = load_symphony(path)
    first, from_json, second = clj_json_clj(source)
    assert second == first
    assert strategy_key(from_json) == strategy_key(source)
    sessions = corpus_history.sessions[-SESSIONS:]
    want = SymphonyEvaluator(source, corpus_history).evaluate_range(sessions)
    got = SymphonyEvaluator(from_json, corpus_history).evaluate_range(sessions)
    assert got == want  # the same tree on the same bars: bit-for-bit, not approximately


# --- random symphonies ----------------------------------------------------------------

LOC = Loc("generated.clj", 1, 1)
SYMBOLS = st.sampled_from(["SPY", "QQQ", "TLT", "BIL", "UVXY", "BRK/B", "GLD", "SOXL"])
# Names carry what needs escaping in text and JSON: quotes, backslashes, newlines, tabs,
# non-ASCII; symbols cannot (the reader refuses control characters in tickers).
NAMES = st.text(
    st.one_of(st.sampled_from('"\\\n\t é€|;'), st.characters(codec="utf-8", exclude_categories=("Cs",))),
    max_size=12,
)
WINDOWS = st.integers(2, 400)
INDICATORS = sorted(INDICATOR_NAMES)
NUMBERS = st.one_of(
    st.integers(-1000, 1000).map(float),
    st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 1e-07, 99.9, 1e21]),
)


@st.composite
def indicator_calls(draw: st.DrawFn) -> IndicatorCall:
    indicator = draw(st.sampled_from(INDICATORS))
    window = 1 if indicator == "current-price" else draw(WINDOWS)
    return IndicatorCall(indicator, draw(SYMBOLS), window, LOC)


OPERANDS = st.one_of(NUMBERS.map(lambda v: Number(v, repr(v))), indicator_calls())
CONDITIONS = st.builds(
    Condition, st.sampled_from([">", "<", ">=", "<=", "="]), OPERANDS, OPERANDS, st.just(LOC)
)
PREDICATES: st.SearchStrategy[Predicate] = st.recursive(
    CONDITIONS,
    lambda inner: st.builds(
        BoolCondition,
        st.sampled_from(["and", "or"]),
        st.lists(inner, min_size=2, max_size=3).map(tuple),
        st.just(LOC),
    ),
    max_leaves=4,
)
ASSETS = st.builds(Asset, SYMBOLS, st.none() | NAMES, st.just(LOC), st.just(0))


@st.composite
def weight_lists(draw: st.DrawFn, count: int) -> tuple[float, ...]:
    """Fractions summing to 1 (within the reader's 1e-6): sixty-fourths (an exact sum),
    hundredths (Composer's percents) or any integer ratios (1/3: 16-17 digit decimals)."""
    total = draw(st.sampled_from([64, 100, draw(st.integers(1, 10_000))]))
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=count - 1, max_size=count - 1)))
    bounds = [0, *cuts, total]
    return tuple((b - a) / total for a, b in itertools.pairwise(bounds))


@st.composite
def filters(draw: st.DrawFn, children: st.SearchStrategy[Node]) -> Filter:
    indicator = draw(st.sampled_from(INDICATORS))
    key = SortKey(indicator, 1 if indicator == "current-price" else draw(WINDOWS))
    if indicator in rules.STREAM_SORT_KEYS:
        candidates = draw(st.lists(children, min_size=1, max_size=3))
    else:  # price-only keys rank assets only
        candidates = draw(st.lists(ASSETS, min_size=1, max_size=3))
    unique = rules.unique_candidates(tuple(candidates))
    return Filter(key, draw(st.sampled_from(["top", "bottom"])), draw(st.integers(1, 4)), unique, LOC, 0)


@st.composite
def weight_specified(draw: st.DrawFn, children: st.SearchStrategy[Node]) -> WeightSpecified:
    nodes = tuple(draw(st.lists(children, min_size=1, max_size=3)))
    return WeightSpecified(draw(weight_lists(len(nodes))), nodes, LOC, 0)


def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    vectors = st.lists(children, min_size=1, max_size=3).map(tuple)
    return st.one_of(
        st.builds(Group, NAMES, vectors, st.just(LOC), st.just(0)),
        st.builds(WeightEqual, vectors, st.just(LOC), st.just(0)),
        st.builds(WeightInverseVolatility, WINDOWS, vectors, st.just(LOC), st.just(0)),
        st.builds(If, PREDICATES, vectors, vectors, st.just(LOC), st.just(0)),
        filters(children),
        weight_specified(children),
    )


NODES: st.SearchStrategy[Node] = st.recursive(ASSETS, extend, max_leaves=12)
OPTIONS = st.fixed_dictionaries(
    {"rebalance-frequency": st.sampled_from(rules.FREQUENCIES)},
    optional={
        "asset-class": st.just("EQUITIES"),
        "rebalance-threshold": st.sampled_from([0.05, 0.1, 1.0]) | st.floats(1e-6, 1.0, allow_nan=False),
    },
)
SYMPHONIES = st.builds(
    Symphony,
    name=NAMES,
    options=OPTIONS,
    body=NODES,
    source=st.just("generated.clj"),
    node_count=st.just(0),
    symbols=st.just(frozenset()),
    max_window=st.just(1),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SYMPHONIES)
def test_random_symphonies_read_back_from_text_and_from_json(symphony: Symphony) -> None:
    text = to_clj(symphony)
    assert strategy_key(parse_symphony(text, source="generated.clj")) == strategy_key(symphony)
    from_json = parse_score_json(to_score_json_text(symphony), source="generated.json")
    assert strategy_key(from_json) == strategy_key(symphony)
    assert to_clj(from_json) == text


def test_the_generator_reaches_every_kind() -> None:
    # A generator that never produced, say, a filter would let the test above pass blind.
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(SYMPHONIES)
    def collect(symphony: Symphony) -> None:
        stack: list[object] = [symphony.body]
        while stack:
            item = stack.pop()
            seen.add(type(item).__name__)
            if isinstance(item, If):
                seen.add(f"op {item.condition.op}")
                stack += [item.condition, *item.then, *item.otherwise]
            elif isinstance(item, BoolCondition):
                stack += item.terms
            elif isinstance(item, Condition):
                stack += [item.lhs, item.rhs]
                seen.add(f"op {item.op}")
            elif isinstance(item, IndicatorCall):
                seen.add(item.indicator)
            elif isinstance(item, Filter):
                seen.add(item.key.indicator)
                stack += item.candidates
            elif isinstance(item, Group | WeightEqual | WeightSpecified | WeightInverseVolatility):
                stack += item.children

    collect()
    kinds = {"Asset", "Group", "WeightEqual", "WeightSpecified", "WeightInverseVolatility", "If", "Filter"}
    operators = {f"op {op}" for op in (">", "<", ">=", "<=", "=", "and", "or")}
    assert kinds | operators | {"Number", "BoolCondition"} | INDICATOR_NAMES <= seen

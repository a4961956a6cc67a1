"""The canonical `.clj` text: its layout, its literals, and that it reads back as the same strategy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alchemiser_dagster.domain.portfolio.trading import trading_setting
from alchemiser_dagster.domain.strategy.ast import Asset, Filter, If, Node
from alchemiser_dagster.domain.strategy.compiler import load_symphony, parse_symphony
from alchemiser_dagster.domain.strategy.writer import format_number, quote, strategy_key, to_clj
from tests.conftest import corpus_dir, corpus_files

COMPOSER = corpus_dir() / "composer"
CANONICAL = COMPOSER / "canonical"
NODE_HEAD = re.compile(
    r"\((asset|group|weight-equal|weight-specified|weight-inverse-volatility|if|filter)(?= |$)"
)
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")

EX2 = (
    '(defsymphony "ex2" {} (weight-specified 0.5 (filter (cumulative-return {:window 2}) (select-top 2)'
    ' [(asset "AAA") (asset "BBB") (asset "CCC")]) 0.5 (weight-inverse-volatility 3'
    ' [(asset "AAA" nil) (asset "DDD" "D, \\"quoted\\"")])))'
)
EX2_CANONICAL = """\
(defsymphony "ex2" {:asset-class "EQUITIES", :rebalance-frequency :daily}
  (weight-specified
    0.5 (filter (cumulative-return {:window 2}) (select-top 2) [
      (asset "AAA")
      (asset "BBB")
      (asset "CCC")
    ])
    0.5 (weight-inverse-volatility 3 [
      (asset "AAA")
      (asset "DDD" "D, \\"quoted\\"")
    ])
  )
)
"""

EX3_POSITIONAL = """
(defsymphony "ex3" {:asset-class "EQUITIES" :rebalance-threshold 0.05 :rebalance-frequency :none}
  (group "G" [(if (and (> (current-price "AAA") (moving-average-price "AAA" 2)) (< (rsi "BBB" 10) 30))
     [(asset "AAA")] [(asset "BBB") (asset "CCC")])]))
"""
EX3_CANONICAL = """\
(defsymphony "ex3" {:asset-class "EQUITIES", :rebalance-frequency :none, :rebalance-threshold 0.05}
  (group "G" [
    (if (and (> (current-price "AAA") (moving-average-price "AAA" {:window 2})) (< (rsi "BBB" {:window 10}) 30)) [
      (asset "AAA")
    ] [
      (asset "BBB")
      (asset "CCC")
    ])
  ])
)
"""


def text_corpus() -> list[Path]:
    """Every text symphony we hold that loads: ours, Composer's in their dialects, and their
    canonical forms (broken sources have no canonical file and are left to the reader's tests)."""
    composer = [p for p in sorted(COMPOSER.glob("*.clj")) if (CANONICAL / p.name).exists()]
    return corpus_files() + composer + sorted(CANONICAL.glob("*.clj"))


def count_nodes(node: Node) -> int:
    if isinstance(node, Asset):
        return 1
    if isinstance(node, If):
        return 1 + sum(count_nodes(child) for child in node.then + node.otherwise)
    children = node.candidates if isinstance(node, Filter) else node.children
    return 1 + sum(count_nodes(child) for child in children)


def test_layout_is_one_node_per_line_with_two_space_indents() -> None:
    assert to_clj(parse_symphony(EX2, "ex2.clj")) == EX2_CANONICAL


def test_positional_windows_and_and_become_canonical() -> None:
    assert to_clj(parse_symphony(EX3_POSITIONAL, "ex3.clj")) == EX3_CANONICAL


@pytest.mark.parametrize("path", text_corpus(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_text_reads_back_as_the_same_strategy(path: Path) -> None:
    symphony = load_symphony(path)
    text = to_clj(symphony)
    again = parse_symphony(text, source="canonical.clj")
    assert strategy_key(again) == strategy_key(symphony)
    assert to_clj(again) == text, "the canonical text is not a fixed point"
    lines = text.splitlines()
    assert sum(len(NODE_HEAD.findall(line)) for line in lines) == count_nodes(symphony.body)
    assert all(len(NODE_HEAD.findall(line)) <= 1 for line in lines)
    assert all(re.fullmatch(r"(  )*\S.*", line) for line in lines)


@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))
def test_strings_read_back_exactly(text: str) -> None:
    symphony = parse_symphony(f'(defsymphony {quote(text)} {{}} (asset "SPY" {quote(text)}))', "q.clj")
    assert symphony.name == text
    assert to_clj(symphony).count("\n") == 3  # escapes keep one node per line


def test_only_the_grammar_escapes_are_written() -> None:
    assert quote('a"b\\c\nd\te') == '"a\\"b\\\\c\\nd\\te"'
    assert quote("é€") == '"é€"'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (80.0, "80"),
        (-3.0, "-3"),
        (0.1, "0.1"),
        (1e-05, "0.00001"),
        (1e22, "10000000000000000000000"),
        (0.30000000000000004, "0.30000000000000004"),
        (-2.5e-7, "-0.00000025"),
    ],
)
def test_numbers_use_the_shortest_grammar_decimal(value: float, text: str) -> None:
    assert format_number(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_number_reads_back_exactly(value: float) -> None:
    text = format_number(value)
    assert NUMBER.fullmatch(text)
    assert float(text) == value


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="inf"):
        format_number(float("inf"))


@pytest.mark.parametrize(
    ("options", "written"),
    [
        ("{}", '{:asset-class "EQUITIES", :rebalance-frequency :daily}'),
        (
            "{:rebalance-threshold 0.05}",
            '{:asset-class "EQUITIES", :rebalance-frequency :none, :rebalance-threshold 0.05}',
        ),
        (
            "{:rebalance-frequency :weekly :rebalance-threshold 0.05}",
            '{:asset-class "EQUITIES", :rebalance-frequency :weekly, :rebalance-threshold 0.05}',
        ),
    ],
)
def test_the_written_trading_setting_is_the_one_the_source_meant(options: str, written: str) -> None:
    """A threshold alone is Composer's threshold-only setting: written as :none, never :daily."""
    source = f'(defsymphony "s" {options} (asset "SPY"))'
    text = to_clj(parse_symphony(source))
    assert text.splitlines()[0] == f'(defsymphony "s" {written}'
    assert trading_setting("s", parse_symphony(text).options) == trading_setting(
        "s", parse_symphony(source).options
    )

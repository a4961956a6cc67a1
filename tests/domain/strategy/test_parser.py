"""Reader and compiler: every corpus construct parses; every error names file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alchemiser_dagster.domain.errors import DslParseError, DslValidationError, StrategyError
from alchemiser_dagster.domain.strategy.ast import Asset, Filter, Group, If, WeightSpecified
from alchemiser_dagster.domain.strategy.compiler import parse_symphony
from alchemiser_dagster.domain.strategy.reader import MAX_DEPTH

GOOD = """(defsymphony "demo" {:asset-class "EQUITIES", :rebalance-threshold 0.1}
 (weight-equal
  [(if (> (rsi "SPY" {:window 10}) 70)
     [(asset "UVXY" nil)]
     [(filter (cumulative-return {:window 5}) (select-bottom 1)
        [(asset "TQQQ" "ProShares UltraPro QQQ") (asset "TQQQ") (group "G" [(asset "BIL")])])])
   (weight-specified 0.25 (asset "SPY") 0.75 (weight-inverse-volatility 3 [(asset "TLT") (asset "GLD")]))]))
"""


def test_good_symphony_builds_typed_tree() -> None:
    symphony = parse_symphony(GOOD, source="demo.clj")
    assert symphony.name == "demo"
    assert symphony.options == {"asset-class": "EQUITIES", "rebalance-threshold": 0.1}
    assert symphony.symbols == {"SPY", "UVXY", "TQQQ", "BIL", "TLT", "GLD"}
    assert symphony.max_window == 10
    top = symphony.body
    branch = top.children[0]  # type: ignore[union-attr]
    assert isinstance(branch, If)
    assert (branch.loc.line, branch.loc.column) == (3, 4)
    filter_node = branch.otherwise[0]
    assert isinstance(filter_node, Filter)
    assert filter_node.select == "bottom" and filter_node.count == 1
    # A repeated asset keeps its first place only.
    assert [type(c) for c in filter_node.candidates] == [Asset, Group]
    assert isinstance(top.children[1], WeightSpecified)  # type: ignore[union-attr]


def test_escaped_quote_in_string() -> None:
    symphony = parse_symphony('(defsymphony "say \\"hi\\"\\n" {} (asset "SPY"))')
    assert symphony.name == 'say "hi"\n'


def _error(text: str) -> StrategyError:
    with pytest.raises(StrategyError) as info:
        parse_symphony(text, source="bad.clj")
    return info.value


@pytest.mark.parametrize(
    ("text", "kind", "line", "column", "fragment"),
    [
        # unbalanced: the unclosed list is reported at its opening bracket
        ('(defsymphony "x" {}\n  (weight-equal [(asset "SPY")]', DslParseError, 2, 3, "never closed"),
        (
            '(defsymphony "x" {}\n  (weight-equal\n    [(asset "SPY")]\n  ))\n)',
            DslParseError,
            5,
            1,
            "unexpected ')'",
        ),
        ('(defsymphony "x" {} (weight-equal [(asset "SPY")))', DslParseError, 1, 49, "does not match"),
        ('(defsymphony "x" {} (asset "SPY))', DslParseError, 1, 28, "unterminated string"),
        ('(defsymphony "x" {} (asset "S\\qY"))', DslParseError, 1, 30, "bad escape"),
        ('(defsymphony "x" {} (asset "SPY")) (asset "QQQ")', DslParseError, 1, 36, "extra form"),
        ('(defsymphony "x" {} (asset "SPY" @))', DslParseError, 1, 34, "unexpected character"),
        ('(defsymphony "x" {:window} (asset "SPY"))', DslParseError, 1, 18, "even number"),
        (
            '(defsymphony "x" {} (if (> (rsi "SPY" {:window 1x0}) 5) [(asset "A")] [(asset "B")]))',
            DslParseError,
            1,
            48,
            "malformed number",
        ),
        ("", DslParseError, 1, 1, "empty file"),
        # unknown operator / indicator / comparison
        (
            '(defsymphony "x" {}\n  (weight-equal\n    [(weight-equl [(asset "SPY")])]))',
            DslValidationError,
            3,
            6,
            "unknown operator 'weight-equl'",
        ),
        (
            '(defsymphony "x" {} (if (> (rsii "SPY" {:window 10}) 5) [(asset "A")] [(asset "B")]))',
            DslValidationError,
            1,
            28,
            "unknown indicator 'rsii'",
        ),
        (
            '(defsymphony "x" {} (if (== (rsi "SPY" {:window 10}) 5) [(asset "A")] [(asset "B")]))',
            DslValidationError,
            1,
            25,
            "unknown comparison '=='",
        ),
        (
            '(defsymphony "x" {} (filter (ma {:window 3}) (select-top 1) [(asset "A")]))',
            DslValidationError,
            1,
            29,
            "unknown indicator 'ma'",
        ),
        # wrong arity
        (
            '(defsymphony "x" {}\n (if (> (rsi "SPY" {:window 10}) 5) [(asset "A")]))',
            DslValidationError,
            2,
            2,
            "wrong number of arguments",
        ),
        (
            '(defsymphony "x" {} (if (> (rsi "SPY" {:window 10})) [(asset "A")] [(asset "B")]))',
            DslValidationError,
            1,
            25,
            "wrong number of arguments",
        ),
        ('(defsymphony "x" {} (asset "A" "B" "C"))', DslValidationError, 1, 21, "wrong number of arguments"),
        (
            '(defsymphony "x" {} (weight-specified 0.5 (asset "A") 0.5))',
            DslValidationError,
            1,
            21,
            "wrong number of arguments",
        ),
        ('(defsymphony "x" (asset "A"))', DslValidationError, 1, 1, "wrong number of arguments"),
        # bad window / N
        (
            '(defsymphony "x" {}\n  (if (> (rsi "SPY" {:window 0}) 5) [(asset "A")] [(asset "B")]))',
            DslValidationError,
            2,
            10,
            ":window must be an integer >= 1",
        ),
        (
            '(defsymphony "x" {} (if (> (rsi "SPY" {:window 2.5}) 5) [(asset "A")] [(asset "B")]))',
            DslValidationError,
            1,
            28,
            ":window must be an integer >= 1",
        ),
        (
            '(defsymphony "x" {} (if (> (rsi "SPY" {:window "10"}) 5) [(asset "A")] [(asset "B")]))',
            DslValidationError,
            1,
            28,
            ":window must be an integer >= 1",
        ),
        (
            '(defsymphony "x" {} (if (> (rsi "SPY" {}) 5) [(asset "A")] [(asset "B")]))',
            DslValidationError,
            1,
            28,
            "missing :window",
        ),
        (
            '(defsymphony "x" {} (if (> (rsi "SPY" {:days 3}) 5) [(asset "A")] [(asset "B")]))',
            DslValidationError,
            1,
            28,
            "unknown keyword :days",
        ),
        (
            '(defsymphony "x" {} (if (> (rsi "SPY" 10.5) 5) [(asset "A")] [(asset "B")]))',
            DslValidationError,
            1,
            28,
            "window must be an integer >= 1",
        ),
        (
            '(defsymphony "x" {} (filter (rsi {:window 3}) (select-top 0) [(asset "A")]))',
            DslValidationError,
            1,
            47,
            "select-top count must be an integer >= 1",
        ),
        (
            '(defsymphony "x" {} (weight-inverse-volatility -3 [(asset "A")]))',
            DslValidationError,
            1,
            21,
            "window must be an integer >= 1",
        ),
        (
            '(defsymphony "x" {} (filter (stdev-price {:window 1}) (select-top 1) [(asset "A")]))',
            DslValidationError,
            1,
            29,
            "stdev-price needs :window >= 2",
        ),
        # other static rules
        (
            '(defsymphony "x" {} (weight-specified 0.5 (asset "A") 0.4 (asset "B")))',
            DslValidationError,
            1,
            21,
            "sum to 1",
        ),
        ('(defsymphony "x" {} (weight-equal []))', DslValidationError, 1, 35, "at least one node"),
        (
            '(defsymphony "x" {} (filter (current-price) (select-top 1) [(group "g" [(asset "A")])]))',
            DslValidationError,
            1,
            21,
            "cannot rank a non-asset candidate",
        ),
        ('(defsymphony "x" {} (asset nil))', DslValidationError, 1, 28, "asset symbol must be a string"),
    ],
)
def test_errors_name_file_line_and_column(
    text: str, kind: type[StrategyError], line: int, column: int, fragment: str
) -> None:
    error = _error(text)
    assert type(error) is kind
    assert (error.source, error.line, error.column) == ("bad.clj", line, column), error.render()
    assert fragment in error.message
    assert error.render().startswith(f"bad.clj:{line}:{column}: {kind.error_name()}: ")
    assert kind.error_name() in ("ParseError", "ValidationError")


def test_validation_covers_branches_that_would_not_run() -> None:
    # The typo sits in an else-branch; it must fail at load, before any data.
    text = '(defsymphony "x" {} (if (> 2 1) [(asset "A")] [(rsi "A" {:window 2})]))'
    error = _error(text)
    assert isinstance(error, DslValidationError)
    assert "not a node here" in error.message


def test_deep_nesting_is_accepted_up_to_the_limit_and_rejected_beyond() -> None:
    depth = 300  # each level is two brackets: ( and [ -> 602 deep, beyond the spec's 512
    text = '(defsymphony "deep" {} ' + '(group "g" [' * depth + '(asset "SPY")' + "])" * depth + ")"
    symphony = parse_symphony(text)
    assert symphony.symbols == {"SPY"}
    levels = MAX_DEPTH // 2 + 1
    too_deep = '(defsymphony "deep" {} ' + '(group "g" [' * levels + '(asset "SPY")' + "])" * levels + ")"
    error = _error(too_deep)
    assert isinstance(error, DslParseError)
    assert f"deeper than {MAX_DEPTH}" in error.message


CORPUS_SAMPLE = (Path(__file__).resolve().parents[3] / "strategies" / "6-TQQQ-FLT.clj").read_text()
_EDITS = st.tuples(
    st.sampled_from(["delete", "insert", "replace"]),
    st.integers(min_value=0, max_value=len(CORPUS_SAMPLE) - 1),
    st.sampled_from([*'()[]{}";:\\ \n-.0123456789abcxyz@#"', "nil", "(asset", ":window", "10.5"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_EDITS, min_size=1, max_size=4))
def test_mutated_symphonies_raise_only_typed_errors_with_a_position(
    edits: list[tuple[str, int, str]],
) -> None:
    text = CORPUS_SAMPLE
    for action, position, piece in edits:
        at = min(position, len(text))
        if action == "delete":
            text = text[:at] + text[at + 1 :]
        elif action == "insert":
            text = text[:at] + piece + text[at:]
        else:
            text = text[:at] + piece + text[at + 1 :]
    try:
        parse_symphony(text, source="m.clj")
    except (DslParseError, DslValidationError) as error:
        assert error.line >= 1 and error.column >= 1
        assert error.render().startswith(f"m.clj:{error.line}:{error.column}: ")


def test_non_utf8_file_is_a_parse_error_with_position(tmp_path: Path) -> None:
    from alchemiser_dagster.domain.strategy.compiler import load_symphony

    path = tmp_path / "latin.clj"
    path.write_bytes(b'(defsymphony "x" {}\n  (asset "\xff"))')
    with pytest.raises(DslParseError) as info:
        load_symphony(path)
    assert (info.value.source, info.value.line, info.value.column) == ("latin.clj", 2, 11)


@pytest.mark.parametrize("literal", ["1" * 4301, "100001", "0" * 50 + "7"])
def test_windows_are_bounded_and_huge_literals_are_typed_errors(literal: str) -> None:
    text = f'(defsymphony "x" {{}} (weight-inverse-volatility {literal} [(asset "A")]))'
    if literal.lstrip("0") == "7":
        assert parse_symphony(text).max_window == 7
        return
    with pytest.raises(DslValidationError, match="at most 100,000"):
        parse_symphony(text)

"""The text forms of spec §9, one test per row, and the load-time rules of issue 15.

Each form must build the same tree as its plain spec-v1 spelling (locations and ids
aside), so §2-§6 apply to it unchanged; errors name `FILE:LINE:COL`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from alchemiser_dagster.domain.constants import FLOAT_WEIGHT_SUM_TOLERANCE as WEIGHT_SUM_TOLERANCE
from alchemiser_dagster.domain.errors import DslParseError, DslValidationError, StrategyError
from alchemiser_dagster.domain.strategy.ast import BoolCondition, Condition, If, WeightSpecified
from alchemiser_dagster.domain.strategy.compiler import load_symphony, parse_symphony
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory
from alchemiser_dagster.domain.strategy.render import trace_text
from alchemiser_dagster.domain.strategy.rules import MAX_SYMPHONY_BYTES
from alchemiser_dagster.domain.strategy.trace import IfTrace
from tests.domain.strategy.test_evaluator import D, bars


def shape(value: object) -> object:
    """The tree without source locations and node ids: what the evaluator acts on."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f.name for f in dataclasses.fields(value) if f.name not in ("loc", "uid")]
        return (type(value).__name__, *(shape(getattr(value, name)) for name in fields))
    if isinstance(value, tuple):
        return tuple(shape(v) for v in value)
    return value


def body(text: str) -> object:
    return shape(parse_symphony(f'(defsymphony "s" {{}} {text})', source="s.clj").body)


def same(form: str, plain: str) -> None:
    assert body(form) == body(plain)


def error(text: str) -> StrategyError:
    with pytest.raises(StrategyError) as info:
        parse_symphony(text, source="bad.clj")
    return info.value


def run(text: str, *, trace: bool = True):  # type: ignore[no-untyped-def]
    symphony = parse_symphony(text, source="f.clj")
    return SymphonyEvaluator(symphony, MarketHistory.from_bars(bars())).evaluate(D, trace=trace)


IF = '(if {} [(asset "AAA")] [(asset "BBB")])'


# --- one test per row of the §9 text table ---------------------------------------------


def test_positional_windows_mean_the_window_option() -> None:
    same(IF.format('(> (rsi "SPY" 10) 70)'), IF.format('(> (rsi "SPY" {:window 10}) 70)'))
    same(
        IF.format('(< (current-price "UUP") (moving-average-price "UUP" 50))'),
        IF.format('(< (current-price "UUP") (moving-average-price "UUP" {:window 50}))'),
    )
    same(IF.format('(> (rsi "SPY" "10") 70)'), IF.format('(> (rsi "SPY" {:window 10}) 70)'))


def test_positional_filter_keys() -> None:
    same(
        '(filter (rsi 21) (select-top 1) [(asset "A") (asset "B")])',
        '(filter (rsi {:window 21}) (select-top 1) [(asset "A") (asset "B")])',
    )
    same(
        '(filter (moving-average-return 90) (select-bottom 2) [(asset "A") (asset "B")])',
        '(filter (moving-average-return {:window 90}) (select-bottom 2) [(asset "A") (asset "B")])',
    )


def test_integral_float_windows_and_non_integral_ones() -> None:
    same(IF.format('(> (rsi "SPY" {:window 10.0}) 70)'), IF.format('(> (rsi "SPY" {:window 10}) 70)'))
    same(IF.format('(> (rsi "SPY" 10.0) 70)'), IF.format('(> (rsi "SPY" {:window 10}) 70)'))
    failure = error(
        '(defsymphony "x" {}\n (if (> (rsi "SPY" {:window 10.5}) 70) [(asset "A")] [(asset "B")]))'
    )
    assert (failure.line, failure.column) == (2, 9)
    assert "must be an integer >= 1, found 10.5" in failure.message


def test_a_window_on_current_price_is_ignored() -> None:
    same(IF.format('(> (current-price "SPY" 2) 400)'), IF.format('(> (current-price "SPY") 400)'))


def test_and_or_stop_early_and_trace_each_evaluated_condition() -> None:
    # rsi AAA 3 = 86.8132 (spec Ex1); BBB has no bar gap, CCC is unknown to the bars:
    # a term that would read it must never run once the result is known.
    text = (
        '(defsymphony "b" {} (if (or (> (rsi "AAA" {:window 3}) 50) (> (rsi "ZZZ" 3) 1))'
        ' [(if (and (< (rsi "AAA" 3) 50) (> (rsi "ZZZ" 3) 1)) [(asset "CCC")] [(asset "AAA")])]'
        ' [(asset "BBB")]))'
    )
    evaluation = run(text)
    assert evaluation.weights == {"AAA": 1.0}
    outer, inner = evaluation.trace
    assert isinstance(outer, IfTrace) and isinstance(inner, IfTrace)
    assert (outer.op, outer.result, outer.branch, outer.lhs) == ("or", True, "then", None)
    assert [term.op for term in outer.terms] == [">"]  # or stopped at the first true
    assert outer.terms[0].lhs is not None and round(outer.terms[0].lhs.value, 4) == 86.8132
    assert (inner.op, inner.result, inner.branch) == ("and", False, "else")
    assert len(inner.terms) == 1 and inner.terms[0].result is False  # and stopped at the first false
    text_trace = trace_text(evaluation)
    assert '(or [(rsi "AAA" {:window 3}) = 86.8132 > 50: true])' in text_trace
    # Untraced evaluation agrees and short-circuits the same way (ZZZ would be UnknownSymbol).
    assert run(text, trace=False).weights == {"AAA": 1.0}


def test_and_or_nest_and_need_two_terms() -> None:
    tree = parse_symphony(
        '(defsymphony "n" {} (if (and (> 1 0) (or (< 1 0) (= 2 2)) (> 3 2)) [(asset "A")] [(asset "B")]))'
    ).body
    assert isinstance(tree, If) and isinstance(tree.condition, BoolCondition)
    assert [type(t).__name__ for t in tree.condition.terms] == ["Condition", "BoolCondition", "Condition"]
    assert run('(defsymphony "n" {} ' + IF.format("(and (> 1 0) (or (< 1 0) (= 2 2)))") + ")").weights == {
        "AAA": 1.0
    }
    failure = error('(defsymphony "x" {} (if (and (> 1 0)) [(asset "A")] [(asset "B")]))')
    assert (failure.line, failure.column) == (1, 25)
    assert "at least two conditions" in failure.message


def test_equality_is_exact_float_equality() -> None:
    tree = parse_symphony('(defsymphony "e" {} ' + IF.format('(= (current-price "AAA") 12)') + ")").body
    assert isinstance(tree, If) and isinstance(tree.condition, Condition) and tree.condition.op == "="
    assert run('(defsymphony "e" {} ' + IF.format('(= (current-price "AAA") 12)') + ")").weights == {
        "AAA": 1.0
    }
    assert run('(defsymphony "e" {} ' + IF.format('(= (current-price "AAA") 12.0001)') + ")").weights == {
        "BBB": 1.0
    }


@pytest.mark.parametrize(
    ("alias", "plain"),
    [
        (
            '(weight-inverse-vol 3 [(asset "A") (asset "B")])',
            '(weight-inverse-volatility 3 [(asset "A") (asset "B")])',
        ),
        (
            '(filter (standard-deviation-return 5) (select-top 1) [(asset "A")])',
            '(filter (stdev-return {:window 5}) (select-top 1) [(asset "A")])',
        ),
        (
            '(filter (standard-deviation-price 5) (select-top 1) [(asset "A")])',
            '(filter (stdev-price {:window 5}) (select-top 1) [(asset "A")])',
        ),
        (IF.format('(> (relative-strength-index "A" 5) 1)'), IF.format('(> (rsi "A" {:window 5}) 1)')),
        (
            IF.format('(> (current-price "A") (moving-average "A" 5))'),
            IF.format('(> (current-price "A") (moving-average-price "A" {:window 5}))'),
        ),
    ],
)
def test_aliases(alias: str, plain: str) -> None:
    same(alias, plain)


def test_percent_weights_in_map_and_vector_form() -> None:
    plain = '(weight-specified 0.6 (asset "A") 0.4 (asset "B"))'
    same('(weight-specified {"A" 60 "B" 40} [(asset "A") (asset "B")])', plain)
    same('(weight-specified [60 40] [(asset "A") (asset "B")])', plain)
    same('(weight-specified [0.6 0.4] [(asset "A") (asset "B")])', plain)
    # Labels are positional: a repeated label is still one weight per child.
    same('(weight-specified {"BIL" 60 "BIL" 40} [(asset "A") (asset "B")])', plain)
    tree = parse_symphony('(defsymphony "w" {} (weight-specified [79 21] [(asset "A") (asset "B")]))').body
    assert isinstance(tree, WeightSpecified) and tree.weights == (0.79, 0.21)


@pytest.mark.parametrize(
    ("weights", "fragment"),
    [
        ("[60 30]", "they sum to 90"),
        ('{"A" 0.5 "B" 0.6}', "they sum to 1.1"),
        ("[60 40 1]", "3 weights for 2 nodes"),
    ],
)
def test_percent_weight_sum_rule_names_the_node(weights: str, fragment: str) -> None:
    failure = error(f'(defsymphony "x" {{}}\n  (weight-specified {weights} [(asset "A") (asset "B")]))')
    assert isinstance(failure, DslValidationError)
    assert (failure.line, failure.column) == (2, 3)
    assert fragment in failure.message


def test_a_branch_may_be_one_node_without_a_vector() -> None:
    same('(if (> 1 0) (asset "A") [(asset "B")])', '(if (> 1 0) [(asset "A")] [(asset "B")])')
    same(
        '(if (> 1 0) (if (< 1 0) (asset "A") (asset "B")) (asset "C"))',
        '(if (> 1 0) [(if (< 1 0) [(asset "A")] [(asset "B")])] [(asset "C")])',
    )


def test_equities_tickers_and_refused_crypto() -> None:
    same('(asset "EQUITIES::SPY//USD" "SPY")', '(asset "SPY" "SPY")')
    same(IF.format('(> (rsi "EQUITIES::BRK/B//USD" 10) 1)'), IF.format('(> (rsi "BRK/B" {:window 10}) 1)'))
    failure = error('(defsymphony "x" {}\n  (weight-equal [(asset "SPY") (asset "CRYPTO::BTC//USD")]))')
    assert isinstance(failure, DslValidationError)
    assert (failure.line, failure.column) == (2, 32)
    assert "'CRYPTO::BTC//USD' is not a US equity" in failure.message


def test_defsymphony_without_its_parentheses() -> None:
    bare = parse_symphony('defsymphony "bare" {:rebalance-frequency :daily}\n  (asset "SPY")')
    wrapped = parse_symphony('(defsymphony "bare" {:rebalance-frequency :daily}\n  (asset "SPY"))')
    assert (bare.name, bare.options, shape(bare.body)) == (wrapped.name, wrapped.options, shape(wrapped.body))
    failure = error('defsymphony "x" {}\n  (asset "SPY") (asset "QQQ")')
    assert "wrong number of arguments" in failure.message


def test_unicode_escapes() -> None:
    symphony = parse_symphony(
        '(defsymphony "caf\\u00e9 \\ud83d\\ude00" {} (group "\\u0041" [(asset "SPY")]))'
    )
    assert symphony.name == "café 😀"
    failure = error('(defsymphony "bad \\u12G4" {} (asset "SPY"))')
    assert isinstance(failure, DslParseError) and (failure.line, failure.column) == (1, 19)


# --- issue 15: load-time rules ---------------------------------------------------------------


def test_weights_within_the_load_tolerance_also_pass_the_evaluator() -> None:
    off = 1.0 - WEIGHT_SUM_TOLERANCE / 2
    text = f'(defsymphony "t" {{}} (weight-specified 0.5 (asset "AAA") {off - 0.5!r} (asset "BBB")))'
    weights = run(text).weights
    assert weights["AAA"] == 0.5 and weights["BBB"] == pytest.approx(0.5 - WEIGHT_SUM_TOLERANCE / 2)
    beyond = f'(defsymphony "t" {{}} (weight-specified 0.5 (asset "AAA") {0.5 - 2 * WEIGHT_SUM_TOLERANCE!r} (asset "B")))'
    assert "sum to 1" in error(beyond).message


def test_a_symphony_file_has_a_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.clj"
    with path.open("wb") as handle:
        handle.write(b'(defsymphony "x" {} (asset "SPY"))')
        handle.truncate(MAX_SYMPHONY_BYTES + 1)
    with pytest.raises(DslParseError) as info:
        load_symphony(path)
    assert info.value.render().startswith("huge.clj:1:1: ParseError: the file is 16,777,217 bytes")


@pytest.mark.parametrize("symbol", ["SP\\nY", "SPY\\t", "A\\u0000"])
def test_control_characters_in_a_symbol_are_refused_escaped(symbol: str) -> None:
    failure = error('(defsymphony "x" {}\n  (weight-equal [(asset "SPY") (asset "' + symbol + '")]))')
    first_line = failure.render().splitlines()[0]
    assert first_line == failure.render(), "the error must stay on one line"
    assert first_line.startswith("bad.clj:2:32: ValidationError: asset symbol '")
    assert "contains a control character" in first_line
    indicator = error(IF.format('(> (rsi "SP\\nY" 10) 1)').join(['(defsymphony "x" {} ', ")"]))
    assert "indicator symbol 'SP\\nY' contains a control character" in indicator.message


@pytest.mark.parametrize(
    ("form", "fragment"),
    [
        (IF.format('(> (stdev-return "A" {:window 1}) 1)'), "stdev-return with window 1 is always 0"),
        (IF.format('(> (max-drawdown "A" 1) 1)'), "max-drawdown with window 1 is always 0"),
        ('(filter (stdev-return 1) (select-top 1) [(asset "A")])', "stdev-return with window 1"),
        ('(weight-inverse-volatility 1 [(asset "A") (asset "B")])', "window 1 has zero volatility"),
    ],
)
def test_windows_that_are_always_zero_are_refused(form: str, fragment: str) -> None:
    failure = error(f'(defsymphony "x" {{}} {form})')
    assert isinstance(failure, DslValidationError) and fragment in failure.message
    assert failure.line == 1 and failure.column > 20


@pytest.mark.parametrize(
    ("options", "column", "fragment"),
    [
        ("{:rebalance-threshold 0}", 40, "in (0, 1], found 0.0"),
        ("{:rebalance-threshold 1.5}", 40, "in (0, 1], found 1.5"),
        ('{:rebalance-threshold "x"}', 40, "must be a number"),
        ("{:rebalance-frequency :hourly}", 40, "one of daily, weekly, monthly, quarterly, yearly, none"),
    ],
)
def test_trading_options_are_validated_at_load(options: str, column: int, fragment: str) -> None:
    failure = error(f'(defsymphony "x" {options} (asset "SPY"))')
    assert isinstance(failure, DslValidationError)
    assert (failure.line, failure.column) == (1, column)
    assert fragment in failure.message


def test_valid_trading_options_are_kept_under_the_text_names() -> None:
    symphony = parse_symphony(
        '(defsymphony "x" {:rebalance-frequency :weekly :rebalance-threshold 1} (asset "S"))'
    )
    assert symphony.options == {"rebalance-frequency": "weekly", "rebalance-threshold": 1.0}


def test_a_json_looking_text_file_is_read_as_score_json(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text('{"step": "root", "name": "n", "children": [{"step": "asset", "ticker": "SPY"}]}')
    assert load_symphony(path).symbols == {"SPY"}
    clj = tmp_path / "export.clj"
    clj.write_text(path.read_text())
    # A .clj file is always text: the JSON fails there, at its first stray character.
    with pytest.raises(DslParseError, match="unexpected character ':'"):
        load_symphony(clj)


def test_and_or_decisions_survive_storage_and_reach_the_daily_report() -> None:
    from alchemiser_dagster.domain.report_markdown import decision_line
    from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation

    text = '(defsymphony "r" {} ' + IF.format('(and (> (rsi "AAA" 3) 50) (< (current-price "BBB") 19))') + ")"
    evaluation = run(text)
    stored = StrategyEvaluation.model_validate_json(evaluation.model_dump_json())
    assert stored == evaluation
    (entry,) = stored.trace
    assert decision_line(entry) == (
        'f.clj:1:21 (and [(rsi "AAA" {:window 3}) = 86.8132 > 50: true]'
        ' [(current-price "BBB") = 20.0000 < 19: false]) -> else'
    )

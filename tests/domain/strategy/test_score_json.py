"""Score JSON (spec §9): every step and both condition layouts build the text's tree;
every error names `FILE:$.json.path`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alchemiser_dagster.domain.errors import DslParseError, DslValidationError, StrategyError
from alchemiser_dagster.domain.strategy.compiler import parse_symphony
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory
from alchemiser_dagster.domain.strategy.score_json import parse_score_json
from alchemiser_dagster.domain.strategy.trace import IfTrace
from tests.domain.strategy.test_evaluator import D, bars
from tests.domain.strategy.test_text_forms import shape

Json = dict[str, Any]


def root(*children: Json, **extra: Any) -> Json:
    return {"step": "root", "name": "s", "rebalance": "daily", "children": list(children), **extra}


def asset(ticker: str, **extra: Any) -> Json:
    return {"step": "asset", "ticker": ticker, "name": f"{ticker} fund", "id": "x", **extra}


def when(condition: Json, then: Json, otherwise: Json) -> Json:
    return {
        "step": "if",
        "children": [
            {"step": "if-child", "is-else-condition?": False, "children": [then], **condition},
            {"step": "if-child", "is-else-condition?": True, "children": [otherwise]},
        ],
    }


def read(score: Json) -> Any:
    return parse_score_json(json.dumps(score), source="s.json")


def same(score: Json, text: str) -> None:
    assert shape(read(score).body) == shape(parse_symphony(f'(defsymphony "s" {{}} {text})').body)


def error(score: Json | str) -> StrategyError:
    with pytest.raises(StrategyError) as info:
        parse_score_json(score if isinstance(score, str) else json.dumps(score), source="bad.json")
    return info.value


RSI_FLAT_NEW = {
    "lhs-fn": "relative-strength-index",
    "lhs-val": "SPY",
    "lhs-fn-params": {"window": 10},
    "comparator": "gt",
    "rhs-fixed-value?": True,
    "rhs-val": "70",
}
RSI_TEXT = '(if (> (rsi "SPY" {:window 10}) 70) [(asset "A" "A fund")] [(asset "B" "B fund")])'


# --- steps --------------------------------------------------------------------------------


def test_every_step_builds_the_text_tree() -> None:
    score = root(
        {
            "step": "wt-cash-specified",
            "children": [
                {"step": "group", "name": "G", "weight": {"num": "60", "den": 100}, "children": [asset("A")]},
                {
                    "step": "wt-inverse-vol",
                    "window-days": "20",
                    "weight": {"num": 40, "den": "100"},
                    "children": [asset("B"), asset("EQUITIES::C//USD")],
                },
            ],
        },
        {
            "step": "filter",
            "sort-by-fn": "standard-deviation-return",
            "sort-by-fn-params": {"window": 5},
            "select-fn": "bottom",
            "select-n": "1",
            "children": [asset("D"), {"step": "wt-cash-equal", "children": [asset("E"), asset("F")]}],
        },
    )
    same(
        score,
        '(weight-equal [(weight-specified 0.6 (group "G" [(asset "A" "A fund")]) 0.4'
        ' (weight-inverse-volatility 20 [(asset "B" "B fund") (asset "C" "EQUITIES::C//USD fund")]))'
        " (filter (stdev-return {:window 5}) (select-bottom 1)"
        ' [(asset "D" "D fund") (weight-equal [(asset "E" "E fund") (asset "F" "F fund")])])])',
    )


def test_older_filter_fields_and_unknown_keys() -> None:
    score = root(
        {
            "step": "filter",
            "sort-by-fn": "cumulative-return",
            "sort-by-window-days": "7",
            "select-fn": "top",
            "select-n": 2,
            "sort-by?": True,
            "collapsed?": False,
            "children": [asset("A", price=12.5, dollar_volume=1e9, exchange="XNAS", children=[]), asset("B")],
        },
        description="ignored",
        asset_class="EQUITIES",
    )
    same(
        score,
        '(filter (cumulative-return {:window 7}) (select-top 2) [(asset "A" "A fund") (asset "B" "B fund")])',
    )


def test_options_keep_the_text_names() -> None:
    assert read(root(asset("A"), rebalance="none", **{"rebalance-corridor-width": 0.05})).options == {
        "rebalance-frequency": "none",
        "rebalance-threshold": 0.05,
    }
    assert read(root(asset("A"), rebalance="monthly")).options == {"rebalance-frequency": "monthly"}


# --- conditions -----------------------------------------------------------------------------


def test_flat_condition_newer_fields() -> None:
    same(root(when(RSI_FLAT_NEW, asset("A"), asset("B"))), RSI_TEXT)


def test_flat_condition_older_fields_with_string_windows() -> None:
    older = {
        "lhs-fn": "relative-strength-index",
        "lhs-val": "EQUITIES::SPY//USD",
        "lhs-window-days": "10",
        "comparator": "gt",
        "rhs-fixed-value?": True,
        "rhs-val": 70,
    }
    same(root(when(older, asset("A"), asset("B"))), RSI_TEXT)


def test_indicator_against_indicator_and_every_comparator() -> None:
    for comparator, op in (("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<="), ("eq", "=")):
        condition = {
            "lhs-fn": "current-price",
            "lhs-val": "SPY",
            "comparator": comparator,
            "rhs-fn": "moving-average-price",
            "rhs-val": "SPY",
            "rhs-window-days": "200",
        }
        same(
            root(when(condition, asset("A"), asset("B"))),
            f'(if ({op} (current-price "SPY") (moving-average-price "SPY" {{:window 200}}))'
            ' [(asset "A" "A fund")] [(asset "B" "B fund")])',
        )


def test_structured_conditions_win_over_flat_fields() -> None:
    structured = {
        **RSI_FLAT_NEW,
        "condition": {
            "condition-type": "compound",
            "operator": "any",
            "conditions": [
                {
                    "condition-type": "binary",
                    "comparator": "gt",
                    "lhs": {"fn": "relative-strength-index", "ticker": "UGL", "params": {"window": 10}},
                    "rhs": {"constant": 90.0},
                },
                {
                    "condition-type": "compound",
                    "operator": "all",
                    "conditions": [
                        {
                            "condition-type": "binary",
                            "comparator": "lt",
                            "lhs": {"fn": "current-price", "ticker": "UGL"},
                            "rhs": {"fn": "moving-average-price", "ticker": "UGL", "params": {"window": 20}},
                        },
                        {
                            "condition-type": "binary",
                            "comparator": "lte",
                            "lhs": {"fn": "max-drawdown", "ticker": "UGL", "params": {"window": 5}},
                            "rhs": {"constant": "3"},
                        },
                    ],
                },
            ],
        },
    }
    same(
        root(when(structured, asset("A"), asset("B"))),
        '(if (or (> (rsi "UGL" {:window 10}) 90) (and (< (current-price "UGL")'
        ' (moving-average-price "UGL" {:window 20})) (<= (max-drawdown "UGL" {:window 5}) 3)))'
        ' [(asset "A" "A fund")] [(asset "B" "B fund")])',
    )


def test_json_conditions_evaluate_and_trace_with_json_paths() -> None:
    # rsi AAA 3 = 86.8132 on the spec's example bars (§7 Ex1).
    condition = {**RSI_FLAT_NEW, "lhs-val": "AAA", "lhs-fn-params": {"window": 3}, "rhs-val": "50"}
    symphony = read(
        root({"step": "wt-cash-equal", "children": [when(condition, asset("AAA"), asset("BBB"))]})
    )
    evaluation = SymphonyEvaluator(symphony, MarketHistory.from_bars(bars())).evaluate(D, trace=True)
    assert evaluation.weights == {"AAA": 1.0}
    (entry,) = evaluation.trace
    assert isinstance(entry, IfTrace) and entry.node == "s.json:$.children[0].children[0]"
    assert entry.lhs is not None and round(entry.lhs.value, 4) == 86.8132 and entry.branch == "then"


# --- errors name the JSON path --------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "path", "fragment"),
    [
        (
            root({"step": "wt-cash-equal", "children": [asset("A"), {"step": "weight"}]}),
            "$.children[0].children[1]",
            "unknown step 'weight'",
        ),
        (
            root(
                {
                    "step": "wt-cash-specified",
                    "children": [
                        {**asset("A"), "weight": {"num": "60", "den": 100}},
                        {**asset("B"), "weight": {"num": "30", "den": 100}},
                    ],
                }
            ),
            "$.children[0]",
            "they sum to 0.9",
        ),
        (
            root({"step": "wt-cash-equal", "children": [asset("SPY"), asset("CRYPTO::BTC//USD")]}),
            "$.children[0].children[1]",
            "'CRYPTO::BTC//USD' is not a US equity",
        ),
        (
            root(when({**RSI_FLAT_NEW, "lhs-fn": "bollinger"}, asset("A"), asset("B"))),
            "$.children[0].children[0]",
            "unknown fn 'bollinger' in \"lhs-fn\"",
        ),
        (
            root(when({**RSI_FLAT_NEW, "comparator": "ne"}, asset("A"), asset("B"))),
            "$.children[0].children[0]",
            "unknown comparator 'ne'",
        ),
        (
            root(
                when(
                    {
                        "condition": {
                            "condition-type": "binary",
                            "comparator": "gt",
                            "lhs": {"fn": "rsi2", "ticker": "A"},
                            "rhs": {"constant": 1},
                        }
                    },
                    asset("A"),
                    asset("B"),
                )
            ),
            "$.children[0].children[0].condition.lhs",
            "unknown fn 'rsi2'",
        ),
        (
            root({"step": "wt-cash-equal", "children": [asset("A"), {"step": "empty"}]}),
            "$.children[0].children[1]",
            "cash-like asset such as BIL",
        ),
        (
            root(
                {
                    "step": "if",
                    "children": [{"step": "if-child", "is-else-condition?": True, "children": [asset("A")]}],
                }
            ),
            "$.children[0]",
            'exactly two "if-child"',
        ),
        (
            root(when({**RSI_FLAT_NEW, "rhs-val": "7O"}, asset("A"), asset("B"))),
            "$.children[0].children[0]",
            "must be a number, found '7O'",
        ),
        (
            root(
                when(
                    {**RSI_FLAT_NEW, "lhs-fn": "standard-deviation-return", "lhs-fn-params": {"window": 1}},
                    asset("A"),
                    asset("B"),
                )
            ),
            "$.children[0].children[0]",
            "stdev-return with window 1 is always 0",
        ),
        (
            root({"step": "wt-inverse-vol", "window-days": "1", "children": [asset("A"), asset("B")]}),
            "$.children[0]",
            "window 1 has zero volatility",
        ),
        (root(asset("A"), rebalance="hourly"), "$", "rebalance frequency must be one of"),
        (root(asset("A"), rebalance="none", **{"rebalance-corridor-width": 5}), "$", "in (0, 1], found 5.0"),
        (
            root({"step": "asset", "ticker": "SP\nY"}),
            "$.children[0]",
            "asset ticker 'SP\\nY' contains a control character",
        ),
    ],
)
def test_errors_name_the_json_path(score: Json, path: str, fragment: str) -> None:
    failure = error(score)
    assert isinstance(failure, DslValidationError)
    assert failure.path == path
    assert failure.render().startswith(f"bad.json:{path}: ValidationError: ")
    assert "\n" not in failure.render()
    assert fragment in failure.message


def test_invalid_json_is_a_parse_error_with_line_and_column() -> None:
    failure = error('{"step": "root",\n  "children": [}')
    assert isinstance(failure, DslParseError)
    assert failure.format_location() == "bad.json:2:16"


def test_deep_json_is_refused_with_a_clear_error() -> None:
    levels = 600
    inner = '{"step": "wt-cash-equal", "children": [' * levels + json.dumps(asset("A")) + "]}" * levels
    failure = error('{"step": "root", "name": "deep", "children": [' + inner + "]}")
    assert isinstance(failure, DslValidationError)
    assert "nested deeper than 512" in failure.message
    assert failure.path is not None and failure.path.count("children") == 513
    assert isinstance(error("[" * 100_000 + "]" * 100_000), DslParseError)


def test_deep_compound_conditions_are_refused_with_a_clear_error() -> None:
    levels = 1200
    leaf = '{"condition-type": "binary", "comparator": "gt", "lhs": {"constant": 1}, "rhs": {"constant": 0}}'
    nested = (
        '{"condition-type": "compound", "operator": "all", "conditions": [' * levels + leaf + "]}" * levels
    )
    child = '{"step": "if-child", "is-else-condition?": false, "condition": ' + nested
    child += ', "children": [{"step": "asset", "ticker": "A"}]}'
    otherwise = (
        '{"step": "if-child", "is-else-condition?": true, "children": [{"step": "asset", "ticker": "B"}]}'
    )
    text = (
        '{"step": "root", "name": "n", "children": [{"step": "if", "children": ['
        + child
        + ", "
        + otherwise
        + "]}]}"
    )
    failure = error(text)
    assert isinstance(failure, DslValidationError)
    assert "conditions nested deeper than 512" in failure.message

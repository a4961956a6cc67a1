"""The score JSON we write has Composer's shape: its steps, field names and weight fractions."""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alchemiser_dagster.domain.errors import DslValidationError
from alchemiser_dagster.domain.strategy.compiler import load_symphony, parse_symphony
from alchemiser_dagster.domain.strategy.convert import convert_symphony
from alchemiser_dagster.domain.strategy.score_writer import (
    ID_NAMESPACE,
    step_id,
    to_score_json,
    to_score_json_text,
    weight_fraction,
)
from tests.conftest import corpus_dir, corpus_files

COMPOSER = corpus_dir() / "composer"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

SAMPLE = """
(defsymphony "sample" {:rebalance-frequency :none :rebalance-threshold 0.05}
  (weight-specified
    0.35 (group "G" [(if (> (rsi "QQQ" {:window 10}) 80) [(asset "UVXY" "ProShares")] [(asset "SPY")])])
    0.65 (weight-inverse-volatility 20
           [(filter (stdev-return {:window 5}) (select-bottom 1) [(asset "TLT") (asset "GLD")])
            (if (or (< (current-price "SPY") (moving-average-price "SPY" {:window 200})) (= 1 1))
              [(asset "BIL")] [(asset "QQQ")])])))
"""


def without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_ids(item) for key, item in value.items() if key != "id"}
    if isinstance(value, list):
        return [without_ids(item) for item in value]
    return value


def test_sample_has_composers_steps_and_fields() -> None:
    score = without_ids(to_score_json(parse_symphony(SAMPLE, "sample.clj")))
    rsi = {"fn": "relative-strength-index", "ticker": "QQQ", "params": {"window": 10}}
    price = {"fn": "current-price", "ticker": "SPY", "params": {}}
    ma = {"fn": "moving-average-price", "ticker": "SPY", "params": {"window": 200}}
    assert score == {
        "step": "root",
        "name": "sample",
        "description": "",
        "asset_class": "EQUITIES",
        "rebalance": "none",
        "rebalance-corridor-width": 0.05,
        "children": [
            {
                "step": "wt-cash-specified",
                "children": [
                    {
                        "step": "group",
                        "name": "G",
                        "children": [
                            {
                                "step": "if",
                                "children": [
                                    {
                                        "step": "if-child",
                                        "is-else-condition?": False,
                                        "comparator": "gt",
                                        "lhs-fn": "relative-strength-index",
                                        "lhs-val": "QQQ",
                                        "lhs-fn-params": {"window": 10},
                                        "rhs-fixed-value?": True,
                                        "rhs-val": 80,
                                        "condition": {
                                            "condition-type": "binary",
                                            "comparator": "gt",
                                            "lhs": rsi,
                                            "rhs": {"constant": 80},
                                        },
                                        "children": [
                                            {"step": "asset", "ticker": "UVXY", "name": "ProShares"}
                                        ],
                                    },
                                    {
                                        "step": "if-child",
                                        "is-else-condition?": True,
                                        "children": [{"step": "asset", "ticker": "SPY"}],
                                    },
                                ],
                            }
                        ],
                        "weight": {"num": 35, "den": 100},
                    },
                    {
                        "step": "wt-inverse-vol",
                        "window-days": 20,
                        "children": [
                            {
                                "step": "filter",
                                "sort-by-fn": "standard-deviation-return",
                                "sort-by-fn-params": {"window": 5},
                                "select-fn": "bottom",
                                "select-n": 1,
                                "children": [
                                    {"step": "asset", "ticker": "TLT"},
                                    {"step": "asset", "ticker": "GLD"},
                                ],
                            },
                            {
                                "step": "if",
                                "children": [
                                    {
                                        "step": "if-child",
                                        "is-else-condition?": False,
                                        "condition": {
                                            "condition-type": "compound",
                                            "operator": "any",
                                            "conditions": [
                                                {
                                                    "condition-type": "binary",
                                                    "comparator": "lt",
                                                    "lhs": price,
                                                    "rhs": ma,
                                                },
                                                {
                                                    "condition-type": "binary",
                                                    "comparator": "eq",
                                                    "lhs": {"constant": 1},
                                                    "rhs": {"constant": 1},
                                                },
                                            ],
                                        },
                                        "children": [{"step": "asset", "ticker": "BIL"}],
                                    },
                                    {
                                        "step": "if-child",
                                        "is-else-condition?": True,
                                        "children": [{"step": "asset", "ticker": "QQQ"}],
                                    },
                                ],
                            },
                        ],
                        "weight": {"num": 65, "den": 100},
                    },
                ],
            }
        ],
    }


def fields_by_kind(score: Any) -> dict[str, set[str]]:
    """The keys of each step (by its `step`), condition (by its type), condition side, and other
    object (by its key)."""
    fields: dict[str, set[str]] = defaultdict(set)
    stack: list[tuple[str, Any]] = [("root", score)]
    while stack:
        kind, value = stack.pop()
        if isinstance(value, list):
            stack += [(kind, item) for item in value]
        elif isinstance(value, dict):
            if "condition-type" in value:
                kind = f"condition {value['condition-type']}"
            fields[kind] |= set(value)
            for key, item in value.items():
                if key == "children":
                    stack += [(child.get("step", "?"), child) for child in item]
                else:  # a condition's two sides share one shape
                    stack.append(("operand" if key in ("lhs", "rhs") else key, item))
    return fields


@pytest.fixture(scope="module")
def composer_fields() -> dict[str, set[str]]:
    fields: dict[str, set[str]] = defaultdict(set)
    for path in sorted(COMPOSER.glob("oc__*.json")):
        for kind, keys in fields_by_kind(json.loads(path.read_text(encoding="utf-8"))).items():
            fields[kind] |= keys
    return fields


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_every_field_we_write_is_one_composer_exports(
    path: Path, composer_fields: dict[str, set[str]]
) -> None:
    for kind, keys in fields_by_kind(to_score_json(load_symphony(path))).items():
        assert keys <= composer_fields[kind], (kind, keys - composer_fields[kind])


def test_ids_are_uuids_unique_and_deterministic() -> None:
    symphony = load_symphony(corpus_files()[0])
    text = to_score_json_text(symphony)
    ids = re.findall(r'"id": "([^"]+)"', text)
    assert len(ids) == len(set(ids)) == text.count('"step"')
    assert all(UUID.fullmatch(i) for i in ids)
    assert to_score_json_text(load_symphony(corpus_files()[0])) == text
    assert step_id("a", 3) == str(uuid.uuid5(ID_NAMESPACE, "a\x003"))


def test_json_text_is_composers_layout() -> None:
    symphony = parse_symphony(SAMPLE, "sample.clj")
    assert (
        to_score_json_text(symphony)
        == json.dumps(to_score_json(symphony), indent=1, ensure_ascii=False) + "\n"
    )


@pytest.mark.parametrize(
    ("weight", "fraction"),
    [
        (0.35, (35, 100)),
        (0.07, (7, 100)),
        (0.5, (50, 100)),
        (0.0, (0, 100)),
        (0.125, (12.5, 100)),
        (1 / 3, (3333333333333333, 10**16)),
    ],
)
def test_weights_are_percent_over_100_when_exact(weight: float, fraction: tuple[float, int]) -> None:
    assert weight_fraction(weight) == {"num": fraction[0], "den": fraction[1]}


@given(st.floats(0.0, 1.0))
def test_every_weight_divides_back_exactly(weight: float) -> None:
    fraction = weight_fraction(weight)
    assert float(fraction["num"]) / float(fraction["den"]) == weight
    if isinstance(fraction["num"], int):
        assert float(Fraction(fraction["num"], fraction["den"])) == weight


def test_an_option_score_json_cannot_hold_is_an_error_not_a_loss() -> None:
    symphony = parse_symphony('(defsymphony "x" {:colour "red"} (asset "SPY"))', "x.clj")
    with pytest.raises(DslValidationError, match=r"x\.clj:1:34: ValidationError: option :colour"):
        to_score_json(symphony)
    with pytest.raises(DslValidationError, match="option :colour"):
        convert_symphony(symphony, "json")

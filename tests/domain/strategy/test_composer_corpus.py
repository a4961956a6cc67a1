"""Every real Composer symphony form in `shared/strategies/composer/` reads as it stands.

Each valid file (score JSON, Composer text with positional windows, OpenClaw's DSL, ...)
must allocate exactly like its plain-text `canonical/` form, written independently, on
60 sessions of generated data; each broken source must exit 2 naming the place.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from alchemiser_dagster.demo.synth import generate_bars
from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory
from tests.conftest import DATA_END, DATA_START, ROOT

COMPOSER = ROOT.parent / "shared" / "strategies" / "composer"
CANONICAL = COMPOSER / "canonical"
SESSIONS = 60
SOURCES = sorted([*COMPOSER.glob("*.clj"), *COMPOSER.glob("*.json")])
VALID = [p for p in SOURCES if (CANONICAL / f"{p.stem}.clj").is_file()]
# Broken sources: where each must fail, and how.
BROKEN = {
    "hg__copy_of_holy_grail_simplified.clj": ("27:68", "ParseError", "does not match"),
    "ocdsl__extended_oos_outliers_fngg.clj": ("2:3", "ValidationError", "they sum to 98"),
    "txn__dep_ai_buy_hold_winners.clj": ("17:4", "ValidationError", "unknown operator 'weight'"),
    "txn__dep_ai_momentum_bull.clj": ("12:4", "ValidationError", "unknown operator 'weight'"),
    "txn__dep_ai_relative_strength.clj": ("9:2", "ValidationError", "wrong number of arguments"),
    "txn__dep_ai_stack_trend_cash.clj": ("14:4", "ValidationError", "unknown operator 'weight'"),
}


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alchemiser_dagster.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_the_collection_is_complete() -> None:
    assert len(SOURCES) == 117, "the Composer collection was not found"
    assert len(VALID) == 111
    assert {p.name for p in SOURCES} - {p.name for p in VALID} == set(BROKEN)
    assert sum(p.suffix == ".json" for p in VALID) == 85


@pytest.fixture(scope="module")
def composer_history() -> MarketHistory:
    symbols: set[str] = set()
    for path in VALID:
        symbols |= load_symphony(path).symbols | load_symphony(CANONICAL / f"{path.stem}.clj").symbols
    bars = generate_bars(sorted(symbols), start=DATA_START, end=DATA_END, seed=7)
    return MarketHistory.from_bars(bars, source="synthetic")


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_each_form_allocates_exactly_like_its_canonical_text(
    path: Path, composer_history: MarketHistory
) -> None:
    original = load_symphony(path)
    canonical = load_symphony(CANONICAL / f"{path.stem}.clj")
    assert original.name == canonical.name
    assert original.symbols == canonical.symbols
    sessions = composer_history.sessions[-SESSIONS:]
    got = SymphonyEvaluator(original, composer_history).evaluate_range(sessions)
    want = SymphonyEvaluator(canonical, composer_history).evaluate_range(sessions)
    for session in sessions:
        assert got[session] == pytest.approx(want[session], abs=1e-12, rel=0), session
        assert set(got[session]) == set(want[session]), session
        assert math.fsum(got[session].values()) == pytest.approx(1.0, abs=1e-9)


def test_generated_data_exercises_the_branches(composer_history: MarketHistory) -> None:
    # Equal weights would prove nothing if every symphony held one portfolio all along.
    sessions = composer_history.sessions[-SESSIONS:]
    changing = 0
    for path in VALID[::5]:
        by_day = SymphonyEvaluator(load_symphony(path), composer_history).evaluate_range(sessions)
        changing += len({tuple(sorted(w.items())) for w in by_day.values()}) > 1
    assert changing >= 10, changing


@pytest.fixture(scope="module")
def small_bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("composer") / "bars.parquet"
    bars = generate_bars(["SPY", "QQQ", "TQQQ", "UVXY", "BIL"], start=dt.date(2023, 1, 3), end=DATA_END)
    bars.to_parquet(path)
    return path


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_source_exits_2_naming_the_place(name: str, small_bars: Path) -> None:
    place, error, fragment = BROKEN[name]
    result = run_cli("strategy", "eval", COMPOSER / name, "--bars", small_bars)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{name}:{place}: {error}: "), first
    assert fragment in first


def test_eval_reads_a_score_json_file_through_the_cli(tmp_path: Path) -> None:
    path = COMPOSER / "oc__copy_of_the_holy_grail.json"
    symbols = sorted(load_symphony(path).symbols)
    bars_path = tmp_path / "bars.parquet"
    generate_bars(symbols, start=DATA_START, end=DATA_END, seed=7).to_parquet(bars_path)
    trace_out = tmp_path / "trace.jsonl"
    result = run_cli(
        "strategy", "eval", path, "--bars", bars_path, "--start", "2024-06-24", "--trace-out", trace_out
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert list(payload) == ["2024-06-24", "2024-06-25", "2024-06-26", "2024-06-27", "2024-06-28"]
    canonical = load_symphony(CANONICAL / "oc__copy_of_the_holy_grail.clj")
    history = MarketHistory.from_bars(pd.read_parquet(bars_path), source="bars")
    for day, weights in payload.items():
        want = SymphonyEvaluator(canonical, history).evaluate(dt.date.fromisoformat(day)).weights
        assert weights == pytest.approx(want, abs=1e-9)
    first = json.loads(trace_out.read_text().splitlines()[0])
    # Trading settings arrive under the text's option names; decisions point at JSON paths.
    assert first["options"] == {"rebalance-frequency": "none", "rebalance-threshold": 0.05}
    assert first["trace"][0]["node"].startswith("oc__copy_of_the_holy_grail.json:$.children[0]")


def test_allocate_reads_a_config_naming_json_and_text(small_bars: Path, tmp_path: Path) -> None:
    score = {
        "step": "root",
        "name": "score",
        "rebalance": "daily",
        "children": [
            {
                "step": "wt-cash-specified",
                "children": [
                    {"step": "asset", "ticker": "EQUITIES::SPY//USD", "weight": {"num": "60", "den": 100}},
                    {"step": "asset", "ticker": "BIL", "weight": {"num": 40, "den": "100"}},
                ],
            }
        ],
    }
    (tmp_path / "score.json").write_text(json.dumps(score))
    (tmp_path / "text.clj").write_text('(defsymphony "text" {} (asset "QQQ"))')
    config = {"files": ["score.json", "text.clj"], "allocations": {"score.json": 0.5, "text.clj": 0.5}}
    (tmp_path / "allocations.json").write_text(json.dumps(config))
    result = run_cli("strategy", "allocate", tmp_path / "allocations.json", "--bars", small_bars)
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("Target allocation for")[1]
    rows = {
        line.split()[0]: float(line.split()[1]) for line in table.splitlines()[1:] if line.startswith("  ")
    }
    assert rows == {"BIL": 0.2, "QQQ": 0.5, "SPY": 0.3}

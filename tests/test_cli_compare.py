"""`alchemiser backtest --weights/--benchmark` and `alchemiser compare`, run as the user does."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT

SWITCH = '(defsymphony "switch" {} (if (> (current-price "AAA") 10) [(asset "AAA")] [(asset "BBB")]))'
SESSIONS = [d.date() for d in pd.bdate_range("2024-06-03", "2024-06-28") if d.date() != dt.date(2024, 6, 19)]
AAA = [
    9.5,
    10.5,
    10.8,
    9.7,
    9.9,
    10.2,
    10.6,
    11.0,
    10.4,
    9.8,
    9.6,
    10.1,
    10.9,
    11.2,
    10.7,
    9.9,
    10.3,
    10.8,
    11.1,
]
BBB = [20.0 + 0.1 * i for i in range(len(SESSIONS))]
SPY = [500.0 * (1 + 0.002 * ((-1) ** i) + 0.001 * i) for i in range(len(SESSIONS))]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alchemiser_dagster.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=300,
    )


def setup(tmp_path: Path, diverge_on: int | None) -> tuple[Path, Path, Path]:
    rows = [
        {"symbol": s, "date": d, "open": c, "high": c, "low": c, "close": c, "volume": 1000.0}
        for s, series in (("AAA", AAA), ("BBB", BBB), ("SPY", SPY))
        for d, c in zip(SESSIONS, series, strict=True)
    ]
    bars = tmp_path / "bars.parquet"
    pd.DataFrame(rows).to_parquet(bars)
    (tmp_path / "switch.clj").write_text(SWITCH)
    config = tmp_path / "allocations.json"
    config.write_text(json.dumps({"files": ["switch.clj"], "allocations": {"switch.clj": 1.0}}))
    lines = ["date,symbol,weight"]
    for i, (day, price) in enumerate(zip(SESSIONS, AAA, strict=True)):
        pick = "AAA" if price > 10 else "BBB"
        if i == diverge_on:
            pick = "BBB" if pick == "AAA" else "AAA"
        lines.append(f"{day},{pick},1.0")
    weights = tmp_path / "weights.csv"
    weights.write_text("\n".join(lines) + "\n")
    return bars, config, weights


def test_compare_finds_the_first_divergence_and_shows_both_decisions(tmp_path: Path) -> None:
    bars, config, weights = setup(tmp_path, diverge_on=5)
    done = run("compare", config, "--weights", weights, "--bars", bars, "--out", tmp_path / "cmp")
    assert done.returncode == 0, done.stderr
    assert f"{len(SESSIONS) - 1}/{len(SESSIONS)} sessions agree" in done.stdout
    assert f"first divergence {SESSIONS[5]}: weights differ by up to 100.00%" in done.stdout
    assert "ours:   AAA 100.00%" in done.stdout and "theirs: BBB 100.00%" in done.stdout
    assert "current-price" in done.stdout and "take" in done.stdout  # our evaluator's trace
    table = pd.read_csv(tmp_path / "cmp" / "agreement.csv")
    assert list(table["agree"]) == [i != 5 for i in range(len(SESSIONS))]
    summary = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert summary["first_divergence"]["session"] == str(SESSIONS[5])
    assert (tmp_path / "cmp" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_a_backtest_folder_that_agrees_everywhere(tmp_path: Path) -> None:
    bars, config, weights = setup(tmp_path, diverge_on=None)
    done = run("backtest", "--config", config, "--bars", bars, "--out", tmp_path / "bt")
    assert done.returncode == 0, done.stderr
    assert "benchmark SPY:" in done.stdout  # SPY is in the bars: the default benchmark
    done = run(
        "compare",
        "--backtest",
        tmp_path / "bt",
        "--weights",
        weights,
        "--bars",
        bars,
        "--out",
        tmp_path / "c",
    )
    assert done.returncode == 0, done.stderr
    assert f"{len(SESSIONS)}/{len(SESSIONS)} sessions agree" in done.stdout
    assert "first divergence" not in done.stdout


def test_backtest_replays_weights_beside_a_benchmark(tmp_path: Path) -> None:
    bars, _, weights = setup(tmp_path, diverge_on=None)
    done = run(
        "backtest", "--weights", weights, "--bars", bars, "--benchmark", "bbb", "--out", tmp_path / "r"
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["inputs"]["weights"] == str(weights)
    assert metrics["benchmark"]["symbol"] == "BBB"
    assert metrics["benchmark"]["returns"] == len(SESSIONS) - 1
    assert "Benchmark" in (tmp_path / "r" / "report.html").read_text()
    value = [float(v) for v in pd.read_parquet(tmp_path / "r" / "equity.parquet")["equity"]]
    # AAA decided after day 1's close earns day 1 -> 2 (no trade on day 2: AAA again) ...
    assert value[2] == pytest.approx(value[1] * AAA[2] / AAA[1], abs=0.02)
    # ... and day 3 switches to BBB at the close: 5 bps off the sale, 5 bps on top of the purchase
    assert value[3] == pytest.approx(value[2] * AAA[3] / AAA[2] * (1 - 0.0005) / (1 + 0.0005), abs=0.02)


def test_backtest_rejects_an_unknown_benchmark_and_two_sources(tmp_path: Path) -> None:
    bars, config, weights = setup(tmp_path, diverge_on=None)
    done = run(
        "backtest", "--weights", weights, "--bars", bars, "--benchmark", "QQQ", "--out", tmp_path / "x"
    )
    assert done.returncode == 1  # usage errors exit 1 (cli.py)
    assert "--benchmark QQQ: not a symbol of the bars" in done.stderr
    done = run("backtest", "--weights", weights, "--config", config, "--bars", bars, "--out", tmp_path / "x")
    assert done.returncode == 1  # usage errors exit 1 (cli.py)
    assert "exactly one of --config and --weights" in done.stderr


def test_without_out_the_results_land_in_the_project_folder_not_the_working_folder(tmp_path: Path) -> None:
    bars, config, weights = setup(tmp_path, diverge_on=None)
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALCHEMISER_")}
    for args in (
        ("backtest", "--config", config, "--bars", bars),
        ("compare", "--backtest", project / "backtest", "--weights", weights, "--bars", bars),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "alchemiser_dagster.cli", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=elsewhere,
            env={**env, "ALCHEMISER_HOME": str(project), "PYTHONPATH": str(ROOT)},
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    assert (project / "backtest" / "metrics.json").is_file()
    assert (project / "compare" / "compare.json").is_file()
    assert list(elsewhere.iterdir()) == []

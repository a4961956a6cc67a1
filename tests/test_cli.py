"""The `alchemiser` command as a user runs it: a real process, its stdout, stderr and exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, corpus_dir

TQQQ = corpus_dir() / "6-TQQQ-FLT.clj"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alchemiser_dagster.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_eval_prints_last_session_as_json(synthetic_bars_path: Path, synthetic_bars: pd.DataFrame) -> None:
    result = run("strategy", "eval", TQQQ, "--bars", synthetic_bars_path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    last = max(synthetic_bars["date"]).isoformat()
    assert list(payload) == [last]
    weights = payload[last]
    assert list(weights) == sorted(weights)
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-9)


def test_eval_range_covers_every_session_in_order(
    synthetic_bars_path: Path, synthetic_bars: pd.DataFrame
) -> None:
    result = run(
        "strategy",
        "eval",
        TQQQ,
        "--bars",
        synthetic_bars_path,
        "--start",
        "2024-06-03",
        "--end",
        "2024-06-28",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    expected = sorted(
        {d.isoformat() for d in synthetic_bars["date"] if "2024-06-03" <= d.isoformat() <= "2024-06-28"}
    )
    assert list(payload) == expected and len(expected) == 19


def test_trace_alone_prints_the_traced_day_s_weights(
    synthetic_bars_path: Path, synthetic_bars: pd.DataFrame
) -> None:
    day = "2024-06-14"
    assert max(synthetic_bars["date"]).isoformat() != day  # not the default (last) session
    traced = run("strategy", "eval", TQQQ, "--bars", synthetic_bars_path, "--trace", day)
    assert traced.returncode == 0, traced.stderr
    alone = run("strategy", "eval", TQQQ, "--bars", synthetic_bars_path, "--start", day, "--end", day)
    assert json.loads(traced.stdout) == json.loads(alone.stdout) and list(json.loads(traced.stdout)) == [day]
    assert f"on {day}:" in traced.stderr

    table = run("strategy", "eval", TQQQ, "--bars", synthetic_bars_path, "--format", "table", "--trace", day)
    assert table.returncode == 0, table.stderr
    weights, trace = table.stdout.split("\n\n", 1)
    assert weights.splitlines()[0] == day and f"on {day}:" in trace

    # With a range: the range's weights, then D's block again right above its trace.
    ranged = run(
        "strategy",
        "eval",
        TQQQ,
        "--bars",
        synthetic_bars_path,
        "--format",
        "table",
        "--start",
        "2024-06-10",
        "--end",
        "2024-06-20",
        "--trace",
        day,
    )
    assert ranged.returncode == 0, ranged.stderr
    table_part, traced_part = ranged.stdout.split("\n\n", 1)
    assert table_part.splitlines()[0] == "2024-06-10" and day in table_part.splitlines()
    day_block = weights.strip()
    assert traced_part.startswith(day_block + "\n") and f"on {day}:" in traced_part


def test_table_with_trace_explains_the_day(synthetic_bars_path: Path) -> None:
    result = run(
        "strategy", "eval", TQQQ, "--bars", synthetic_bars_path, "--format", "table", "--trace", "2024-06-28"
    )
    assert result.returncode == 0, result.stderr
    assert "2024-06-28" in result.stdout
    assert '6-TQQQ-FLT.clj:5:4  if (current-price "SPY") = ' in result.stdout
    assert "take then" in result.stdout or "take else" in result.stdout


def test_trace_out_writes_one_json_line_per_session(synthetic_bars_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    result = run(
        "strategy", "eval", TQQQ, "--bars", synthetic_bars_path, "--start", "2024-06-24", "--trace-out", out
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["date"] for line in lines] == [
        "2024-06-24",
        "2024-06-25",
        "2024-06-26",
        "2024-06-27",
        "2024-06-28",
    ]
    assert lines[0]["trace"][0]["kind"] == "if"
    assert json.loads(result.stdout)["2024-06-24"] == lines[0]["weights"]


def test_malformed_file_exits_2_with_location(synthetic_bars_path: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.clj"
    bad.write_text('(defsymphony "x" {}\n  (weight-equal [(asset "SPY")]\n')
    result = run("strategy", "eval", bad, "--bars", synthetic_bars_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0].startswith("bad.clj:2:3: ParseError: ")


def test_symbol_missing_from_bars_exits_2_naming_it(synthetic_bars_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "ghost.clj"
    path.write_text(
        '(defsymphony "ghost" {} (if (> (rsi "NOSUCH" {:window 10}) 50) [(asset "SPY")] [(asset "BIL")]))'
    )
    result = run("strategy", "eval", path, "--bars", synthetic_bars_path)
    assert result.returncode == 2 and result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith("ghost.clj:1:32: UnknownSymbol: ")
    assert "symbol=NOSUCH" in first and "indicator=rsi" in first and "session=2024-06-28" in first


def test_too_little_history_exits_2(synthetic_bars_path: Path) -> None:
    result = run(
        "strategy",
        "eval",
        TQQQ,
        "--bars",
        synthetic_bars_path,
        "--start",
        "2021-01-04",
        "--end",
        "2021-01-08",
    )
    assert result.returncode == 2 and result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert "InsufficientHistory" in first
    assert "session=2021-01-04" in first and "window=200" in first


def test_bad_bars_exit_1(tmp_path: Path, synthetic_bars: pd.DataFrame) -> None:
    path = tmp_path / "dup.parquet"
    pd.concat([synthetic_bars.head(3), synthetic_bars.head(1)]).to_parquet(path)
    result = run("strategy", "eval", TQQQ, "--bars", path)
    assert result.returncode == 1 and result.stdout == ""
    assert "duplicate" in result.stderr.lower()


def test_bad_date_and_missing_file_exit_1(synthetic_bars_path: Path) -> None:
    assert (
        run("strategy", "eval", TQQQ, "--bars", synthetic_bars_path, "--start", "2024-13-01").returncode == 1
    )
    assert run("strategy", "eval", "nope.clj", "--bars", synthetic_bars_path).returncode == 1
    assert run("strategy", "eval", TQQQ, "--bars", "nope.parquet").returncode == 1


def test_allocate_blends_strategies(synthetic_bars_path: Path) -> None:
    config = ROOT / "strategies" / "allocations.prod.json"
    result = run("strategy", "allocate", config, "--bars", synthetic_bars_path)
    assert result.returncode == 0, result.stderr
    assert "Target allocation for 2024-06-28" in result.stdout
    for name in ("1-KMLM.clj", "2-Nuclear.clj", "5-Coin.clj", "6-TQQQ-FLT.clj"):
        assert f"({name}) on 2024-06-28" in result.stdout


def test_bad_allocation_config_exits_1(synthetic_bars_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "alloc.json"
    (tmp_path / "a.clj").write_text('(defsymphony "a" {} (asset "SPY"))')
    config.write_text(json.dumps({"files": ["a.clj"], "allocations": {"a.clj": 0.9}}))
    result = run("strategy", "allocate", config, "--bars", synthetic_bars_path)
    assert result.returncode == 1
    assert "alloc.json" in result.stderr and "sum to 1" in result.stderr


def test_data_synth_writes_bars(tmp_path: Path) -> None:
    out = tmp_path / "bars.parquet"
    result = run("data", "synth", "--out", out, "--start", "2024-01-02", "--end", "2024-01-31", "--seed", "3")
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(out)
    assert set(frame.columns) >= {"symbol", "date", "open", "high", "low", "close", "volume"}
    assert frame["date"].nunique() == 21


def test_json_weights_have_10_decimals_and_sum_to_one(synthetic_bars_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "thirds.clj"
    symbols = ["SPY", "QQQ", "TLT", "GLD", "BIL", "IEF", "XLK"]
    path.write_text(
        '(defsymphony "n" {} (weight-equal [' + " ".join(f'(asset "{s}")' for s in symbols) + "]))"
    )
    result = run("strategy", "eval", path, "--bars", synthetic_bars_path)
    assert result.returncode == 0, result.stderr
    (weights,) = json.loads(result.stdout).values()
    assert sorted(weights) == sorted(symbols)
    assert all(round(w, 10) == w and abs(w - 1 / 7) < 1e-10 for w in weights.values())
    assert abs(sum(weights.values()) - 1) < 1e-12


def test_batch_eval_keys_each_file_and_names_each_bad_one(synthetic_bars_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "symphonies"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.clj").write_text('(defsymphony "a" {} (asset "SPY"))')
    (folder / "bad.clj").write_text('(defsymphony "x" {}\n  (weight-equal [(asset "SPY")]\n')
    (folder / "ghost.clj").write_text(
        '(defsymphony "ghost" {} (if (> (rsi "NOSUCH" {:window 10}) 50) [(asset "SPY")] [(asset "BIL")]))'
    )
    (folder / "notes.txt").write_text("not a symphony")
    (folder / "nested" / "skipped.clj").write_text("not read: folders are not searched recursively")
    out = tmp_path / "trace.jsonl"
    span = ("--start", "2024-06-26", "--end", "2024-06-28")
    batch = run("strategy", "eval", folder, TQQQ, "--bars", synthetic_bars_path, *span, "--trace-out", out)

    # The good files are evaluated and printed, keyed by file; each bad one is named on
    # stderr (in file order) and the call exits 2.
    assert batch.returncode == 2
    payload = json.loads(batch.stdout)
    assert list(payload) == [str(folder / "a.clj"), str(TQQQ)]
    assert payload[str(folder / "a.clj")] == {
        d: {"SPY": 1.0} for d in ("2024-06-26", "2024-06-27", "2024-06-28")
    }
    single = run("strategy", "eval", TQQQ, "--bars", synthetic_bars_path, *span)
    assert single.returncode == 0, single.stderr
    assert payload[str(TQQQ)] == json.loads(single.stdout)
    errors = batch.stderr.splitlines()
    assert errors[0].startswith("bad.clj:2:3: ParseError: ")
    assert errors[1].startswith("ghost.clj:1:32: UnknownSymbol: ") and "symbol=NOSUCH" in errors[1]
    assert len(errors) == 2

    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["file"], line["date"]) for line in lines] == [
        (str(path), day)
        for path in (folder / "a.clj", TQQQ)
        for day in ("2024-06-26", "2024-06-27", "2024-06-28")
    ]


def test_batch_eval_of_good_files_exits_0_with_a_table_per_file(synthetic_bars_path: Path) -> None:
    second = corpus_dir() / "1-KMLM.clj"
    result = run("strategy", "eval", TQQQ, second, "--bars", synthetic_bars_path, "--format", "table")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"== {TQQQ} ==\n2024-06-28")
    assert f"\n\n== {second} ==\n2024-06-28" in result.stdout

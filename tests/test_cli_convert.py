"""`alchemiser strategy convert` as a user runs it: a real process, its output, stderr and exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.score_writer import to_score_json_text
from alchemiser_dagster.domain.strategy.writer import strategy_key, to_clj
from tests.conftest import ROOT, corpus_dir

TQQQ = corpus_dir() / "6-TQQQ-FLT.clj"
SCORE = corpus_dir() / "composer" / "oc__svxy_ftlt_v2.json"
POSITIONAL = corpus_dir() / "composer" / "doc__example_symphony.clj"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alchemiser_dagster.cli", "strategy", "convert", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        check=False,
    )


def test_score_json_becomes_canonical_text_by_default() -> None:
    result = run(SCORE)
    assert result.returncode == 0, result.stderr
    assert result.stdout == to_clj(load_symphony(SCORE))
    assert result.stdout.startswith(
        '(defsymphony "SVXY FTLT | V2" {:asset-class "EQUITIES", :rebalance-frequency :daily}\n'
    )
    assert "{:window 10}" in result.stdout


def test_text_becomes_score_json_by_default() -> None:
    result = run(TQQQ)
    assert result.returncode == 0, result.stderr
    score = json.loads(result.stdout)
    assert score["step"] == "root" and score["rebalance-corridor-width"] == 0.1
    assert result.stdout == to_score_json_text(load_symphony(TQQQ))


def test_to_clj_rewrites_another_text_dialect_canonically() -> None:
    result = run(POSITIONAL, "--to", "clj")
    assert result.returncode == 0, result.stderr
    assert "{:window 10}" in result.stdout and '"SPY" 10)' not in result.stdout
    assert result.stdout == to_clj(load_symphony(POSITIONAL))


def test_round_trip_through_files_is_byte_identical(tmp_path: Path) -> None:
    first = tmp_path / "first.clj"
    score = tmp_path / "out" / "converted.json"
    second = tmp_path / "second.clj"
    assert run(TQQQ, "--to", "clj", "--out", first).returncode == 0
    converted = run(first, "--out", score)
    assert converted.returncode == 0, converted.stderr
    assert converted.stdout == ""
    assert run(score, "--out", second).returncode == 0
    assert second.read_bytes() == first.read_bytes()
    assert strategy_key(load_symphony(score)) == strategy_key(load_symphony(TQQQ))


def test_a_broken_text_exits_2_naming_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.clj"
    bad.write_text(
        '(defsymphony "x" {}\n  (weight-equal [(asset "SPY") (rsi "SPY" {:window 2})]))\n', encoding="utf-8"
    )
    result = run(bad)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0].startswith("bad.clj:2:32: ValidationError: ")


def test_a_broken_score_exits_2_naming_the_json_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    step = {"step": "wt-cash-equal", "children": [{"step": "asset", "ticker": "SPY"}, {"step": "bogus"}]}
    bad.write_text(json.dumps({"step": "root", "name": "x", "children": [step]}), encoding="utf-8")
    result = run(bad, "--to", "clj")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0].startswith(
        "bad.json:$.children[0].children[1]: ValidationError: unknown step"
    )


def test_an_option_without_a_json_field_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "colour.clj"
    source.write_text('(defsymphony "x" {:colour "red"} (asset "SPY"))', encoding="utf-8")
    out = tmp_path / "colour.json"
    result = run(source, "--out", out)
    assert result.returncode == 2
    assert "option :colour has no score-JSON field" in result.stderr.splitlines()[0]
    assert not out.exists()


def test_an_unknown_form_is_a_usage_error() -> None:
    result = run(TQQQ, "--to", "yaml")
    assert result.returncode == 1
    assert "'yaml' is not one of 'clj', 'json'" in result.stderr

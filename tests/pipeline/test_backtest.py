"""The backtest agrees with the daily graph, runs as a Dagster job, and its CLI is deterministic."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from click.testing import CliRunner

from alchemiser_dagster.cli import cli
from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.domain.portfolio.allocation import to_decimal_weights
from alchemiser_dagster.domain.portfolio.models import TargetAllocation
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation
from alchemiser_dagster.pipeline.assets.backtest import BacktestSummary
from alchemiser_dagster.pipeline.assets.signals import signal_key
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "strategies" / "allocations.prod.json"
D = dt.date(2024, 6, 28)


def settings(tmp_path: Path) -> Settings:
    # The broker's today is after D: the daily run of D is a plan-only backfill, fast.
    return Settings(
        config=CONFIG,
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
        sim_date=dt.date(2024, 7, 1),
    )


def test_backtest_targets_equal_what_the_daily_graph_materializes(tmp_path: Path) -> None:
    defs = build_definitions(settings(tmp_path))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(DAILY_JOB_NAME).execute_in_process(
            partition_key=D.isoformat(), instance=instance
        )
    target: TargetAllocation = result.asset_value("target_allocation")
    bars: pd.DataFrame = result.asset_value("market_bars")
    bars.to_parquet(tmp_path / "bars.parquet")

    out = tmp_path / "bt"
    run = CliRunner().invoke(
        cli,
        ["backtest", "--config", str(CONFIG), "--bars", str(tmp_path / "bars.parquet"),
         "--start", D.isoformat(), "--end", D.isoformat(), "--out", str(out)],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    targets = pd.read_parquet(out / "targets.parquet")
    assert {r["symbol"]: r["target"] for r in targets.to_dict("records")} == target.weights
    sleeves = pd.read_parquet(out / "sleeves.parquet")
    for record in sleeves.to_dict("records"):
        signal: StrategyEvaluation = result.asset_value(signal_key(record["strategy"]))
        expected = {s: str(w) for s, w in to_decimal_weights(signal.weights).items()}
        assert json.loads(record["target_weights"]) == expected, record["strategy"]
    assert set(sleeves["strategy"]) == {s.strategy for s in target.sleeves}


def test_the_cli_is_deterministic_and_reports_progress(tmp_path: Path, synthetic_bars_path: Path) -> None:
    args = ["backtest", "--config", str(CONFIG), "--bars", str(synthetic_bars_path), "--start", "2024-01-02"]
    first = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a")])
    second = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b")])
    assert first.exit_code == 0 and second.exit_code == 0, first.output
    assert first.stderr.startswith("backtest")  # the progress bar (drawn in full on a terminal)
    assert "sessions 2024-01-02..2024-06-28: equity 100,000.00 -> " in first.stdout
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert {"equity.parquet", "holdings.parquet", "trades.parquet", "report.html", "metrics.json"} <= set(
        names
    )
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    equity = pd.read_parquet(tmp_path / "a" / "equity.parquet")
    assert metrics["performance"]["end_equity"] == float(equity["equity"].iloc[-1])
    assert isinstance(equity["equity"].iloc[-1], Decimal)  # money stays exact in the files
    page = (tmp_path / "a" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "Max drawdown".lower() in page.lower()
    # Empty cells read "-" (the remainder row has no trading setting), never pandas' "nan".
    assert "<td>(costs, cash and rounding)</td>" in page and ">nan<" not in page


def test_cli_errors_name_what_is_wrong(tmp_path: Path, synthetic_bars_path: Path) -> None:
    empty = CliRunner().invoke(
        cli,
        ["backtest", "--config", str(CONFIG), "--bars", str(synthetic_bars_path), "--start", "2030-01-02"],
    )
    assert empty.exit_code != 0 and "no session of" in empty.output
    (tmp_path / "bad.clj").write_text('(defsymphony "bad" {}\n  (if (> (rsi "SPY") 50) [(asset "SPY")]))')
    (tmp_path / "c.json").write_text(json.dumps({"files": ["bad.clj"], "allocations": {"bad.clj": 1}}))
    from alchemiser_dagster.cli import main

    with pytest.raises(SystemExit) as exited:
        import sys

        argv = sys.argv
        sys.argv = [
            "alchemiser",
            "backtest",
            "--config",
            str(tmp_path / "c.json"),
            "--bars",
            str(synthetic_bars_path),
        ]
        try:
            main()
        finally:
            sys.argv = argv
    assert exited.value.code == 2


def test_the_backtest_job_fetches_bars_through_the_broker(tmp_path: Path) -> None:
    defs = build_definitions(settings(tmp_path))
    job = defs.resolve_job_def("backtest_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {"backtest_report"}
    assert "backtest_report" not in {
        k.to_user_string() for k in defs.resolve_job_def(DAILY_JOB_NAME).asset_layer.executable_asset_keys
    }
    config = {"ops": {"backtest_report": {"config": {"start": "2024-05-01", "end": D.isoformat()}}}}
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(run_config=config, instance=instance)
        [event] = [e for e in result.get_asset_materialization_events()]
    summary: BacktestSummary = result.asset_value("backtest_report")
    assert (summary.start, summary.end, summary.sessions) == (dt.date(2024, 5, 1), D, 41)
    metadata = event.materialization.metadata
    assert "](data:image/png;base64," in metadata["equity"].value  # type: ignore[operator]
    assert "| CAGR |" in metadata["statistics"].value  # type: ignore[operator]
    assert "broker (embedded)" in (Path(summary.folder) / "report.html").read_text()
    assert pd.read_parquet(Path(summary.folder) / "equity.parquet")["session"].iloc[-1] == D


def test_a_config_naming_score_json_backtests_exactly_like_its_text(
    tmp_path: Path, synthetic_bars_path: Path
) -> None:
    # Composer users bring score JSON: the backtest reads it through the same loader as text.
    from alchemiser_dagster.domain.strategy.compiler import load_symphony
    from alchemiser_dagster.domain.strategy.convert import convert_symphony

    config = json.loads(CONFIG.read_text())
    as_json = {name: name.removesuffix(".clj") + ".json" for name in config["files"]}
    for name, json_name in as_json.items():
        (tmp_path / json_name).write_text(convert_symphony(load_symphony(CONFIG.parent / name), "json"))
    json_config = tmp_path / "allocations.json"
    json_config.write_text(
        json.dumps(
            {
                "files": list(as_json.values()),
                "allocations": {as_json[n]: s for n, s in config["allocations"].items()},
            }
        )
    )
    common = ["backtest", "--bars", str(synthetic_bars_path), "--start", "2024-03-01", "--end", "2024-06-28"]
    text_run = CliRunner().invoke(cli, [*common, "--config", str(CONFIG), "--out", str(tmp_path / "text")])
    json_run = CliRunner().invoke(
        cli, [*common, "--config", str(json_config), "--out", str(tmp_path / "json")]
    )
    assert text_run.exit_code == 0 and json_run.exit_code == 0, json_run.output
    for table in ("equity", "trades", "targets"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "json" / f"{table}.parquet"),
            pd.read_parquet(tmp_path / "text" / f"{table}.parquet"),
        )
    sleeves_text = pd.read_parquet(tmp_path / "text" / "sleeves.parquet")
    sleeves_json = pd.read_parquet(tmp_path / "json" / "sleeves.parquet")
    sleeves_text["strategy"] = sleeves_text["strategy"].map(as_json)
    pd.testing.assert_frame_equal(sleeves_json, sleeves_text)
    assert sleeves_json["rebalanced"].any() and not sleeves_json["rebalanced"].all()

"""`alchemiser compare`: a config's daily targets (or a backtest's) beside a recorded weights
history such as Composer's allocation export: per-day agreement, the first divergence with
both decision traces, and both equity curves in one plot."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import click
import pandas as pd

from alchemiser_dagster.cli.types import DATE
from alchemiser_dagster.domain.backtest.compare import (
    AGREEMENT_TOLERANCE,
    DayAgreement,
    compare_decisions,
    first_divergence,
    weights_text,
)
from alchemiser_dagster.domain.backtest.composer_export import read_weights_history
from alchemiser_dagster.domain.backtest.engine import BacktestSettings, run_backtest
from alchemiser_dagster.domain.backtest.replay import replay_settings, replay_weights
from alchemiser_dagster.domain.marketdata.bars import read_bars
from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.config import load_allocation_config
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory
from alchemiser_dagster.domain.strategy.render import trace_text
from alchemiser_dagster.project import project_path
from alchemiser_dagster.reporting.backtest import compare_equity_chart
from alchemiser_dagster.settings import load_settings


def _targets_by_session(targets: pd.DataFrame) -> dict[dt.date, dict[str, float]]:
    out: dict[dt.date, dict[str, float]] = {}
    for session, symbol, target in zip(targets["session"], targets["symbol"], targets["target"], strict=True):
        day = out.setdefault(session, {})
        if Decimal(str(target)) != 0:
            day[str(symbol)] = float(target)
    return out


def _our_traces(config_path: Path | None, bars: pd.DataFrame, session: dt.date) -> str:
    """Each symphony's decision trace on `session` (the evaluator's), or why there is none."""
    if config_path is None or not config_path.is_file():
        return f"(no config to re-evaluate: {config_path})"
    config = load_allocation_config(config_path)
    history = MarketHistory.from_bars(bars, source="compare bars")
    texts = []
    for name in config.files:
        evaluation = SymphonyEvaluator(load_symphony(config.strategy_path(name)), history).evaluate(
            session, trace=True
        )
        texts.append(f"[{name}, share {config.allocations[name]}]\n" + trace_text(evaluation))
    return "\n".join(texts)


def _divergence_text(day: DayAgreement, our_trace: str, weights_file: Path) -> str:
    return "\n".join(
        [
            f"first divergence {day.session}: weights differ by up to {day.max_difference:.2%}"
            + (f"; only ours: {', '.join(day.only_ours)}" if day.only_ours else "")
            + (f"; only theirs: {', '.join(day.only_theirs)}" if day.only_theirs else ""),
            f"  ours:   {weights_text(day.ours)}",
            f"  theirs: {weights_text(day.theirs)}",
            "our decision trace:",
            our_trace,
            f"their decision (row of {weights_file.name} dated {day.session}): {weights_text(day.theirs)}",
        ]
    )


@click.command()
@click.argument("config_path", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--backtest",
    "backtest_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Compare a finished backtest's folder (targets.parquet, equity.parquet) instead of CONFIG.",
)
@click.option(
    "--weights",
    "weights_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The recorded history: CSV date,symbol,weight or Composer's allocation export.",
)
@click.option(
    "--bars", "bars_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--start", type=DATE, help="First session (default: the history's first).")
@click.option("--end", type=DATE, help="Last session (default: the history's last).")
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0, max=1),
    default=AGREEMENT_TOLERANCE,
    show_default=True,
    help="Largest weight difference of a day that agrees (same symbols held, too).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the results (default: compare/ in the project folder).",
)
def compare(
    config_path: Path | None,
    backtest_dir: Path | None,
    weights_path: Path,
    bars_path: Path,
    start: dt.datetime | None,
    end: dt.datetime | None,
    tolerance: float,
    out: Path | None,
) -> None:
    """Put CONFIG's daily targets (from a backtest over the history's sessions) beside the
    recorded weights history: which days agree, the first that does not with both decision
    traces, and both equity curves (ours from the backtest, theirs replayed through the same
    book) in compare.png. Writes agreement.csv, compare.json and compare.png under --out."""
    if (config_path is None) == (backtest_dir is None):
        raise click.UsageError("give exactly one of CONFIG and --backtest DIR")
    bars = read_bars(bars_path)
    history = read_weights_history(weights_path, set(bars["date"]))
    first = start.date() if start else min(history)
    last = end.date() if end else max(history)
    history = {d: w for d, w in history.items() if first <= d <= last}
    if not history:
        raise click.UsageError(f"{weights_path}: no decision in [{first}, {last}]")
    if backtest_dir is not None:
        targets = pd.read_parquet(backtest_dir / "targets.parquet")
        ours_equity = pd.read_parquet(backtest_dir / "equity.parquet")
        inputs = json.loads((backtest_dir / "metrics.json").read_text())["inputs"]
        trace_config = Path(inputs["config"]) if "config" in inputs else None
        ours_label = f"ours: backtest {backtest_dir.name}"
        cash = Decimal(str(float(ours_equity["equity"].iloc[0])))
    else:
        assert config_path is not None
        settings = BacktestSettings(planning=load_settings().planning)
        result = run_backtest(load_allocation_config(config_path), bars, first, last, settings)
        targets, ours_equity, trace_config = result.targets, result.equity, config_path
        ours_label = f"ours: backtest of {config_path.name}"
        cash = settings.cash
    ours = _targets_by_session(targets)
    theirs_result = replay_weights(history, bars, first, last, replay_settings(cash=cash))
    days = compare_decisions(ours, history, tolerance)
    if not days:
        raise click.UsageError("ours and theirs share no decided session")
    divergence = first_divergence(days)
    agreed = sum(day.agree for day in days)
    out = out if out is not None else project_path("compare")
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(
        {
            "session": [d.session for d in days],
            "agree": [d.agree for d in days],
            "max_difference": [d.max_difference for d in days],
            "ours": [weights_text(d.ours) for d in days],
            "theirs": [weights_text(d.theirs) for d in days],
        }
    )
    table.to_csv(out / "agreement.csv", index=False)
    ours_plot = ours_equity[["session", "equity"]].merge(
        table[["session", "agree", "max_difference"]], how="left"
    )
    ours_plot = ours_plot[(ours_plot["session"] >= first) & (ours_plot["session"] <= last)]
    (out / "compare.png").write_bytes(
        compare_equity_chart(
            ours_plot,
            theirs_result.equity,
            ours_label,
            f"theirs: {weights_path.name} replayed"
            + (
                f" ({len(history)} of {len(theirs_result.equity)} sessions decided, held between)"
                if len(history) < len(theirs_result.equity)
                else ""
            ),
            f"{agreed}/{len(days)} compared sessions agree (tolerance {tolerance:g})",
            tolerance,
        )
    )
    trace = _our_traces(trace_config, bars, divergence.session) if divergence else ""
    summary = {
        "sessions_compared": len(days),
        "sessions_agreeing": agreed,
        "tolerance": tolerance,
        "first_divergence": None
        if divergence is None
        else {
            "session": divergence.session.isoformat(),
            "max_difference": divergence.max_difference,
            "ours": divergence.ours,
            "theirs": divergence.theirs,
            "our_trace": trace,
        },
        "ours_end_equity": float(ours_plot["equity"].iloc[-1]),
        "theirs_end_equity": theirs_result.performance.end_equity,
    }
    (out / "compare.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    click.echo(f"{agreed}/{len(days)} sessions agree ({first}..{last}, tolerance {tolerance:g})")
    if divergence is not None:
        click.echo(_divergence_text(divergence, trace, weights_path))
    click.echo(f"plot: {out / 'compare.png'}")

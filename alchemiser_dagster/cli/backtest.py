"""`alchemiser backtest`: the strategies and the real planner over a range of sessions, or a
recorded target-weights history (`--weights`) replayed through the same book; beside a benchmark."""

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path

import click
import pandas as pd
from upath import UPath

from alchemiser_dagster.cli.types import DATE
from alchemiser_dagster.domain.backtest.benchmark import DEFAULT_BENCHMARK, Benchmark, benchmark_for
from alchemiser_dagster.domain.backtest.composer_export import read_weights_history
from alchemiser_dagster.domain.backtest.engine import BacktestResult, BacktestSettings, run_backtest
from alchemiser_dagster.domain.backtest.replay import REPLAY_PLANNING, replay_weights
from alchemiser_dagster.domain.marketdata.bars import read_bars
from alchemiser_dagster.domain.strategy.config import load_allocation_config
from alchemiser_dagster.project import project_path
from alchemiser_dagster.reporting.backtest_files import write_backtest
from alchemiser_dagster.settings import load_settings


def backtest_inputs(
    config: Path,
    bars: str,
    start: dt.date,
    end: dt.date,
    settings: BacktestSettings,
    *,
    source: str = "config",
) -> dict[str, str]:
    planning = settings.planning
    return {
        source: str(config),
        "bars": bars,
        "sessions": f"{start} .. {end}",
        "cash": f"{settings.cash:,.2f}",
        "slippage": f"{settings.slippage_bps} bps on the close, both sides",
        "planning": f"reserve {planning.cash_reserve_pct}, min trade {planning.min_trade_usd} USD,"
        f" drift band {planning.drift_band}",
        "shares": "fractional" if settings.fractional else "whole",
    }


def choose_benchmark(requested: str | None, bars: pd.DataFrame) -> str | None:
    """The symbol to compare with: the one asked for, else SPY when the bars have it, else none."""
    if requested is not None:
        symbol = requested.strip().upper()
        if symbol == "NONE":
            return None
        if symbol not in set(bars["symbol"]):
            raise click.UsageError(f"--benchmark {symbol}: not a symbol of the bars")
        return symbol
    return DEFAULT_BENCHMARK if DEFAULT_BENCHMARK in set(bars["symbol"]) else None


def with_benchmark(symbol: str | None, bars: pd.DataFrame, result: BacktestResult) -> Benchmark | None:
    if symbol is None:
        return None
    return benchmark_for(
        symbol, bars, list(result.equity["session"]), [float(v) for v in result.equity["equity"]]
    )


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Allocation config to backtest (or --weights).",
)
@click.option(
    "--weights",
    "weights_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Replay a target-weights history instead: CSV date,symbol,weight or Composer's allocation export.",
)
@click.option(
    "--bars", "bars_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--start", type=DATE, help="First session (default: the first of the bars / of the weights).")
@click.option("--end", type=DATE, help="Last session (default: the last of the bars / of the weights).")
@click.option("--cash", type=click.FloatRange(min=0, min_open=True), default=100000, show_default=True)
@click.option(
    "--slippage-bps", type=click.FloatRange(min=0, max=10000, max_open=True), default=5, show_default=True
)
@click.option("--whole-shares", is_flag=True, help="Trade whole shares only (default: fractional).")
@click.option(
    "--benchmark",
    "benchmark_symbol",
    help="Symbol of the bars to compare with, held from the first close (default: SPY when in the"
    " bars; 'none' for none).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the results (default: backtest/ in the project folder).",
)
def backtest(
    config_path: Path | None,
    weights_path: Path | None,
    bars_path: Path,
    start: dt.datetime | None,
    end: dt.datetime | None,
    cash: float,
    slippage_bps: float,
    whole_shares: bool,
    benchmark_symbol: str | None,
    out: Path | None,
) -> None:
    """Backtest an allocation CONFIG on daily BARS: targets on bars dated <= D, the real
    planner (reserve, minimum trade, drift band, fractional rules, each symphony's
    trading setting: daily/weekly/.../threshold), fills at D's close plus slippage.

    With --weights FILE, replay that target-weights history through the same book instead:
    the weights dated D trade at D's close (so they earn D -> D+1), with fractional weights
    accounting (no reserve, minimum trade or drift band)."""
    if (config_path is None) == (weights_path is None):
        raise click.UsageError("give exactly one of --config and --weights")
    bars = read_bars(bars_path)
    first = start.date() if start else None
    last = end.date() if end else None
    symbol = choose_benchmark(benchmark_symbol, bars)
    if weights_path is not None:
        if whole_shares:
            raise click.UsageError(
                "--whole-shares does not apply to --weights (fractional weights accounting)"
            )
        settings = BacktestSettings(
            cash=Decimal(str(cash)), slippage_bps=Decimal(str(slippage_bps)), planning=REPLAY_PLANNING
        )
        history = read_weights_history(weights_path, set(bars["date"]))
        result = replay_weights(history, bars, first, last, settings)
        sessions = list(result.equity["session"])
        inputs = backtest_inputs(
            weights_path, str(bars_path), sessions[0], sessions[-1], settings, source="weights"
        )
        title = f"Replay of {weights_path.name}"
    else:
        assert config_path is not None
        settings = BacktestSettings(
            cash=Decimal(str(cash)),
            slippage_bps=Decimal(str(slippage_bps)),
            planning=load_settings().planning,
            fractional=not whole_shares,
        )
        config = load_allocation_config(config_path)
        sessions = sorted(
            {d for d in bars["date"] if (first is None or d >= first) and (last is None or d <= last)}
        )
        if not sessions:
            raise click.UsageError(f"no session of {bars_path} lies in [{first}, {last}]")
        with click.progressbar(length=len(sessions), label="backtest", file=sys.stderr) as bar:

            def advance(_: dt.date) -> None:
                bar.update(1)

            result = run_backtest(config, bars, first, last, settings, progress=advance)
        inputs = backtest_inputs(config_path, str(bars_path), sessions[0], sessions[-1], settings)
        title = f"Backtest of {config_path.name}"
    benchmark = with_benchmark(symbol, bars, result)
    inputs["benchmark"] = benchmark.symbol if benchmark else "none"
    folder = out if out is not None else project_path("backtest")
    paths = write_backtest(result, UPath(folder), title, inputs, benchmark)
    p = result.performance
    sharpe = "-" if p.sharpe is None else f"{p.sharpe:.2f}"
    click.echo(
        f"{p.sessions} sessions {sessions[0]}..{sessions[-1]}:"
        f" equity {p.start_equity:,.2f} -> {p.end_equity:,.2f} (CAGR {p.cagr:.2%}, vol {p.volatility:.2%},"
        f" Sharpe {sharpe}, max drawdown {p.max_drawdown.depth:.2%}, turnover {p.turnover:.1f}x/yr)"
    )
    if benchmark is not None:
        b = benchmark.stats
        beta = "-" if b.beta is None else f"{b.beta:.2f}"
        corr = "-" if b.correlation is None else f"{b.correlation:.2f}"
        click.echo(
            f"benchmark {b.symbol}: annual return {b.annual_return:.2%}, excess {b.excess_return:+.2%}/yr,"
            f" beta {beta}, correlation {corr}, tracking error {b.tracking_error:.2%}"
        )
    click.echo(f"report: {paths['report']}")

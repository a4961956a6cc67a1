"""`alchemiser backtest`: the strategies and the real planner over a range of sessions."""

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path

import click
from upath import UPath

from alchemiser_dagster.domain.backtest.engine import BacktestSettings, run_backtest
from alchemiser_dagster.domain.marketdata.bars import read_bars
from alchemiser_dagster.domain.strategy.config import load_allocation_config
from alchemiser_dagster.reporting.backtest_files import write_backtest
from alchemiser_dagster.settings import load_settings

DATE = click.DateTime(formats=["%Y-%m-%d"])


def backtest_inputs(
    config: Path, bars: str, start: dt.date, end: dt.date, settings: BacktestSettings
) -> dict[str, str]:
    planning = settings.planning
    return {
        "config": str(config),
        "bars": bars,
        "sessions": f"{start} .. {end}",
        "cash": f"{settings.cash:,.2f}",
        "slippage": f"{settings.slippage_bps} bps on the close, both sides",
        "planning": f"reserve {planning.cash_reserve_pct}, min trade {planning.min_trade_usd} USD,"
        f" drift band {planning.drift_band}",
        "shares": "fractional" if settings.fractional else "whole",
    }


@click.command()
@click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--bars", "bars_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--start", type=DATE, help="First session (default: the first of the bars).")
@click.option("--end", type=DATE, help="Last session (default: the last of the bars).")
@click.option("--cash", type=click.FloatRange(min=0, min_open=True), default=100000, show_default=True)
@click.option(
    "--slippage-bps", type=click.FloatRange(min=0, max=10000, max_open=True), default=5, show_default=True
)
@click.option("--whole-shares", is_flag=True, help="Trade whole shares only (default: fractional).")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("backtest"),
    show_default=True,
)
def backtest(
    config_path: Path,
    bars_path: Path,
    start: dt.datetime | None,
    end: dt.datetime | None,
    cash: float,
    slippage_bps: float,
    whole_shares: bool,
    out: Path,
) -> None:
    """Backtest an allocation CONFIG on daily BARS: targets on bars dated <= D, the real
    planner (reserve, minimum trade, drift band, fractional rules, each symphony's
    :rebalance-threshold corridor), fills at D's close plus slippage."""
    settings = BacktestSettings(
        cash=Decimal(str(cash)),
        slippage_bps=Decimal(str(slippage_bps)),
        planning=load_settings().planning,
        fractional=not whole_shares,
    )
    config = load_allocation_config(config_path)
    bars = read_bars(bars_path)
    first = start.date() if start else None
    last = end.date() if end else None
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
    paths = write_backtest(result, UPath(out), f"Backtest of {config_path.name}", inputs)
    p = result.performance
    sharpe = "-" if p.sharpe is None else f"{p.sharpe:.2f}"
    click.echo(
        f"{p.sessions} sessions {sessions[0]}..{sessions[-1]}:"
        f" equity {p.start_equity:,.2f} -> {p.end_equity:,.2f} (CAGR {p.cagr:.2%}, vol {p.volatility:.2%},"
        f" Sharpe {sharpe}, max drawdown {p.max_drawdown.depth:.2%}, turnover {p.turnover:.1f}x/yr)"
    )
    click.echo(f"report: {paths['report']}")

"""backtest_report: the backtest as a Dagster asset, launched from the UI with a date range.

Not part of the daily job. Bars come from a parquet file (`bars_path`) or, by default,
through the broker adapter (adjusted daily bars with the strategies' warm-up), exactly as
`alchemiser data fetch` gets them. The files land in `<storage>/backtests/<run id>/`; the
materialization shows the statistics, the attribution and the equity chart.
"""

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from upath import UPath

from alchemiser_dagster.domain.backtest.engine import BacktestResult, BacktestSettings, run_backtest
from alchemiser_dagster.domain.calendar import latest_session_on_or_before, nyse_sessions, previous_session
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.marketdata.bars import read_bars
from alchemiser_dagster.domain.marketdata.session_bars import history_start
from alchemiser_dagster.domain.model import Record
from alchemiser_dagster.domain.portfolio.models import PlanningSettings
from alchemiser_dagster.domain.strategy.allocation import required_market_data
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.pipeline.jobs import BACKTEST_GROUP
from alchemiser_dagster.pipeline.resources import BrokerResource, SettingsResource
from alchemiser_dagster.reporting.backtest import EQUITY, metrics_rows
from alchemiser_dagster.reporting.backtest_files import write_backtest
from alchemiser_dagster.reporting.html import data_uri

DEFAULT_SESSIONS = 252


class BacktestConfig(dg.Config):
    """Empty dates mean the last 252 sessions before today; an empty bars_path fetches bars."""

    start: str = ""
    end: str = ""
    cash: float = 100000.0
    slippage_bps: float = 5.0
    whole_shares: bool = False
    bars_path: str = ""


class BacktestSummary(Record):
    start: dt.date
    end: dt.date
    sessions: int
    end_equity: Decimal
    cagr: float
    sharpe: float | None
    max_drawdown: float
    folder: str


def session_range(config: BacktestConfig, today: dt.date) -> tuple[dt.date, dt.date]:
    try:
        end = dt.date.fromisoformat(config.end) if config.end else previous_session(today)
        start = dt.date.fromisoformat(config.start) if config.start else None
    except ValueError as error:
        raise ConfigError(f"backtest start/end must be YYYY-MM-DD: {error}") from error
    if start is None:
        start = end
        for _ in range(DEFAULT_SESSIONS - 1):
            start = previous_session(start)
    if start > end or not nyse_sessions(start, end):
        raise ConfigError(f"backtest range {start}..{end} holds no NYSE session")
    return start, end


def backtest_bars(
    config: BacktestConfig,
    allocation: AllocationConfig,
    start: dt.date,
    end: dt.date,
    broker: BrokerResource,
    mode: str,
) -> tuple[pd.DataFrame, str]:
    """The bars to replay and where they came from: the parquet file, else the broker."""
    if config.bars_path:
        return read_bars(config.bars_path), config.bars_path
    symbols, longest_window = required_market_data(allocation)
    first = history_start(start, longest_window)
    bars = broker.client().get_daily_bars(sorted(symbols), first, end)
    return bars, f"broker ({mode}), adjusted daily bars {first}..{end}"


def backtest_settings(config: BacktestConfig, planning: PlanningSettings) -> BacktestSettings:
    return BacktestSettings(
        cash=Decimal(str(config.cash)),
        slippage_bps=Decimal(str(config.slippage_bps)),
        planning=planning,
        fractional=not config.whole_shares,
    )


def backtest_inputs(
    config_path: Path, source: str, start: dt.date, end: dt.date, backtest: BacktestSettings
) -> dict[str, str]:
    """What the backtest ran on, in words, for its report."""
    return {
        "config": str(config_path),
        "bars": source,
        "sessions": f"{start} .. {end}",
        "cash": f"{backtest.cash:,.2f}",
        "slippage": f"{backtest.slippage_bps} bps",
    }


def backtest_summary(result: BacktestResult, start: dt.date, end: dt.date, folder: UPath) -> BacktestSummary:
    p = result.performance
    return BacktestSummary(
        start=start,
        end=end,
        sessions=p.sessions,
        end_equity=Decimal(str(p.end_equity)),
        cagr=p.cagr,
        sharpe=p.sharpe,
        max_drawdown=p.max_drawdown.depth,
        folder=str(folder),
    )


def backtest_metadata(
    result: BacktestResult, paths: dict[str, UPath], start: dt.date, end: dt.date
) -> dict[str, Any]:
    p = result.performance
    stats = "\n".join(["| metric | value |", "|---|---:|", *[f"| {k} | {v} |" for k, v in metrics_rows(p)]])
    with paths[f"{EQUITY}_chart"].open("rb") as handle:
        chart = data_uri(handle.read())
    table = result.attribution.astype(object)
    attribution = table.where(table.notna(), "-").to_markdown(index=False, floatfmt=".4f")
    return {
        "range": f"{start}..{end}",
        "cagr": p.cagr,
        "sharpe": "-" if p.sharpe is None else round(p.sharpe, 4),
        "max_drawdown": p.max_drawdown.depth,
        "statistics": dg.MetadataValue.md(stats),
        "equity": dg.MetadataValue.md(f"![equity and drawdown]({chart})"),
        "attribution": dg.MetadataValue.md(attribution),
        "report": dg.MetadataValue.path(str(paths["report"])),
    }


@dg.asset(group_name=BACKTEST_GROUP, kinds={"pandas"})
def backtest_report(
    context: dg.AssetExecutionContext,
    config: BacktestConfig,
    settings: SettingsResource,
    broker: BrokerResource,
) -> dg.Output[BacktestSummary]:
    """The configured strategies and the real planner over a range of sessions."""
    start, end = session_range(config, latest_session_on_or_before(dt.date.today()))
    bars, source = backtest_bars(config, settings.allocation, start, end, broker, settings.mode)
    backtest = backtest_settings(config, settings.planning)
    result = run_backtest(settings.allocation, bars, start, end, backtest)
    folder = UPath(settings.storage).joinpath("backtests", context.run.run_id)
    inputs = backtest_inputs(settings.config_path, source, start, end, backtest)
    paths = write_backtest(result, folder, f"Backtest of {settings.config_path.name}", inputs)
    return dg.Output(
        backtest_summary(result, start, end, folder), metadata=backtest_metadata(result, paths, start, end)
    )


backtest_job = dg.define_asset_job(
    name="backtest_job",
    selection=dg.AssetSelection.groups(BACKTEST_GROUP),
    executor_def=dg.in_process_executor,
    description="Backtest the configured strategies over a date range (set start/end in the launchpad).",
)

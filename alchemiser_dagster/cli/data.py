"""``alchemiser data ...``: market-data utilities (the main CLI adds this group).

``alchemiser data synth --out bars.parquet`` writes the deterministic synthetic bars the
embedded demo and the tests use. ``alchemiser data fetch --symbols-from CONFIG --start D
--end D --out bars.parquet`` writes the broker's adjusted daily bars for every symbol an
allocation config reads, in the same format, from the broker the settings point at (the
local stand-in in ``embedded`` mode, Alpaca in ``paper`` / ``live``).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import click
import pandas as pd

from alchemiser_dagster.broker.pacing import PacedBroker
from alchemiser_dagster.broker.session import open_broker
from alchemiser_dagster.cli.types import DATE
from alchemiser_dagster.demo.synth import generate_bars
from alchemiser_dagster.domain import calendar
from alchemiser_dagster.domain.errors import MarketDataError
from alchemiser_dagster.domain.marketdata.bars import normalize_bars, write_bars
from alchemiser_dagster.domain.strategy.allocation import required_market_data
from alchemiser_dagster.domain.strategy.config import load_allocation_config
from alchemiser_dagster.settings import Settings, load_settings

__all__ = ["data"]

#: Dates quoted per symbol in a "missing sessions" error.
_SHOWNDATES = 5


def _parse_symbols(value: str | None) -> list[str] | None:
    if value is None:
        return None
    symbols = [part.strip().upper() for part in value.split(",") if part.strip()]
    if not symbols:
        raise click.BadParameter("no symbols given", param_hint="'--symbols'")
    return symbols


@click.group(name="data")
def data() -> None:
    """Market-data utilities."""


@data.command(name="synth")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Parquet file to write (parent directories are created).",
)
@click.option(
    "--start",
    type=DATE,
    default="2018-01-02",
    show_default=True,
    help="First session (YYYY-MM-DD).",
)
@click.option(
    "--end",
    type=DATE,
    default=None,
    help="Last session (YYYY-MM-DD); default: latest session on or before today.",
)
@click.option("--seed", type=click.IntRange(min=0), default=7, show_default=True, help="Random seed.")
@click.option(
    "--symbols",
    default=None,
    help="Comma-separated symbols (upper-cased); default: every symbol the corpus names.",
)
def synth(
    out: Path,
    start: dt.datetime,
    end: dt.datetime | None,
    seed: int,
    symbols: str | None,
) -> None:
    """Write deterministic synthetic daily bars to a parquet file."""
    chosen = _parse_symbols(symbols)
    try:
        bars = generate_bars(
            chosen,
            start=start.date(),
            end=end.date() if end is not None else None,
            seed=seed,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if bars.empty:
        raise click.UsageError("no NYSE session in the requested range")
    try:
        path = write_bars(bars, out)
    except (MarketDataError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    n_symbols = bars["symbol"].nunique()
    click.echo(
        f"wrote {len(bars)} rows, {n_symbols} symbols, sessions "
        f"{bars['date'].min()}..{bars['date'].max()} to {path}"
    )


@data.command(name="fetch")
@click.option(
    "--symbols-from",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Allocation config: fetch every symbol its symphonies read.",
)
@click.option(
    "--symbols",
    default=None,
    help="Comma-separated symbols (upper-cased) to fetch as well (or alone, without --symbols-from).",
)
@click.option("--start", type=DATE, required=True, help="First date (YYYY-MM-DD).")
@click.option("--end", type=DATE, required=True, help="Last date (YYYY-MM-DD); its session must have closed.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Parquet file to write (parent directories are created).",
)
def fetch(
    config_path: Path | None,
    symbols: str | None,
    start: dt.datetime,
    end: dt.datetime,
    out: Path,
) -> None:
    """Write the broker's adjusted daily bars (adjustment=all) to a parquet file.

    The broker is the one the settings point at: the local stand-in (ALCHEMISER_MODE
    embedded, ALCHEMISER_SIM_STATE, ALCHEMISER_SIM_DATE) or Alpaca (paper / live, keys where
    the settings api_key_secret / secret_key_secret point, by default the variables
    ALPACA_API_KEY / ALPACA_SECRET_KEY; ALCHEMISER_BROKER_URL overrides the host). Every
    symbol must have a bar on every NYSE session from its first bar in the range to the
    end; a symbol without any bar, or with a hole, is an error and nothing is written.
    Symbols whose bars begin after --start (later listings) are named on stderr.
    """
    first_day, last_day = start.date(), end.date()
    if first_day > last_day:
        raise click.UsageError(f"--start {first_day} is after --end {last_day}")
    try:
        sessions = calendar.nyse_sessions(first_day, last_day)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if not sessions:
        raise click.UsageError(f"no NYSE session between {first_day} and {last_day}")
    wanted = set(_parse_symbols(symbols) or [])
    if config_path is not None:
        config_symbols, _ = required_market_data(load_allocation_config(config_path))
        wanted |= config_symbols
    elif not wanted:
        raise click.UsageError("give --symbols-from CONFIG, --symbols SYM,SYM or both")

    settings = load_settings()
    source = _describe_source(settings)
    with open_broker(settings) as adapter:
        broker = PacedBroker(adapter, sleep=time.sleep, monotonic=time.monotonic)
        now = broker.get_clock().timestamp
        open_sessions = [day for day in sessions if calendar.session_close(day) > now]
        if open_sessions:
            closed = [day for day in sessions if day not in open_sessions]
            hint = f"; the last closed session in the range is {closed[-1]}" if closed else ""
            raise click.UsageError(
                f"--end {last_day}: the session of {open_sessions[0]} has not closed at the broker's"
                f" time {now.astimezone(calendar.NEW_YORK):%Y-%m-%d %H:%M} New York, so its bar is not"
                f" final{hint}"
            )
        raw = broker.get_daily_bars(sorted(wanted), sessions[0], sessions[-1])
    bars = normalize_bars(raw, source=source)
    late = _check_complete(bars, sorted(wanted), sessions, source)
    try:
        path = write_bars(bars, out)
    except (MarketDataError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if late:
        click.echo(
            f"note: bars begin after {sessions[0]} for " + ", ".join(f"{s} ({d})" for s, d in late),
            err=True,
        )
    click.echo(
        f"wrote {len(bars)} rows, {bars['symbol'].nunique()} symbols, sessions "
        f"{bars['date'].min()}..{bars['date'].max()} from {source} to {path}"
    )


def _describe_source(settings: Settings) -> str:
    from alchemiser_dagster.modes import mode_profile

    profile = mode_profile(settings.mode)
    where = f" at {settings.broker_url}" if settings.broker_url and not profile.stand_in else ""
    return f"{profile.describe}{where}"


def _check_complete(
    bars: pd.DataFrame, symbols: list[str], sessions: list[dt.date], source: str
) -> list[tuple[str, dt.date]]:
    """Raise unless every symbol has a bar on every session from its first one to the end.

    Returns the symbols whose bars begin after the first session (listed later, or the
    provider's history starts later), with their first date: legitimate, so not an error.
    """
    span = f"{sessions[0]}..{sessions[-1]}"
    by_symbol = {str(symbol): set(group) for symbol, group in bars.groupby("symbol", sort=True)["date"]}
    absent = [symbol for symbol in symbols if symbol not in by_symbol]
    if absent:
        raise MarketDataError(f"no bars in {span} from {source} for: {', '.join(absent)}")
    session_set = set(sessions)
    odd = sorted({day for dates in by_symbol.values() for day in dates} - session_set)
    if odd:
        raise MarketDataError(
            f"bars from {source} are dated on days that are not NYSE sessions: "
            + ", ".join(str(day) for day in odd[:_SHOWNDATES])
        )
    holes = []
    late = []
    for symbol in symbols:
        dates = by_symbol[symbol]
        first = min(dates)
        if first > sessions[0]:
            late.append((symbol, first))
        missing = [day for day in sessions if day >= first and day not in dates]
        if missing:
            shown = ", ".join(str(day) for day in missing[:_SHOWNDATES])
            more = f" and {len(missing) - _SHOWNDATES} more" if len(missing) > _SHOWNDATES else ""
            holes.append(
                f"{symbol} lacks {len(missing)} session(s) after its first bar {first}: {shown}{more}"
            )
    if holes:
        raise MarketDataError(f"incomplete bars in {span} from {source}: " + "; ".join(holes))
    return late

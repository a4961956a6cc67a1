"""``alchemiser data ...``: market-data utilities (the main CLI adds this group).

``alchemiser data synth --out bars.parquet`` writes the deterministic synthetic bars the
embedded demo and the tests use.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from alchemiser_dagster.domain.errors import MarketDataError
from alchemiser_dagster.domain.marketdata.bars import write_bars
from alchemiser_dagster.domain.marketdata.synth import generate_bars

__all__ = ["data"]

_DATE = click.DateTime(formats=["%Y-%m-%d"])


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
    type=_DATE,
    default="2018-01-02",
    show_default=True,
    help="First session (YYYY-MM-DD).",
)
@click.option(
    "--end",
    type=_DATE,
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

"""``alchemiser sim``: run the local Alpaca stand-in in the foreground.

The group is registered in :mod:`alchemiser_dagster.cli`; it lives in its own module so the
simulator's imports stay out of the other commands' start-up.
"""

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.cli.types import DATE
from alchemiser_dagster.domain.marketdata.bars import read_bars
from alchemiser_dagster.project import project_path
from alchemiser_dagster.signals import raise_keyboard_interrupt_on_stop_signals


@click.group()
def sim() -> None:
    """The local Alpaca-compatible simulator (state in SQLite, simulated clock)."""


def _cash(ctx: click.Context, param: click.Parameter, value: str) -> Decimal:
    try:
        cash = Decimal(value)
    except InvalidOperation as exc:
        raise click.BadParameter(f"not a decimal amount: {value!r}") from exc
    if not cash.is_finite() or cash < 0:
        raise click.BadParameter("cash must be a non-negative amount")
    return cash


@sim.command("serve")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0 picks a free port."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: project_path(".alchemiser", "sim"),
    show_default=".alchemiser/sim in the project folder",
    help="State directory (sim.sqlite3); an existing state is resumed.",
)
@click.option(
    "--date",
    "session",
    type=DATE,
    default=None,
    help="Set the clock to 15:45 New York on this NYSE session (default: the latest session).",
)
@click.option("--cash", default="100000", callback=_cash, show_default=True, help="Cash of a new account.")
@click.option(
    "--bars",
    "bars_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Daily bars file (csv/parquet); default: synthetic bars for the corpus symbols.",
)
@click.option(
    "--clock",
    "clock_mode",
    type=click.Choice(["frozen", "wall"]),
    default="frozen",
    show_default=True,
    help="frozen: time moves only via POST /_sim/clock; wall: it advances with real time.",
)
def serve(
    port: int,
    host: str,
    state_dir: Path,
    session: dt.datetime | None,
    cash: Decimal,
    bars_path: Path | None,
    clock_mode: str,
) -> None:
    """Serve the Alpaca stand-in until Ctrl-C or SIGTERM (both stop it cleanly)."""
    raise_keyboard_interrupt_on_stop_signals()
    now = None
    if session is not None:
        try:
            now = session_time(session.date())
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--date") from exc
    bars = read_bars(bars_path) if bars_path is not None else None
    try:
        server = SimulatorServer(state_dir, bars=bars, cash=cash, now=now, host=host, port=port).start()
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if clock_mode == "wall":
        server.engine.set_clock(server.now(), mode="wall")
    try:  # a stop signal may come while the banner is printed: stop as cleanly then
        click.echo(f"Alpaca simulator listening on {server.base_url}")
        click.echo(f"  API key:    {server.api_key}")
        click.echo(f"  secret key: {server.secret_key}")
        click.echo(f"  state:      {state_dir}")
        click.echo(f"  sim clock:  {server.now().isoformat()} ({clock_mode})")
        click.echo("Press Ctrl-C (or send SIGTERM) to stop.", nl=True)
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()

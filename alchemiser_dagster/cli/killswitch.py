"""``alchemiser killswitch``: show and flip the persistent kill switch.

ACTIVE trades, REDUCING only sells, HALTED places nothing. The log sits beside the
storage base (``ALCHEMISER_STORAGE``), so one flip here governs every later run that
uses the same storage, local or on S3. Every flip is kept with who and why.

Errors exit 1 with a one-line message; output is built before anything is printed.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import click

from alchemiser_dagster.control.killswitch_store import KillSwitchStore
from alchemiser_dagster.domain.errors import AlchemiserError
from alchemiser_dagster.domain.risk.killswitch import KILL_STATES, KillSwitchFlip
from alchemiser_dagster.settings import load_settings

STATUS_FLIPS = 10


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Our errors and OS errors become `Error: <message>` and exit 1 (no traceback)."""
    try:
        yield
    except (AlchemiserError, OSError) as error:
        message = " ".join(str(error).split())
        raise click.ClickException(message) from error


def _store() -> KillSwitchStore:
    return KillSwitchStore(load_settings().storage)


def _flip_line(flip: KillSwitchFlip) -> str:
    return f"{flip.at.isoformat(timespec='seconds')}  {flip.state:<8}  {flip.who}  {flip.why}"


@click.group()
def killswitch() -> None:
    """The kill switch: ACTIVE trades, REDUCING only sells, HALTED places nothing."""


@killswitch.command("status")
def status() -> None:
    """Print the state in force, where it is stored and the last flips."""
    with _one_line_errors():
        store = _store()
        log = store.read()
    lines = [f"kill switch: {log.current}", f"file: {store.location}"]
    if log.flips:
        shown = log.flips[-STATUS_FLIPS:]
        lines.append(f"last {len(shown)} of {len(log.flips)} flips (oldest first):")
        lines += [f"  {_flip_line(flip)}" for flip in shown]
    else:
        lines.append("never flipped (ACTIVE by default)")
    click.echo("\n".join(lines))


def _require_why(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    # Checked here rather than with required=True so a missing or blank reason is a
    # one-line error with exit 1, like every other error of this command.
    del ctx, param
    if value is None or not value.strip():
        raise click.ClickException("--why is required: say why the kill switch is flipped")
    return value


_STATES = "|".join(KILL_STATES)


@killswitch.command("set")
@click.argument("state", metavar=f"[{_STATES}]")
@click.option("--why", callback=_require_why, help="Why the switch is flipped (required).")
def set_state(state: str, why: str) -> None:
    """Record a flip to STATE (case-insensitive) with the OS user as who."""
    with _one_line_errors():
        store = _store()
        previous = store.current()
        flip = store.flip(state, why)
    click.echo(
        "\n".join(
            [
                f"kill switch: {flip.state} (was {previous})",
                f"file: {store.location}",
                f"  {_flip_line(flip)}",
            ]
        )
    )

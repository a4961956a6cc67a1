"""The `alchemiser` command.

Exit codes follow the strategy spec (§8): 0 ok; 1 usage, I/O, bad bars or bad config;
2 any strategy-language error (parse, validation, data), whose first stderr line is
`FILE:LINE:COL: ErrorClass: message`. Output is built completely before anything is
printed, so a failure leaves stdout empty.

Start-up stays light: this module imports click and the error tree only. Each command
group lives in its own module of this package, imported when that command runs, so
`alchemiser --help` imports no command and a command that needs no Dagster (strategy,
plan, data synth, sim, ...) never imports it.
"""

import sys

import click

from alchemiser_dagster.cli.lazy import LazyCommand, LazyGroup
from alchemiser_dagster.domain.errors import AlchemiserError, StrategyError

_PACKAGE = "alchemiser_dagster.cli"

#: Every top-level command: where it lives, and its help's first paragraph for `--help`
#: (tests/test_cli_imports.py checks each summary against the command's own help).
COMMANDS = {
    "accounts": LazyCommand(
        f"{_PACKAGE}.accounts:accounts", "Broker accounts of the accounts file (ALCHEMISER_ACCOUNTS_FILE)."
    ),
    "backtest": LazyCommand(
        f"{_PACKAGE}.backtest:backtest",
        "Backtest an allocation CONFIG on daily BARS: targets on bars dated <= D, the real planner"
        " (reserve, minimum trade, drift band, fractional rules, each symphony's trading setting:"
        " daily/weekly/.../threshold), fills at D's close plus slippage.",
    ),
    "compare": LazyCommand(
        f"{_PACKAGE}.compare:compare",
        "Put CONFIG's daily targets (from a backtest over the history's sessions) beside the recorded"
        " weights history: which days agree, the first that does not with both decision traces, and"
        " both equity curves (ours from the backtest, theirs replayed through the same book) in"
        " compare.png.",
    ),
    "data": LazyCommand(f"{_PACKAGE}.data:data", "Market-data utilities."),
    "demo": LazyCommand(
        f"{_PACKAGE}.run:demo",
        "The embedded default end to end: stand-in broker, generated data, one daily run.",
    ),
    "init": LazyCommand(
        f"{_PACKAGE}.init:init",
        "Create a project folder in DIRECTORY (default: here): example strategies and settings.",
    ),
    "killswitch": LazyCommand(
        f"{_PACKAGE}.killswitch:killswitch",
        "The kill switch: ACTIVE trades, REDUCING only sells, HALTED places nothing.",
    ),
    "ledger": LazyCommand(
        f"{_PACKAGE}.ledger:ledger",
        "Print the session's stored fills (--json: symbol, side, qty, price, client_order_id, strategy).",
    ),
    "plan": LazyCommand(
        f"{_PACKAGE}.plan:plan",
        "Print the rebalance plan that moves the SNAPSHOT account to the TARGETS weights.",
    ),
    "run": LazyCommand(
        f"{_PACKAGE}.run:run",
        "Run the daily job for one session (orders only for the broker's current open session).",
    ),
    "sim": LazyCommand(
        f"{_PACKAGE}.sim:sim", "The local Alpaca-compatible simulator (state in SQLite, simulated clock)."
    ),
    "status": LazyCommand(
        f"{_PACKAGE}.status:status",
        "Last runs per session, kill switch, next scheduled run and the settings in effect.",
    ),
    "storage": LazyCommand(f"{_PACKAGE}.storage:storage", "Stored asset values: retention."),
    "strategy": LazyCommand(
        f"{_PACKAGE}.strategy:strategy", "Evaluate symphonies and allocation configs against daily bars."
    ),
    "ui": LazyCommand(
        f"{_PACKAGE}.ui:ui",
        "Serve the Dagster UI and run the daemon (schedules, sensors, queued runs) until stopped.",
    ),
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
def cli() -> None:
    """alchemiser: daily multi-strategy portfolio rebalancer (Composer symphonies on Dagster)."""


def main() -> None:
    """Entry point: run the click group and map our errors onto the documented exit codes."""
    try:
        code = cli.main(standalone_mode=False)
    except StrategyError as error:
        click.echo(error.render(), err=True)
        sys.exit(2)
    except AlchemiserError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(1)
    except OSError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)

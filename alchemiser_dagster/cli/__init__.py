"""The `alchemiser` command.

Exit codes follow the strategy spec (§8): 0 ok; 1 usage, I/O, bad bars or bad config;
2 any strategy-language error (parse, validation, data), whose first stderr line is
`FILE:LINE:COL: ErrorClass: message`. Output is built completely before anything is
printed, so a failure leaves stdout empty.
"""

import datetime as dt
import json
import sys
from pathlib import Path

import click

from alchemiser_dagster.cli.accounts import accounts
from alchemiser_dagster.cli.backtest import backtest
from alchemiser_dagster.cli.compare import compare
from alchemiser_dagster.cli.convert import convert
from alchemiser_dagster.cli.data import data
from alchemiser_dagster.cli.init import init
from alchemiser_dagster.cli.killswitch import killswitch
from alchemiser_dagster.cli.ledger import ledger
from alchemiser_dagster.cli.plan import plan
from alchemiser_dagster.cli.run import demo, run
from alchemiser_dagster.cli.sim import sim
from alchemiser_dagster.cli.status import status
from alchemiser_dagster.cli.storage import storage
from alchemiser_dagster.cli.ui import ui
from alchemiser_dagster.domain.errors import AlchemiserError, StrategyError
from alchemiser_dagster.domain.marketdata.bars import read_bars
from alchemiser_dagster.domain.strategy.allocation import evaluate_allocation
from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.config import load_allocation_config
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory
from alchemiser_dagster.domain.strategy.render import rounded_weights, trace_text, weights_table
from alchemiser_dagster.project import project_path

DEFAULT_CONFIG = ("strategies", "allocations.prod.json")  # in the project folder


DATE = click.DateTime(formats=["%Y-%m-%d"])


def _to_date(ctx: click.Context, param: click.Parameter, value: dt.datetime | None) -> dt.date | None:
    """click parses YYYY-MM-DD into a datetime; the engine speaks in session dates."""
    return value.date() if value is not None else None


@click.group()
def cli() -> None:
    """alchemiser: daily multi-strategy portfolio rebalancer (Composer symphonies on Dagster)."""


@cli.group()
def strategy() -> None:
    """Evaluate symphonies and allocation configs against daily bars."""


def _load_history(bars_path: Path) -> MarketHistory:
    return MarketHistory.from_bars(read_bars(bars_path), source=str(bars_path))


def _sessions_between(history: MarketHistory, start: dt.date | None, end: dt.date | None) -> list[dt.date]:
    if start is None and end is None:
        return history.sessions[-1:]
    return [s for s in history.sessions if (start is None or s >= start) and (end is None or s <= end)]


@strategy.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--bars", "bars_path", required=True, type=click.Path(path_type=Path), help="Daily bars (parquet)."
)
@click.option(
    "--start",
    type=DATE,
    callback=_to_date,
    help="First session to evaluate (default: the last session only).",
)
@click.option("--end", type=DATE, callback=_to_date, help="Last session to evaluate.")
@click.option(
    "--format", "output_format", type=click.Choice(["json", "table"]), default="json", show_default=True
)
@click.option(
    "--trace",
    "trace_date",
    type=DATE,
    callback=_to_date,
    help="Print this session's decision trace (to stderr with --format json); alone, its weights"
    " too (with --start/--end, the range's, and in a table D's block again next to its trace).",
)
@click.option(
    "--trace-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one JSON line per session: date, weights, trace.",
)
def eval_command(
    file: Path,
    bars_path: Path,
    start: dt.date | None,
    end: dt.date | None,
    output_format: str,
    trace_date: dt.date | None,
    trace_out: Path | None,
) -> None:
    """Print the target weights of FILE for every session of the bars in [--start, --end].

    FILE is symphony text (.clj) or a Composer score JSON export (.json).
    """
    symphony = load_symphony(file)
    history = _load_history(bars_path)
    # --trace D alone evaluates D: the weights printed are the ones its trace explains.
    sessions = (
        [trace_date]
        if trace_date is not None and start is None and end is None
        else _sessions_between(history, start, end)
    )
    if not sessions:
        raise click.UsageError(f"no session of {bars_path} lies in the requested range")
    if trace_date is not None and trace_date not in history.session_index:
        raise click.UsageError(f"--trace {trace_date} is not a session of {bars_path}")
    evaluator = SymphonyEvaluator(symphony, history)
    if trace_out is not None:
        results = [evaluator.evaluate(session, trace=True) for session in sessions]
        by_session = {r.session: r.weights for r in results}
        lines = [
            json.dumps(
                {
                    "date": r.session.isoformat(),
                    "options": r.options,
                    "weights": rounded_weights(r.weights),
                    "trace": [e.model_dump(mode="json") for e in r.trace],
                }
            )
            for r in results
        ]
    else:
        by_session = evaluator.evaluate_range(sessions)
        lines = []
    traced = evaluator.evaluate(trace_date, trace=True) if trace_date else None
    trace_report = trace_text(traced) if traced else None

    if trace_out is not None:
        trace_out.parent.mkdir(parents=True, exist_ok=True)
        trace_out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if output_format == "json":
        payload = {s.isoformat(): rounded_weights(by_session[s]) for s in sorted(by_session)}
        click.echo(json.dumps(payload, indent=None))
        if trace_report:
            click.echo(trace_report, err=True)
    else:
        click.echo(weights_table(by_session))
        if traced and trace_report:
            click.echo("")
            if list(by_session) != [traced.session]:  # D's own block, next to its trace
                click.echo(weights_table({traced.session: traced.weights}))
            click.echo(trace_report)


@strategy.command("allocate")
@click.argument(
    "config_path",
    metavar="CONFIG",
    type=click.Path(path_type=Path),
    default=lambda: project_path(*DEFAULT_CONFIG),
)
@click.option(
    "--bars", "bars_path", type=click.Path(path_type=Path), required=True, help="Daily bars (parquet)."
)
@click.option(
    "--date",
    "session",
    type=DATE,
    callback=_to_date,
    help="Session to evaluate (default: the last session of the bars).",
)
@click.option(
    "--trace/--no-trace", default=True, show_default=True, help="Print each strategy's decision trace."
)
def allocate_command(config_path: Path, bars_path: Path, session: dt.date | None, trace: bool) -> None:
    """Evaluate every strategy of an allocation CONFIG and print the blended target weights."""
    config = load_allocation_config(config_path)
    history = _load_history(bars_path)
    if not history.sessions:
        raise click.UsageError(f"{bars_path} holds no bars")
    day = session or history.sessions[-1]
    if day not in history.session_index:
        raise click.UsageError(f"--date {day} is not a session of {bars_path}")
    result = evaluate_allocation(config, history, day, trace=trace)
    blocks = []
    if trace:
        blocks += [trace_text(result.strategies[name]) + "\n" for name in config.files]
    blocks.append("Strategy shares: " + ", ".join(f"{n} {s:.2%}" for n, s in result.shares.items()))
    blocks.append(f"Target allocation for {day} ({config_path}):")
    blocks.append(weights_table({day: result.target}))
    click.echo("\n".join(blocks))


strategy.add_command(convert)
cli.add_command(data)
cli.add_command(backtest)
cli.add_command(compare)
cli.add_command(accounts)
cli.add_command(run)
cli.add_command(demo)
cli.add_command(sim)
cli.add_command(plan)
cli.add_command(killswitch)
cli.add_command(status)
cli.add_command(ui)
cli.add_command(ledger)
cli.add_command(storage)
cli.add_command(init)


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


if __name__ == "__main__":
    main()

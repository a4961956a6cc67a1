"""`alchemiser strategy`: evaluate symphonies and allocation configs against daily bars.

`strategy eval` reads the bars once for every file it is given. With one FILE that is a
file, it prints `{"DATE": weights}` and a strategy error in it exits 2 with stdout empty.
With several FILEs or a folder (its `*.clj` and `*.json` files, not its subfolders) it
prints `{"FILE": {"DATE": weights}}`, one entry per file that evaluated; each file that
did not is named on stderr by its error's `FILE:LINE:COL` line, after all the others were
evaluated, and the call then exits 2. One bad file does not cost the others' results, and
the exit status still says that something failed.
"""

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import click

from alchemiser_dagster.cli.convert import convert
from alchemiser_dagster.cli.types import DATE
from alchemiser_dagster.domain.errors import StrategyError
from alchemiser_dagster.domain.marketdata.bars import close_matrix, read_bars
from alchemiser_dagster.domain.marketdata.symbol_bars import read_symbol_bars
from alchemiser_dagster.domain.strategy.allocation import evaluate_allocation
from alchemiser_dagster.domain.strategy.ast import Symphony
from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.config import load_allocation_config
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator, Weights
from alchemiser_dagster.domain.strategy.history import MarketHistory
from alchemiser_dagster.domain.strategy.render import rounded_weights, trace_text, weights_table
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation
from alchemiser_dagster.project import project_path

DEFAULT_CONFIG = ("strategies", "allocations.prod.json")  # in the project folder
#: The files of a folder that `strategy eval` reads: symphony text and Composer score JSON.
SYMPHONY_SUFFIXES = (".clj", ".json")
#: Exit status of a call in which a strategy failed (spec §8).
EXIT_STRATEGY_ERROR = 2


def _to_date(ctx: click.Context, param: click.Parameter, value: dt.datetime | None) -> dt.date | None:
    """click parses YYYY-MM-DD into a datetime; the engine speaks in session dates."""
    return value.date() if value is not None else None


@click.group()
def strategy() -> None:
    """Evaluate symphonies and allocation configs against daily bars."""


strategy.add_command(convert)


def _load_history(bars_path: Path) -> MarketHistory:
    return MarketHistory.from_bars(read_bars(bars_path), source=str(bars_path))


def _load_history_for(bars_path: Path, symbols: frozenset[str]) -> MarketHistory:
    """The closes of just the symbols the symphonies read, on every session of the file.

    Evaluation reads no other column, and a symbol the file lacks still has no column, so
    the weights and errors are those of a full read; only the reading is cheaper.
    """
    found = read_symbol_bars(bars_path, symbols)
    return MarketHistory(*close_matrix(found.bars, sessions=found.sessions))


def _sessions_between(history: MarketHistory, start: dt.date | None, end: dt.date | None) -> list[dt.date]:
    if start is None and end is None:
        return history.sessions[-1:]
    return [s for s in history.sessions if (start is None or s >= start) and (end is None or s <= end)]


def symphony_files(paths: tuple[Path, ...]) -> list[Path]:
    """The files named, each folder replaced by its symphony files (sorted); each file once."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.suffix in SYMPHONY_SUFFIXES and p.is_file())
            if not inside:
                raise click.UsageError(f"{path} holds no .clj or .json symphony file")
            found += inside
        else:
            found.append(path)
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class FileEvaluation:
    """One symphony's weights per session, and what --trace / --trace-out asked for."""

    weights: dict[dt.date, Weights]
    trace_lines: list[dict[str, object]]
    traced: StrategyEvaluation | None


def evaluate_file(
    symphony: Symphony,
    history: MarketHistory,
    sessions: list[dt.date],
    trace_date: dt.date | None,
    *,
    trace_every_session: bool,
) -> FileEvaluation:
    """Evaluate one symphony over the sessions; traces only when asked (they cost time)."""
    evaluator = SymphonyEvaluator(symphony, history)
    lines: list[dict[str, object]] = []
    if trace_every_session:
        results = [evaluator.evaluate(session, trace=True) for session in sessions]
        weights = {r.session: r.weights for r in results}
        lines = [
            {
                "date": r.session.isoformat(),
                "options": r.options,
                "weights": rounded_weights(r.weights),
                "trace": [e.model_dump(mode="json") for e in r.trace],
            }
            for r in results
        ]
    else:
        weights = evaluator.evaluate_range(sessions)
    traced = evaluator.evaluate(trace_date, trace=True) if trace_date else None
    return FileEvaluation(weights, lines, traced)


def _json_weights(weights: dict[dt.date, Weights]) -> dict[str, dict[str, float]]:
    return {s.isoformat(): rounded_weights(weights[s]) for s in sorted(weights)}


def _table_block(evaluation: FileEvaluation) -> str:
    """The weights table, then (with --trace) D's own block and its trace."""
    blocks = [weights_table(evaluation.weights)]
    traced = evaluation.traced
    if traced is not None:
        blocks.append("")
        if list(evaluation.weights) != [traced.session]:  # D's own block, next to its trace
            blocks.append(weights_table({traced.session: traced.weights}))
        blocks.append(trace_text(traced))
    return "\n".join(blocks)


@strategy.command("eval")
@click.argument(
    "files", metavar="FILE...", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)
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
    help="Write one JSON line per session (and file): date, weights, trace.",
)
@click.pass_context
def eval_command(
    ctx: click.Context,
    files: tuple[Path, ...],
    bars_path: Path,
    start: dt.date | None,
    end: dt.date | None,
    output_format: str,
    trace_date: dt.date | None,
    trace_out: Path | None,
) -> None:
    """Print the target weights of each FILE for every session of the bars in [--start, --end].

    FILE is symphony text (.clj), a Composer score JSON export (.json), or a folder of them.
    Several FILEs (or a folder) are evaluated on one reading of the bars, and the output is
    keyed by file; a file that fails is named on stderr and the call exits 2 after the others.
    """
    batch = len(files) > 1 or any(path.is_dir() for path in files)
    paths = symphony_files(files)
    symphonies: dict[Path, Symphony] = {}
    failures: dict[Path, StrategyError] = {}
    for path in paths:
        try:
            symphonies[path] = load_symphony(path)
        except StrategyError as error:
            if not batch:
                raise
            failures[path] = error
    history = _load_history_for(bars_path, frozenset().union(*(s.symbols for s in symphonies.values())))
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
    evaluations: dict[Path, FileEvaluation] = {}
    for path, symphony in symphonies.items():
        try:
            evaluations[path] = evaluate_file(
                symphony, history, sessions, trace_date, trace_every_session=trace_out is not None
            )
        except StrategyError as error:
            if not batch:
                raise
            failures[path] = error

    if trace_out is not None:
        lines = [
            {"file": str(path), **line} if batch else line
            for path, evaluation in evaluations.items()
            for line in evaluation.trace_lines
        ]
        trace_out.parent.mkdir(parents=True, exist_ok=True)
        trace_out.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    traces = [trace_text(e.traced) for e in evaluations.values() if e.traced is not None]
    if output_format == "json":
        by_file = {str(path): _json_weights(e.weights) for path, e in evaluations.items()}
        click.echo(json.dumps(by_file if batch else next(iter(by_file.values()))))
        if traces:
            click.echo("\n\n".join(traces), err=True)
    elif batch:
        click.echo("\n\n".join(f"== {path} ==\n{_table_block(e)}" for path, e in evaluations.items()))
    else:
        click.echo(_table_block(next(iter(evaluations.values()))))
    if failures:
        click.echo("\n".join(failures[path].render() for path in paths if path in failures), err=True)
        ctx.exit(EXIT_STRATEGY_ERROR)


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

"""`alchemiser run` and `alchemiser demo`: the daily job for one session, from the terminal.

The run is a real Dagster run in the instance under DAGSTER_HOME (the project's
`.dagster_home` unless set), so it shows up in the UI next to scheduled runs.

Exit status: 0 when the run succeeded and its execution is SUCCESS, PLAN_ONLY or HALTED;
1 when the run failed or its execution is FAILED or PARTIAL. Either way the last stderr
line says why in one line; tracebacks stay in the run's log (the UI), not on the terminal.
"""

import datetime as dt
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from alchemiser_dagster.cli.types import DATE
from alchemiser_dagster.domain.calendar import is_session, latest_session_on_or_before
from alchemiser_dagster.domain.constants import NEW_YORK
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.execution.outcome import orders_line
from alchemiser_dagster.domain.portfolio.models import RebalancePlan, TargetAllocation
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation
from alchemiser_dagster.pipeline.failures import failure_reasons
from alchemiser_dagster.project import HOME_VARIABLE, dagster_home, project_root
from alchemiser_dagster.settings import load_settings

# The terminal shows the summary; every event (stack traces included) stays in the run's
# log in the UI. Dagster's console logger would print each failure's traceback twice.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# Said on the terminal as it happens: a run waiting for another run's execution lock.
LIVE_LOGGERS = ("alchemiser.lock",)
FAILED_EXECUTIONS = ("FAILED", "PARTIAL")


def _summary(
    target: TargetAllocation, plan: RebalancePlan, execution: ExecutionResult, after: Reconciliation
) -> str:
    lines = [f"Session {target.session}: {execution.status} ({execution.reason})", "", "Target weights:"]
    lines += [f"  {s:<8} {float(w) * 100:7.3f} %" for s, w in target.weights.items()]
    lines += ["", f"Plan {plan.plan_id[:8]}: {len(plan.items)} items, turnover {plan.turnover:,.2f}"]
    lines += [f"  {i.side:<4} {i.symbol:<8} {i.qty:>14} ({i.reason})" for i in plan.items]
    if execution.plan_id != plan.plan_id:
        lines.append(
            f"  (not executed: this session is executing plan {execution.plan_id[:8]},"
            " started by an earlier run; see below)"
        )
    lines += ["", f"Orders: {orders_line(execution)}"]
    lines += [
        f"  {o.side:<4} {o.symbol:<8} filled {o.filled_qty} of {o.requested_qty}"
        f" at {o.filled_avg_price if o.filled_avg_price is not None else '-'} [{o.status}]"
        for o in execution.outcomes
    ]
    lines += ["", f"Account after: equity {after.equity:,.2f}, cash {after.cash:,.2f} ({after.note})"]
    lines += [
        f"  {r.symbol:<8} {float(r.actual_weight) * 100:7.3f} % (target {float(r.target_weight) * 100:.3f} %)"
        for r in after.rows
    ]
    lines += [f"  WARN {w}" for w in after.warnings] + [f"  ERROR {e}" for e in after.errors]
    return "\n".join(lines)


def one_line(text: str) -> str:
    return " ".join(text.split())


def _live_messages() -> None:
    """Print the few messages a person waiting at the terminal needs while the run goes on."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in LIVE_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)


def run_daily(session: dt.date | None, config: Path | None, as_json: bool) -> None:
    """Materialize every asset of the daily job for one session and print what happened."""
    if config is not None:
        os.environ["ALCHEMISER_CONFIG"] = str(config.resolve())
    home = dagster_home()

    import dagster as dg

    _live_messages()

    from alchemiser_dagster.pipeline.io_manager import ModelIOManager
    from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
    from alchemiser_dagster.pipeline.launch import code_location, execute_partition_run, stored_model

    day = session or latest_session_on_or_before(dt.datetime.now(NEW_YORK).date())
    if not is_session(day):
        raise click.UsageError(f"{day} is not an NYSE session; partitions exist for sessions only")
    partition = day.isoformat()
    storage = ModelIOManager(base=load_settings().storage)
    with dg.DagsterInstance.get() as instance:
        # Launched like a UI run (the origin of the project's workspace location, the same
        # tags): the UI lists it among the job's runs.
        location = code_location(project_root())
        result = execute_partition_run(location, instance, DAILY_JOB_NAME, partition, QUIET)
        if not result.success:
            reasons = failure_reasons(result.all_events)
            for where, message in reasons[1:]:
                click.echo(f"  {where}: {one_line(message)}", err=True)
            first = f"{reasons[0][0]}: {one_line(reasons[0][1])}" if reasons else "see the run's log"
            click.echo(f"Run {result.run_id} for {day} failed: {first}", err=True)
            sys.exit(1)

        def value(asset: str) -> Any:
            return stored_model(storage, asset, partition, result.run_id)

        execution: ExecutionResult = value("execution_result")
        if as_json:
            click.echo(execution.model_dump_json(indent=2))
            _exit_on_failed_execution(execution)
            return
        click.echo(
            _summary(
                value("target_allocation"),
                value("rebalance_plan"),
                execution,
                value("reconciliation"),
            )
        )
        pages = [
            e.materialization.metadata["html"].value
            for e in result.get_asset_materialization_events()
            if e.materialization.asset_key.path[-1] == "daily_report" and "html" in e.materialization.metadata
        ]
        if pages:
            click.echo(f"\nDaily report: {pages[0]}")
        click.echo(f"\nDagster run {result.run_id} (DAGSTER_HOME={home})")
        _exit_on_failed_execution(execution)


def _exit_on_failed_execution(execution: ExecutionResult) -> None:
    """FAILED or PARTIAL: the run worked but the trades did not; a script must see that."""
    if execution.status in FAILED_EXECUTIONS:
        click.echo(
            f"execution {execution.status} for {execution.session}: {one_line(execution.reason)}", err=True
        )
        sys.exit(1)


@click.command()
@click.option(
    "--date",
    "session",
    type=DATE,
    help="Session (default: today's or the latest).",
)
@click.option(
    "--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Allocation config."
)
@click.option("--json", "as_json", is_flag=True, help="Print the execution result as JSON.")
def run(session: dt.datetime | None, config: Path | None, as_json: bool) -> None:
    """Run the daily job for one session (orders only for the broker's current open session)."""
    run_daily(session.date() if session else None, config, as_json)


@click.command()
def demo() -> None:
    """The embedded default end to end: stand-in broker, generated data, one daily run."""
    config = load_settings().config
    if not config.exists():  # most likely a fresh install run outside any project
        raise click.UsageError(
            f"{config} does not exist: is {project_root()} a project? `alchemiser init` creates one"
            f" (the project folder is {HOME_VARIABLE} when set, else the current folder)"
        )
    run_daily(None, None, as_json=False)
    click.echo(
        "\nOpen the Dagster UI with `alchemiser ui` (http://127.0.0.1:3000) to see every asset, check"
        " and run."
    )

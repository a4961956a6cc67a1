"""`alchemiser status`: the operator's glance at the instance under DAGSTER_HOME.

What the daily job did lately (the latest run of each recent partition, with the failed
step and its root cause), the kill switch in force, when the daily schedule will next
request a partition and whether it is running in this instance, and the settings in
effect. Read-only: nothing is started, flipped or written (beyond DAGSTER_HOME's own
setup, as `alchemiser run` does).

Errors follow the CLI's rule: a bad setting or an unreadable kill-switch file is an
`AlchemiserError` and exits 1 with `error: ...`; output is built before anything is printed.
"""

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import click

from alchemiser_dagster.control.killswitch_store import KillSwitchStore
from alchemiser_dagster.domain.constants import NEW_YORK
from alchemiser_dagster.domain.execution.outcome import ITEMS_TAG, NOTIONAL_TAG, ORDERS_TAG, OUTCOME_TAG
from alchemiser_dagster.domain.risk.killswitch import KillSwitchLog
from alchemiser_dagster.pipeline.tags import PARTITION_TAG
from alchemiser_dagster.project import dagster_home
from alchemiser_dagster.settings import Settings, load_settings, settings_file

if TYPE_CHECKING:
    import dagster as dg

SCHEDULE_NAME = "daily_rebalance_schedule"
SCHEDULER_DAEMON = "SCHEDULER"
START_HINT = f"start it in the UI: Automation -> {SCHEDULE_NAME}"
DEFAULT_SESSIONS = 10
# Cron ticks looked at before giving up (two a weekday: about five weeks, far longer than
# any NYSE closure).
MAX_TICKS = 50


# --- the next scheduled run (pure) ----------------------------------------------------------


def next_scheduled_run(after: dt.datetime) -> dt.datetime | None:
    """When the daily schedule next requests a partition, strictly after `after` (tz-aware).

    Walks the schedule's own cron ticks (`CRON` in New York time) and asks the schedule's own
    `decide_tick` about each, so this is the tick that requests a run: 15 minutes before the
    close of the next NYSE session (12:45 on half days). The result is in New York time and
    its date is the partition it requests. None when the NYSE calendar does not reach it.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError(f"next_scheduled_run needs a timezone-aware datetime, got {after.isoformat()}")
    import dagster as dg
    from dagster._utils.schedules import cron_string_iterator

    from alchemiser_dagster.pipeline.partitions import TIMEZONE
    from alchemiser_dagster.pipeline.schedules import CRON, decide_tick

    ticks = cron_string_iterator(after.timestamp(), CRON, TIMEZONE)
    for _, tick in zip(range(MAX_TICKS), ticks, strict=False):
        if tick <= after:
            continue
        try:
            decision = decide_tick(tick.astimezone(NEW_YORK))
        except ValueError:  # past the end of the NYSE calendar: unknowable, never guessed
            return None
        if isinstance(decision, dg.RunRequest):
            return tick.astimezone(NEW_YORK)
    return None


# --- the facts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionRuns:
    """The latest run of one partition (session) and how many runs the partition had."""

    session: str
    run_id: str
    status: str
    start: dt.datetime | None
    end: dt.datetime | None
    runs: int
    failures: tuple[tuple[str, str], ...] = ()
    # From the run's tags (set by execution_result; FAILED by the run-failure sensor, or
    # for any failed run): None when the run never tagged them (not run yet, older runs).
    outcome: str | None = None
    items: int | None = None
    broker_orders: int | None = None
    traded_notional: Decimal | None = None

    def duration(self, now: dt.datetime) -> float | None:
        """Seconds from start to end (to `now` while the run has not ended)."""
        if self.start is None:
            return None
        return ((self.end or now) - self.start).total_seconds()


@dataclass(frozen=True)
class ScheduleState:
    running: bool
    status: str  # RUNNING / STOPPED, as the instance (or the code default) says
    next_run: dt.datetime | None
    daemon_heartbeat: dt.datetime | None


@dataclass(frozen=True)
class Status:
    dagster_home: str
    settings: Settings
    settings_source: str | None
    kill_switch_file: str
    kill_switch: KillSwitchLog
    schedule: ScheduleState
    partitions_with_runs: int
    runs: tuple[PartitionRuns, ...]
    now: dt.datetime
    job: str


def _timestamp(value: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.UTC) if value is not None else None


def _failures(instance: "dg.DagsterInstance", run_id: str) -> tuple[tuple[str, str], ...]:
    """Where and why a run failed: failed steps (root cause), failed ERROR checks, else the run's error."""
    import dagster as dg

    from alchemiser_dagster.pipeline.failures import failure_reasons, root_cause

    kind = dg.DagsterEventType
    wanted = {kind.STEP_FAILURE, kind.RESOURCE_INIT_FAILURE, kind.RUN_FAILURE, kind.ASSET_CHECK_EVALUATION}
    entries = instance.all_logs(run_id, of_type=wanted)
    events = [e.dagster_event for e in entries if e.dagster_event is not None]
    reasons = failure_reasons(events)
    for event in events:
        if event.event_type != kind.ASSET_CHECK_EVALUATION:
            continue
        check = event.asset_check_evaluation_data
        if not check.passed and check.severity == dg.AssetCheckSeverity.ERROR:
            where = f"check {check.asset_key.to_user_string()}:{check.check_name}"
            reasons.append((where, check.description or "failed"))
    if not reasons:  # no step failed: the run itself did (a crash, a canceled or lost worker)
        for event in events:
            if event.event_type == kind.RUN_FAILURE:
                cause = root_cause(getattr(event.event_specific_data, "error", None))
                reasons.append(("run", cause.message.strip() if cause else event.message or "failed"))
    return tuple(reasons)


def _latest_runs(instance: "dg.DagsterInstance", job: str, sessions: int) -> tuple[int, list[PartitionRuns]]:
    """How many partitions have runs, and the latest run of the `sessions` most recent ones."""
    import dagster as dg

    by_partition: dict[str, list[dg.RunRecord]] = {}
    for record in instance.get_run_records(filters=dg.RunsFilter(job_name=job)):  # newest first
        key = record.dagster_run.tags.get(PARTITION_TAG)
        if key:
            by_partition.setdefault(key, []).append(record)
    rows = []
    for key in sorted(by_partition, reverse=True)[:sessions]:
        records = by_partition[key]
        latest = max(records, key=lambda r: (r.create_timestamp, r.storage_id))
        run = latest.dagster_run
        status = run.status.value
        rows.append(
            PartitionRuns(
                session=key,
                run_id=run.run_id,
                status=status,
                start=_timestamp(latest.start_time),
                end=_timestamp(latest.end_time),
                runs=len(records),
                failures=_failures(instance, run.run_id) if status == "FAILURE" else (),
                # A failed run the sensor has not seen (no daemon, e.g. `alchemiser run`) failed all the same.
                outcome=run.tags.get(OUTCOME_TAG, "FAILED" if status == "FAILURE" else None),
                items=int(run.tags[ITEMS_TAG]) if ITEMS_TAG in run.tags else None,
                broker_orders=int(run.tags[ORDERS_TAG]) if ORDERS_TAG in run.tags else None,
                traded_notional=Decimal(run.tags[NOTIONAL_TAG]) if NOTIONAL_TAG in run.tags else None,
            )
        )
    return len(by_partition), rows


def _schedule_state(instance: "dg.DagsterInstance", now: dt.datetime) -> ScheduleState:
    """RUNNING when the instance says so (started in the UI or CLI), else the code's default."""
    from alchemiser_dagster.pipeline.jobs import daily_rebalance_job
    from alchemiser_dagster.pipeline.schedules import build_daily_schedule

    states = [
        s
        for s in instance.all_instigator_state()
        if s.instigator_name == SCHEDULE_NAME and s.instigator_type.value == "SCHEDULE"
    ]
    explicit = {s.status.value for s in states} - {"DECLARED_IN_CODE", "AUTOMATICALLY_RUNNING"}
    if "RUNNING" in explicit:
        status = "RUNNING"
    elif explicit:
        status = "STOPPED"
    else:  # never started or stopped here: the schedule's default_status in code decides
        status = build_daily_schedule(daily_rebalance_job).default_status.value
    heartbeat = instance.get_daemon_heartbeats().get(SCHEDULER_DAEMON)
    return ScheduleState(
        running=status == "RUNNING",
        status=status,
        next_run=next_scheduled_run(now),
        daemon_heartbeat=_timestamp(heartbeat.timestamp) if heartbeat is not None else None,
    )


def collect_status(sessions: int, now: dt.datetime | None = None) -> Status:
    """Every fact of the report; raises our errors (bad settings, unreadable kill switch)."""
    settings = load_settings()
    store = KillSwitchStore(settings.storage)
    log = store.read()
    source = settings_file()
    home = dagster_home()

    import dagster as dg

    from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME

    now = now or dt.datetime.now(dt.UTC)
    with dg.DagsterInstance.get() as instance:
        partitions, rows = _latest_runs(instance, DAILY_JOB_NAME, sessions)
        schedule = _schedule_state(instance, now)
    return Status(
        dagster_home=str(home),
        settings=settings,
        settings_source=str(source) if source is not None else None,
        kill_switch_file=store.location,
        kill_switch=log,
        schedule=schedule,
        partitions_with_runs=partitions,
        runs=tuple(rows),
        now=now,
        job=DAILY_JOB_NAME,
    )


# --- rendering ------------------------------------------------------------------------------


def public_location(location: str) -> str:
    """A path or URL with any user:password part masked (a storage URL may carry one)."""
    parts = urlsplit(location)
    if "@" not in parts.netloc:
        return location
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _number(value: int | None) -> str:
    return str(value) if value is not None else "-"


def _local(value: dt.datetime) -> str:
    return f"{value.astimezone(NEW_YORK):%Y-%m-%d %H:%M:%S %Z}"


def _settings_facts(status: Status) -> dict[str, Any]:
    s = status.settings
    return {
        "mode": s.mode,
        "config": str(s.config),
        "storage": public_location(s.storage),
        "settings_file": status.settings_source,
    }


def as_json(status: Status) -> dict[str, Any]:
    """The same facts as the text report, as one JSON-ready object."""
    log = status.kill_switch
    last = log.flips[-1] if log.flips else None
    schedule = status.schedule
    next_run = schedule.next_run
    return {
        "dagster_home": status.dagster_home,
        "now": _iso(status.now),
        "settings": _settings_facts(status),
        "kill_switch": {
            "state": log.current,
            "file": public_location(status.kill_switch_file),
            "flips": len(log.flips),
            "last_flip": (
                {"state": last.state, "at": _iso(last.at), "who": last.who, "why": last.why} if last else None
            ),
        },
        "schedule": {
            "name": SCHEDULE_NAME,
            "status": schedule.status,
            "running": schedule.running,
            "next_run": (
                {
                    "session": next_run.date().isoformat(),
                    "new_york": _iso(next_run),
                    "utc": _iso(next_run.astimezone(dt.UTC)),
                }
                if next_run is not None
                else None
            ),
            "scheduler_daemon_heartbeat": _iso(schedule.daemon_heartbeat),
        },
        "job": status.job,
        "partitions_with_runs": status.partitions_with_runs,
        "runs": [
            {
                "session": row.session,
                "run_id": row.run_id,
                "status": row.status,
                "start": _iso(row.start),
                "end": _iso(row.end),
                "duration_seconds": (
                    round(d, 3) if (d := row.duration(status.now)) is not None and row.end else None
                ),
                "runs": row.runs,
                "outcome": row.outcome,
                "items": row.items,
                "broker_orders": row.broker_orders,
                "traded_notional_usd": str(row.traded_notional) if row.traded_notional is not None else None,
                "failures": [{"step": where, "reason": why} for where, why in row.failures],
            }
            for row in status.runs
        ],
    }


def _kill_switch_lines(status: Status) -> Iterator[str]:
    log = status.kill_switch
    yield f"Kill switch: {log.current}"
    yield f"  file: {public_location(status.kill_switch_file)}"
    if log.flips:
        last = log.flips[-1]
        yield (
            f"  last flip ({len(log.flips)} in all): {last.state} at {_iso(last.at)}"
            f" by {last.who}: {last.why}"
        )
    else:
        yield "  never flipped (ACTIVE by default)"


def _schedule_lines(status: Status) -> Iterator[str]:
    schedule = status.schedule
    state = "running" if schedule.running else f"stopped ({START_HINT})"
    yield f"Schedule {SCHEDULE_NAME}: {state}"
    if schedule.next_run is None:
        yield "  next run: unknown (beyond the NYSE calendar)"
    else:
        run_at = schedule.next_run
        yield (
            f"  next run{'' if schedule.running else ' (once started)'}:"
            f" {run_at:%Y-%m-%d %H:%M %Z} New York = {run_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC,"
            f" for session {run_at.date()} (in {_seconds((run_at - status.now).total_seconds())})"
        )
    if schedule.daemon_heartbeat is None:
        yield "  scheduler daemon: never seen by this instance (`make ui` runs one with the UI)"
    else:
        age = (status.now - schedule.daemon_heartbeat).total_seconds()
        yield f"  scheduler daemon: last heartbeat {_iso(schedule.daemon_heartbeat)} ({_seconds(age)} ago)"


def _run_lines(status: Status) -> Iterator[str]:
    if not status.runs:
        yield f"Runs of {status.job}: no runs yet"
        return
    yield (
        f"Runs of {status.job}: latest run of the {len(status.runs)} most recent of"
        f" {status.partitions_with_runs} sessions with runs"
    )
    yield (
        f"  {'session':<10}  {'run':<8}  {'status':<11}  {'started (New York)':<23}  {'duration':>12}  runs"
        f"  {'outcome':<10}  {'items':>5}  {'orders':>6}  {'traded $':>14}"
    )
    for row in status.runs:
        duration = _seconds(row.duration(status.now))
        if row.start is not None and row.end is None:
            duration += " so far"
        started = _local(row.start) if row.start is not None else "-"
        yield (
            f"  {row.session:<10}  {row.run_id[:8]:<8}  {row.status:<11}  {started:<23}"
            f"  {duration:>12}  {row.runs:>4}  {row.outcome or '-':<10}  {_number(row.items):>5}"
            f"  {_number(row.broker_orders):>6}"
            f"  {f'{row.traded_notional:,.2f}' if row.traded_notional is not None else '-':>14}"
        )
        for where, why in row.failures:
            yield f"      {where}: {' '.join(why.split())}"


def as_text(status: Status) -> str:
    """The readable block: settings, kill switch, schedule, runs."""
    facts = _settings_facts(status)
    lines = [
        f"alchemiser status at {_iso(status.now)} (DAGSTER_HOME={status.dagster_home})",
        "",
        "Settings:",
        f"  mode:          {facts['mode']}",
        f"  config:        {facts['config']}",
        f"  storage:       {facts['storage']}",
        f"  settings file: {facts['settings_file'] or 'none (environment and defaults)'}",
        "",
        *_kill_switch_lines(status),
        "",
        *_schedule_lines(status),
        "",
        *_run_lines(status),
    ]
    return "\n".join(lines)


def render(status: Status, json_output: bool) -> str:
    return json.dumps(as_json(status), indent=2) if json_output else as_text(status)


@click.command()
@click.option(
    "--sessions",
    type=click.IntRange(min=1),
    default=DEFAULT_SESSIONS,
    show_default=True,
    help="How many of the most recent sessions with runs to list.",
)
@click.option("--json", "json_output", is_flag=True, help="Print one JSON object with the same facts.")
def status(sessions: int, json_output: bool) -> None:
    """Last runs per session, kill switch, next scheduled run and the settings in effect."""
    output = render(collect_status(sessions), json_output)
    click.echo(output)

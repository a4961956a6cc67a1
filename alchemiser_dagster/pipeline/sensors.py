"""Alert sensors: one message per failed check and per failed step, sent once.

- `check_failure_alert_sensor` keeps a cursor over asset-check evaluations: the time of
  its last tick and the ids of the failed evaluations it has already announced (a day's
  worth), so a tick never announces the same evaluation twice.
- `run_failure_alert_sensor` is Dagster's run-failure sensor (its own cursor over run
  status changes). A step failed only by a blocking check is left to the check alert.
Both go through the notifier, whose alert log makes delivery once per channel even when
a tick fails half-way and is retried.
"""

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import dagster as dg

from alchemiser_dagster.domain.alerts import Alert, Severity, check_alert_id, run_url, step_alert_id
from alchemiser_dagster.domain.execution.outcome import OUTCOME_TAG
from alchemiser_dagster.pipeline.failures import BLOCKING_CHECK_ERROR, StepFailure, step_failures
from alchemiser_dagster.pipeline.resources import NotifierResource
from alchemiser_dagster.pipeline.tags import PARTITION_TAG

WINDOW_SECONDS = 24 * 3600  # how far back a tick looks, and how long announced ids are kept
PAGE = 100


class CheckCursor(NamedTuple):
    """`since`: the previous tick's time; `seen`: failed evaluations announced, id -> time."""

    since: float
    seen: dict[int, float]

    @classmethod
    def parse(cls, raw: str | None, now: float) -> "CheckCursor":
        if not raw:
            return cls(now - WINDOW_SECONDS, {})
        data = json.loads(raw)
        return cls(float(data["since"]), {int(k): float(v) for k, v in data["seen"].items()})

    def dump(self) -> str:
        return json.dumps({"since": self.since, "seen": {str(k): v for k, v in self.seen.items()}})


def _session(run: dg.DagsterRun | None) -> dt.date | None:
    partition = run.tags.get(PARTITION_TAG) if run else None
    return dt.date.fromisoformat(partition) if partition else None


def _failed_evaluations(
    instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey], earliest: float
) -> Iterator[tuple[int, dg.AssetCheckKey, str, str | None, dg.AssetCheckEvaluation, float]]:
    """Failed evaluations of runs planned after `earliest`, newest first per check."""
    storage = instance.event_log_storage
    for key in check_keys:
        cursor = None
        while True:
            records = storage.get_asset_check_execution_history(key, limit=PAGE, cursor=cursor)
            for record in records:
                evaluation = record.event.asset_check_evaluation if record.event else None
                if evaluation is not None and not evaluation.passed and record.event is not None:
                    yield record.id, key, record.run_id, record.partition, evaluation, record.event.timestamp
            if len(records) < PAGE or records[-1].create_timestamp < earliest:
                break
            cursor = records[-1].id


def check_failure_alerts(
    instance: dg.DagsterInstance, check_keys: Iterable[dg.AssetCheckKey], cursor: CheckCursor, ui_url: str
) -> tuple[list[Alert], CheckCursor]:
    """Alerts for failed evaluations not yet announced, and the cursor after them."""
    now = dt.datetime.now(dt.UTC).timestamp()
    earliest = min(cursor.since, now) - WINDOW_SECONDS
    seen = {i: t for i, t in cursor.seen.items() if t >= earliest}
    alerts = []
    runs: dict[str, dg.DagsterRun | None] = {}
    for record_id, key, run_id, partition, evaluation, at in _failed_evaluations(
        instance, check_keys, earliest
    ):
        if record_id in seen or at < earliest:
            continue
        if partition is None and run_id not in runs:
            runs[run_id] = instance.get_run_by_id(run_id)
        asset = key.asset_key.to_user_string()
        severity: Severity = "WARN" if evaluation.severity == dg.AssetCheckSeverity.WARN else "ERROR"
        alerts.append(
            Alert(
                alert_id=check_alert_id(run_id, asset, key.name),
                kind="check",
                severity=severity,
                session=dt.date.fromisoformat(partition) if partition else _session(runs[run_id]),
                asset=asset,
                check=key.name,
                step=None,
                reason=evaluation.description or "the check failed without a description",
                run_id=run_id,
                run_url=run_url(ui_url, run_id),
                occurred_at=dt.datetime.fromtimestamp(at, dt.UTC),
            )
        )
        seen[record_id] = at
    alerts.sort(key=lambda a: a.occurred_at)
    return alerts, CheckCursor(now, seen)


def run_failure_alerts(instance: dg.DagsterInstance, run: dg.DagsterRun, ui_url: str) -> list[Alert]:
    """One alert per failed step (or for the run, when no step failed), blocking checks aside."""
    logs = instance.all_logs(run.run_id)
    events = [e.dagster_event for e in logs if e.dagster_event is not None]
    failures = step_failures(events)
    failure_time = max((e.timestamp for e in logs), default=0.0)
    if not failures:
        run_failure = next((e for e in reversed(events) if e.event_type_value == "PIPELINE_FAILURE"), None)
        message = run_failure.message if run_failure and run_failure.message else "the run failed"
        failures = [StepFailure("", "", message)]
    alerts = []
    for where, error_class, message in failures:
        if error_class == BLOCKING_CHECK_ERROR:
            continue
        step = where or None
        alerts.append(
            Alert(
                alert_id=step_alert_id(run.run_id, step),
                kind="step" if step else "run",
                severity="ERROR",
                session=_session(run),
                asset=None,
                check=None,
                step=step,
                reason=message,
                run_id=run.run_id,
                run_url=run_url(ui_url, run.run_id),
                occurred_at=dt.datetime.fromtimestamp(failure_time, dt.UTC),
            )
        )
    return alerts


def build_alert_sensors() -> list[dg.SensorDefinition]:
    @dg.sensor(
        name="check_failure_alert_sensor",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="One alert per failed asset check (any severity), sent once per channel.",
    )
    def check_failure_alert_sensor(
        context: dg.SensorEvaluationContext, notifier: NotifierResource
    ) -> dg.SkipReason:
        sender = notifier.notifier()
        assert context.repository_def is not None
        check_keys = sorted(context.repository_def.asset_graph.asset_check_keys, key=str)
        now = dt.datetime.now(dt.UTC).timestamp()
        alerts, cursor = check_failure_alerts(
            context.instance, check_keys, CheckCursor.parse(context.cursor, now), sender.settings.ui_url
        )
        for alert in alerts:
            sender.deliver(alert, context.log)
        context.update_cursor(cursor.dump())
        return dg.SkipReason(f"{len(alerts)} alert(s) sent" if alerts else "no new failed checks")

    @dg.run_failure_sensor(
        name="run_failure_alert_sensor",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="One alert per failed step of any run of this code location (the daily job,"
        " backfills and runs launched from the asset graph); blocking-check failures excepted.",
    )
    def run_failure_alert_sensor(context: dg.RunFailureSensorContext, notifier: NotifierResource) -> None:
        run = context.dagster_run
        if OUTCOME_TAG not in run.tags:  # failed before or at execution; a later failure keeps its outcome
            context.instance.add_run_tags(run.run_id, {OUTCOME_TAG: "FAILED"})
        sender = notifier.notifier()
        for alert in run_failure_alerts(context.instance, context.dagster_run, sender.settings.ui_url):
            sender.deliver(alert, context.log)

    return [check_failure_alert_sensor, run_failure_alert_sensor]

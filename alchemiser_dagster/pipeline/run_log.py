"""Structured run logs: one JSON line per log line or milestone of a run, each carrying the
run's correlation id (run id + partition), the step, and step timings.

Installed through the Dagster instance (`python_logs.dagster_handler_config` in
dagster.yaml), so every run of the instance gets it, whoever launched it: the schedule,
the UI, `alchemiser run`. Lines go to `<log_dir>/<partition>/<run id>.jsonl` (the
`log_dir` setting) and, with `stderr: true`, to standard error for container log
collectors. What is kept: every line at INFO and above (ours, and the managed
`alchemiser.*` Python loggers) and the milestones among Dagster's DEBUG events (run
and step start/success/failure with durations, materializations, check results).
"""

import datetime as dt
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from alchemiser_dagster.pipeline.failures import root_cause
from alchemiser_dagster.pipeline.io_manager import correlation_id
from alchemiser_dagster.pipeline.tags import PARTITION_TAG

MILESTONES = frozenset(
    {
        "PIPELINE_START",
        "PIPELINE_SUCCESS",
        "PIPELINE_FAILURE",
        "PIPELINE_CANCELED",
        "STEP_START",
        "STEP_SUCCESS",
        "STEP_FAILURE",
        "STEP_SKIPPED",
        "STEP_UP_FOR_RETRY",
        "ASSET_MATERIALIZATION",
        "ASSET_CHECK_EVALUATION",
        "RESOURCE_INIT_FAILURE",
    }
)


def run_log_entry(record: logging.LogRecord) -> dict[str, Any] | None:
    """The JSON object for one Dagster log record, or None when the record is not kept."""
    meta = getattr(record, "dagster_meta", None)
    if not isinstance(meta, dict) or not meta.get("run_id"):
        return None
    event = meta.get("dagster_event")
    event_type = event.event_type_value if event is not None else None
    if record.levelno < logging.INFO and event_type not in MILESTONES:
        return None
    partition = (meta.get("job_tags") or {}).get(PARTITION_TAG)
    entry: dict[str, Any] = {
        "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "correlation_id": correlation_id(meta["run_id"], partition),
        "run_id": meta["run_id"],
        "partition": partition,
        "job": meta.get("job_name"),
        "step": meta.get("step_key"),
        "event": event_type,
        "logger": record.name if event is None else "dagster",
        "message": meta.get("orig_message", record.getMessage()),
    }
    if event is not None:
        entry.update(_event_fields(event))
    return entry


def _event_fields(event: Any) -> dict[str, Any]:
    data = event.event_specific_data
    fields: dict[str, Any] = {}
    if event.event_type_value == "STEP_SUCCESS":
        fields["duration_ms"] = round(data.duration_ms, 1)
    if event.asset_key is not None:
        fields["asset"] = event.asset_key.to_user_string()
    if event.event_type_value == "ASSET_CHECK_EVALUATION":
        fields.update(check=data.check_name, passed=data.passed, severity=data.severity.value)
    error = getattr(data, "error", None)
    if error is not None:
        cause = root_cause(error)
        fields["error"] = cause.message.strip() if cause else str(error)
    return fields


class RunLogHandler(logging.Handler):
    """Appends each kept record of a run to its JSON-lines file (and stderr when asked)."""

    def __init__(self, log_dir: str | None = None, stderr: bool = False, level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self._log_dir = Path(log_dir) if log_dir else None
        self._stderr = stderr
        self._lock = threading.Lock()

    def _directory(self) -> Path:
        if self._log_dir is None:
            from alchemiser_dagster.settings import load_settings

            self._log_dir = load_settings().log_dir
        return self._log_dir

    def path_for(self, run_id: str, partition: str | None) -> Path:
        return self._directory() / (partition or "no-partition") / f"{run_id}.jsonl"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = run_log_entry(record)
            if entry is None:
                return
            line = json.dumps(entry, default=str)
            path = self.path_for(entry["run_id"], entry["partition"])
            with self._lock:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
                if self._stderr:
                    sys.stderr.write(line + "\n")
        except Exception:  # logging must never break a run; logging reports it on stderr
            self.handleError(record)

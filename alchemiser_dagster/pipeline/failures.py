"""Why a run failed, read from its Dagster events: the failed steps and their root causes.

Shared by `alchemiser run` (printed to the terminal) and the run-failure alert sensor.
"""

from collections.abc import Sequence
from typing import NamedTuple

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

# A failed blocking check fails its step with this error; the check alert already says why.
BLOCKING_CHECK_ERROR = "DagsterAssetCheckFailedError"


class StepFailure(NamedTuple):
    where: str  # the step key, or "resources" when a resource could not start
    error_class: str
    message: str


OUR_ERRORS = "alchemiser_dagster."


def root_cause(error: SerializableErrorInfo | None) -> SerializableErrorInfo | None:
    """What to tell a person: our typed error when the chain has one (it names the file,
    symbol or call; the library error it wraps is in its message), else the innermost."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause
    ours = [e for e in chain if e.message.startswith(OUR_ERRORS)]
    return ours[0] if ours else (chain[-1] if chain else None)


def step_failures(events: Sequence[dg.DagsterEvent]) -> list[StepFailure]:
    """Failed steps, or a resource that could not start, each with its root cause."""
    failures = []
    for event in events:
        error = getattr(event.event_specific_data, "error", None)
        if event.is_step_failure or (error is not None and event.event_type_value == "RESOURCE_INIT_FAILURE"):
            cause = root_cause(error)
            failures.append(
                StepFailure(
                    event.step_key or "resources",
                    cause.cls_name or "" if cause else "",
                    cause.message.strip() if cause else "unknown error",
                )
            )
    return failures


def failure_reasons(events: Sequence[dg.DagsterEvent]) -> list[tuple[str, str]]:
    """Where and why a run failed, as (step, message) pairs."""
    return [(f.where, f.message) for f in step_failures(events)]

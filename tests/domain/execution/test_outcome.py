"""Every execution status has its outcome word; only SUCCESS is renamed."""

from typing import get_args

from alchemiser_dagster.domain.execution.models import ExecutionStatus
from alchemiser_dagster.domain.execution.outcome import Outcome, outcome_of


def test_every_status_maps_to_an_outcome() -> None:
    mapped = {status: outcome_of(status) for status in get_args(ExecutionStatus)}
    assert mapped == {
        "SUCCESS": "TRADED",
        "PARTIAL": "PARTIAL",
        "FAILED": "FAILED",
        "PLAN_ONLY": "PLAN_ONLY",
        "HALTED": "HALTED",
    }
    assert set(mapped.values()) == set(get_args(Outcome))

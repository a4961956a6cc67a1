"""A run's outcome at a glance: one word per execution status, for run tags and `status`.

SUCCESS reads as TRADED so a trading day and a plan-only day no longer look alike
(Dagster calls both runs a success).
"""

from typing import Final, Literal

from alchemiser_dagster.domain.execution.models import ExecutionStatus

Outcome = Literal["TRADED", "PLAN_ONLY", "HALTED", "PARTIAL", "FAILED"]

OUTCOME_TAG: Final = "alchemiser/outcome"
ORDERS_TAG: Final = "alchemiser/orders"

_OUTCOMES: Final[dict[ExecutionStatus, Outcome]] = {
    "SUCCESS": "TRADED",
    "PLAN_ONLY": "PLAN_ONLY",
    "HALTED": "HALTED",
    "PARTIAL": "PARTIAL",
    "FAILED": "FAILED",
}


def outcome_of(status: ExecutionStatus) -> Outcome:
    """The outcome word for an execution status (every status has one)."""
    return _OUTCOMES[status]

"""`retry_when_retryable`: which errors Dagster retries, how often, and how long it waits.

Small assets that raise on cue, run by `dg.materialize`; attempts are read from the event log.
"""

import dagster as dg
import pytest

from alchemiser_dagster.domain.errors import (
    AmbiguousSubmit,
    BrokerUnavailable,
    OrderRejected,
    RateLimited,
)
from alchemiser_dagster.pipeline.retries import BROKER_RETRY_POLICY, retry_when_retryable

NO_WAIT = dg.RetryPolicy(max_retries=2, delay=0)


def asset_failing(errors: list[Exception], policy: dg.RetryPolicy = NO_WAIT) -> dg.AssetsDefinition:
    """An asset that raises the next of `errors` on each attempt, then returns 1."""
    pending = list(errors)

    @dg.asset
    @retry_when_retryable(policy)
    def flaky(context: dg.AssetExecutionContext) -> int:
        if pending:
            raise pending.pop(0)
        return 1

    return flaky


def attempts(result: dg.ExecuteInProcessResult) -> tuple[int, list[float]]:
    """(step starts + restarts, the waits Dagster was asked for)."""
    events = result.all_events
    starts = sum(1 for e in events if e.event_type_value in ("STEP_START", "STEP_RESTARTED"))
    waits = [e.step_retry_data.seconds_to_wait or 0.0 for e in events if e.is_step_up_for_retry]
    return starts, waits


def test_a_retryable_error_is_retried_until_the_step_succeeds() -> None:
    result = dg.materialize([asset_failing([BrokerUnavailable("503"), BrokerUnavailable("reset")])])
    assert result.success and result.output_for_node("flaky") == 1
    assert attempts(result) == (3, [0.0, 0.0])


def test_retries_are_bounded_and_the_failure_names_our_error() -> None:
    result = dg.materialize([asset_failing([BrokerUnavailable("down")] * 5)], raise_on_error=False)
    assert not result.success
    assert attempts(result)[0] == 1 + NO_WAIT.max_retries
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    assert error is not None and error.cause is not None and error.cause.cls_name == "BrokerUnavailable"


@pytest.mark.parametrize(
    "error",
    [
        OrderRejected("insufficient buying power", status=403, code=40310000),
        AmbiguousSubmit("504 on submit", client_order_id="x"),
        KeyError("a bug, not the broker"),
    ],
    ids=["order rejected", "ambiguous submit", "not one of ours"],
)
def test_anything_not_marked_retryable_fails_at_the_first_attempt(error: Exception) -> None:
    result = dg.materialize([asset_failing([error])], raise_on_error=False)
    assert not result.success
    assert attempts(result) == (1, [])


def test_a_rate_limit_waits_at_least_the_servers_hint() -> None:
    result = dg.materialize([asset_failing([RateLimited("429", retry_after=0.2)])])
    assert result.success
    assert attempts(result) == (2, [0.2])


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 0, 4), (2, 4, 8), (3, 12, 16)])
def test_the_broker_policy_backs_off_exponentially(attempt: int, low: float, high: float) -> None:
    delays: list[float] = [BROKER_RETRY_POLICY.calculate_delay(attempt) for _ in range(50)]
    assert all(low <= d <= high for d in delays)
    assert BROKER_RETRY_POLICY.max_retries == 3


class Offset(dg.ConfigurableResource):
    by: int


def test_the_wrapped_asset_keeps_its_inputs_and_resources() -> None:
    # Dagster reads inputs and resources from the compute function's signature: the wrapper
    # must show the wrapped one's, or the asset would lose its upstream and its resource.
    @dg.asset
    def seed() -> int:
        return 40

    @dg.asset
    @retry_when_retryable(NO_WAIT)
    def answer(seed: int, offset: Offset) -> int:
        return seed + offset.by

    assert {key.path[-1] for key in answer.dependency_keys} == {"seed"}
    assert "offset" in answer.required_resource_keys
    result = dg.materialize([seed, answer], resources={"offset": Offset(by=2)})
    assert result.output_for_node("answer") == 42


def test_an_asset_check_is_retried_on_a_retryable_error_too() -> None:
    # ledger_matches_broker reads the broker: a dropped connection must not fail the check.
    pending: list[Exception] = [BrokerUnavailable("reset")]

    @dg.asset
    def ledger() -> int:
        return 1

    @dg.asset_check(asset=ledger)
    @retry_when_retryable(NO_WAIT)
    def matches(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        if pending:
            raise pending.pop(0)
        return dg.AssetCheckResult(passed=True)

    result = dg.materialize([ledger, matches])
    assert result.success and not pending
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed
    restarts = [e for e in result.all_events if e.is_step_up_for_retry]
    assert len(restarts) == 1

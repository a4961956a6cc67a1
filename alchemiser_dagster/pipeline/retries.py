"""Step retries for the broker-touching assets: only errors that say they are retryable.

Dagster's `RetryPolicy` retries a step on any exception and has no filter by exception,
so a policy on the asset would also retry an order reject or a bug. The policy here gives
the bound, the backoff and the jitter; `retry_when_retryable` asks Dagster for a retry
with them (`RetryRequested`, the documented way to decide per exception) only when the
step raised an `AlchemiserError` whose class is `retryable` (`BrokerUnavailable`,
`RateLimited`). Everything else fails the step at once, exactly as without retries.

What a retried step does again is safe: the snapshot, the reconciliation and the
`ledger_matches_broker` check only read,
and a retried `execution_result` takes the path of a rerun (the journaled plan is
finished, every order found by its client_order_id is adopted, a submit whose fate is
unknown is looked up before anything is resent). Its execution lock stays with the run:
the resource keeps the lock it took across attempts (in-process executor) or releases it
at the step's teardown and takes it again (a process per step).
"""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import dagster as dg

from alchemiser_dagster.domain.errors import AlchemiserError, RateLimited

#: Three more attempts, about 2, 6 and 14 s apart (exponential, +/- 2 s of jitter): long
#: enough for a dropped connection or a restarting gateway, short beside a session.
BROKER_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

P = ParamSpec("P")
R = TypeVar("R")


def retry_when_retryable(
    policy: dg.RetryPolicy = BROKER_RETRY_POLICY,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Wrap an asset's compute function (under `@dg.asset`): retry it per `policy` on a
    retryable error of ours, let every other error fail the step."""

    def decorate(compute: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(compute)  # Dagster reads the parameters and annotations through it
        def attempt(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return compute(*args, **kwargs)
            except AlchemiserError as error:
                if not error.retryable:
                    raise
                number = _retry_number() + 1
                wait = max(policy.calculate_delay(number), 0.0)
                if isinstance(error, RateLimited) and error.retry_after is not None:
                    wait = max(wait, error.retry_after)  # the server's hint is a floor
                raise dg.RetryRequested(max_retries=policy.max_retries, seconds_to_wait=wait) from error

        return attempt

    return decorate


def _retry_number() -> int:
    """The current step's retry number, in an asset or an asset check (Dagster keeps a
    context type per kind and `get()` of the other one refuses)."""
    try:
        return int(dg.AssetExecutionContext.get().retry_number)
    except dg.DagsterInvariantViolationError:
        return int(dg.AssetCheckExecutionContext.get().retry_number)

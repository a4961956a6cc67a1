"""The failed-strategy policy, in one place: what a strategy that fails for a session becomes.

- ``stop``: the failure stops the session (no signal, no target, no order).
- ``cash``: the failure is recorded as the strategy's value and its sleeve sits in cash.
- ``last_target``: recorded too; the sleeve holds the strategy's latest earlier good weights
  (looked up only under this policy), and fails when there are none.

A recorded failure is never swallowed: it is the signal's value, its check fails and alerts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from alchemiser_dagster.domain.errors import StrategyError
from alchemiser_dagster.domain.portfolio.allocation import FailedStrategyPolicy, build_target_allocation
from alchemiser_dagster.domain.portfolio.models import TargetAllocation
from alchemiser_dagster.domain.portfolio.sleeves import SleeveBooks
from alchemiser_dagster.domain.strategy.allocation import failed_evaluation
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation

# Each failed strategy's latest earlier good weights: name -> (session, weights).
LastTargets = Mapping[str, tuple[dt.date, Mapping[str, float]]]


def evaluate_under_policy(
    name: str,
    session: dt.date,
    policy: FailedStrategyPolicy,
    evaluate: Callable[[], StrategyEvaluation],
    log_failure: Callable[[str], None],
) -> StrategyEvaluation:
    """`evaluate()`; a StrategyError re-raised under `stop`, else recorded as the strategy's value."""
    try:
        return evaluate()
    except StrategyError as error:
        if policy == "stop":
            raise
        log_failure(f"{error.render()} (failed-strategy policy: {policy})")
        return failed_evaluation(name, session, error)


def target_under_policy(
    session: dt.date,
    shares: Mapping[str, Decimal],
    evaluations: Mapping[str, StrategyEvaluation],
    sleeves: SleeveBooks,
    policy: FailedStrategyPolicy,
    last_targets: Callable[[Sequence[str]], LastTargets],
) -> TargetAllocation:
    """The account target from the sleeves' held weights, failed strategies under `policy`.

    `last_targets(failed names)` is asked only under `last_target` (it reads history).
    """
    failed = [name for name, e in evaluations.items() if e.failure is not None]
    return build_target_allocation(
        session,
        shares,
        {
            name: None if e.failure is not None else sleeves.book(name).weights
            for name, e in evaluations.items()
        },
        trading={b.strategy: (b.setting.label(), b.reason) for b in sleeves.sleeves},
        policy=policy,
        last_targets=last_targets(failed) if policy == "last_target" else None,
    )

"""The failed-strategy policy as the graph applies it: at the signal, then at the target."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

import pytest

from alchemiser_dagster.domain.errors import PortfolioError, StrategyError
from alchemiser_dagster.domain.portfolio.allocation import FailedStrategyPolicy
from alchemiser_dagster.domain.portfolio.failed_strategy import (
    LastTargets,
    evaluate_under_policy,
    target_under_policy,
)
from alchemiser_dagster.domain.portfolio.models import TargetAllocation
from alchemiser_dagster.domain.portfolio.sleeves import advance_sleeves
from alchemiser_dagster.domain.portfolio.trading import TradingSetting
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation

D = dt.date(2024, 6, 28)
SHARES = {"a.clj": Decimal("0.6"), "b.clj": Decimal("0.4")}
PRICES = {"SPY": 500.0, "TLT": 90.0}


def good(name: str, weights: dict[str, float]) -> StrategyEvaluation:
    return StrategyEvaluation(strategy=name, source=name, session=D, weights=weights)


def broken() -> StrategyEvaluation:
    raise StrategyError("no bars for XYZ", source="b.clj", line=3, column=5)


def test_stop_lets_the_error_through_and_logs_nothing() -> None:
    logged: list[str] = []
    with pytest.raises(StrategyError, match="no bars for XYZ"):
        evaluate_under_policy("b.clj", D, "stop", broken, logged.append)
    assert logged == []


@pytest.mark.parametrize("policy", ["cash", "last_target"])
def test_cash_and_last_target_record_the_failure_and_log_it(policy: FailedStrategyPolicy) -> None:
    logged: list[str] = []
    evaluation = evaluate_under_policy("b.clj", D, policy, broken, logged.append)
    assert evaluation.failure is not None and evaluation.weights == {}
    assert evaluation.failure.location == "b.clj:3:5" and evaluation.failure.message == "no bars for XYZ"
    assert logged == [f"b.clj:3:5: StrategyError: no bars for XYZ (failed-strategy policy: {policy})"]


def test_a_good_evaluation_passes_unchanged() -> None:
    evaluation = good("a.clj", {"SPY": 1.0})
    assert evaluate_under_policy("a.clj", D, "stop", lambda: evaluation, print) is evaluation


def target(
    policy: FailedStrategyPolicy, history: LastTargets
) -> tuple[TargetAllocation, list[Sequence[str]]]:
    failed = evaluate_under_policy("b.clj", D, "cash", broken, lambda _: None)
    evaluations = {"a.clj": good("a.clj", {"SPY": 1.0}), "b.clj": failed}
    sleeves = advance_sleeves(
        D,
        None,
        {"a.clj": TradingSetting(), "b.clj": TradingSetting()},
        {"a.clj": {"SPY": 1.0}, "b.clj": None},
        PRICES,
    )
    asked: list[Sequence[str]] = []

    def lookup(names: Sequence[str]) -> LastTargets:
        asked.append(list(names))
        return history

    return target_under_policy(D, SHARES, evaluations, sleeves, policy, lookup), asked


def test_history_is_read_only_under_last_target() -> None:
    cash, asked = target("cash", {})
    assert asked == [] and cash.cash_weight == Decimal("0.4")
    last, asked = target("last_target", {"b.clj": (dt.date(2024, 6, 27), {"TLT": 1.0})})
    assert asked == [["b.clj"]]
    assert last.weights == {"SPY": Decimal("0.6"), "TLT": Decimal("0.4")}


def test_stop_refuses_the_target() -> None:
    with pytest.raises(PortfolioError, match="policy 'stop'"):
        target("stop", {})

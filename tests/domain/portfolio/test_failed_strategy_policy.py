"""A failed strategy's capital is never handed silently to the others."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from alchemiser_dagster.domain.errors import PortfolioError
from alchemiser_dagster.domain.portfolio.allocation import build_target_allocation

D = dt.date(2024, 6, 28)
SHARES = {"a.clj": Decimal("0.6"), "b.clj": Decimal("0.4")}


def test_stop_refuses_to_build_a_target() -> None:
    with pytest.raises(PortfolioError, match=r"b\.clj failed for 2024-06-28; policy 'stop'"):
        build_target_allocation(D, SHARES, {"a.clj": {"SPY": 1.0}, "b.clj": None})


def test_cash_keeps_the_failed_sleeve_in_cash() -> None:
    target = build_target_allocation(
        D, SHARES, {"a.clj": {"SPY": 0.5, "TLT": 0.5}, "b.clj": None}, policy="cash"
    )
    assert target.weights == {"SPY": Decimal("0.3"), "TLT": Decimal("0.3")}
    assert target.cash_weight == Decimal("0.4")
    (failed,) = [s for s in target.sleeves if s.strategy == "b.clj"]
    assert failed.policy == "cash" and failed.weights == {}


def test_last_target_reuses_the_latest_earlier_weights() -> None:
    earlier = {"b.clj": (dt.date(2024, 6, 27), {"GLD": 1.0})}
    target = build_target_allocation(
        D, SHARES, {"a.clj": {"SPY": 1.0}, "b.clj": None}, policy="last_target", last_targets=earlier
    )
    assert target.weights == {"GLD": Decimal("0.4"), "SPY": Decimal("0.6")}
    (failed,) = [s for s in target.sleeves if s.strategy == "b.clj"]
    assert (failed.policy, failed.weights_from) == ("last_target", dt.date(2024, 6, 27))
    assert target.cash_weight == 0


@pytest.mark.parametrize("history", [None, {"b.clj": (D, {"GLD": 1.0})}])
def test_last_target_without_an_earlier_day_fails_loudly(history: dict | None) -> None:
    with pytest.raises(PortfolioError, match="no earlier target"):
        build_target_allocation(
            D, SHARES, {"a.clj": {"SPY": 1.0}, "b.clj": None}, policy="last_target", last_targets=history
        )

"""The benchmark statistics, each checked against empyrical-reloaded (and pandas for the
correlation, which empyrical does not offer) on the same series."""

import datetime as dt
import math

import empyrical
import numpy as np
import pandas as pd
import pytest

from alchemiser_dagster.domain.backtest.benchmark import benchmark_for, benchmark_stats, returns_of
from alchemiser_dagster.domain.errors import MarketDataError


def curves(seed: int, n: int = 300) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0004, 0.011, n)
    strategy = 0.0002 + 1.4 * market + rng.normal(0, 0.006, n)
    return (
        list(100000 * np.cumprod(np.r_[1.0, 1 + strategy])),
        list(100000 * np.cumprod(np.r_[1.0, 1 + market])),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_statistic_matches_empyrical(seed: int) -> None:
    strategy, market = curves(seed)
    stats = benchmark_stats("SPY", strategy, market)
    r, b = pd.Series(returns_of(strategy)), pd.Series(returns_of(market))
    assert stats.returns == len(r) == 300
    assert stats.annual_return == pytest.approx(empyrical.annual_return(b), rel=1e-12)
    assert stats.strategy_annual_return == pytest.approx(empyrical.annual_return(r), rel=1e-12)
    assert stats.excess_return == pytest.approx(
        empyrical.annual_return(r) - empyrical.annual_return(b), rel=1e-10
    )
    assert stats.total_return == pytest.approx(empyrical.cum_returns_final(b), rel=1e-10)
    assert stats.excess_total_return == pytest.approx(
        empyrical.cum_returns_final(r) - empyrical.cum_returns_final(b), rel=1e-10
    )
    assert stats.beta == pytest.approx(empyrical.beta(r, b), rel=1e-10)
    assert stats.correlation == pytest.approx(r.corr(b), rel=1e-10)
    assert stats.tracking_error == pytest.approx(empyrical.annual_volatility(r - b), rel=1e-10)
    assert 1.2 < stats.beta < 1.6  # the series were built with beta 1.4: the statistic sees it


def test_the_benchmark_against_itself() -> None:
    _, market = curves(4)
    stats = benchmark_stats("SPY", market, market)
    assert stats.beta == pytest.approx(1.0)
    assert stats.correlation == pytest.approx(1.0)
    assert stats.tracking_error == 0.0
    assert stats.excess_return == 0.0


def test_a_flat_benchmark_has_no_beta() -> None:
    strategy, _ = curves(5)
    stats = benchmark_stats("BIL", strategy, [1.0] * len(strategy))
    assert stats.beta is None and stats.correlation is None
    assert math.isclose(stats.tracking_error, empyrical.annual_volatility(pd.Series(returns_of(strategy))))


def test_the_benchmark_curve_starts_with_the_strategy_and_needs_every_close() -> None:
    days = [dt.date(2024, 6, d) for d in (24, 25, 26)]
    bars = pd.DataFrame({"symbol": ["SPY"] * 3, "date": days, "close": [500.0, 505.0, 495.0]})
    bench = benchmark_for("SPY", bars, days, [1000.0, 1001.0, 990.0])
    assert bench.equity == pytest.approx([1000.0, 1010.0, 990.0])
    with pytest.raises(MarketDataError, match="benchmark SPY: no close on 2024-06-27"):
        benchmark_for("SPY", bars, [*days, dt.date(2024, 6, 27)], [1.0, 1.0, 1.0, 1.0])

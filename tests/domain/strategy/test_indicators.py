"""Indicators against plain-loop reference computations and the spec's worked examples.

The ``ref_*`` functions below are written independently of the module, as literally as
the spec (strategy-dsl.md §2-§3) states each formula, one value at a time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alchemiser_dagster.domain.strategy.indicators import (
    INDICATOR_NAMES,
    PERCENT_INDICATORS,
    bars_needed,
    price_indicator_series,
    stream_metric,
)

NAN = float("nan")
STREAM_NAMES = ["moving-average-return", "cumulative-return", "stdev-return", "max-drawdown", "rsi"]
PRICE_ONLY_NAMES = [
    "current-price",
    "moving-average-price",
    "exponential-moving-average-price",
    "stdev-price",
]

# Hand-made closes: ups, downs, a repeated value and a new high after a drawdown.
CLOSES = [10.0, 10.5, 10.2, 10.8, 11.1, 10.9, 10.4, 10.4, 10.6, 11.3, 11.0, 11.6, 11.2]

# Spec §7 bars, 2024-01-02 .. 2024-01-08.
SPEC_BARS = {
    "AAA": [10.0, 11.0, 10.5, 11.5, 12.0],
    "BBB": [20.0, 19.0, 19.5, 20.5, 20.0],
    "CCC": [5.0, 5.2, 5.0, 5.3, 5.55],
    "DDD": [50.0, 50.5, 50.25, 50.5, 50.75],
}


# --- independent references ----------------------------------------------------------------


def ref_rsi_value(avg_gain: float, avg_loss: float) -> float:
    if avg_loss == 0:
        return 100.0 if avg_gain > 0 else 50.0
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


def ref_pct_returns(p: list[float]) -> list[float]:
    return [(p[i] / p[i - 1] - 1.0) * 100.0 for i in range(1, len(p))]


def ref_mean(xs: list[float]) -> float:
    total = 0.0
    for x in xs:
        total += x
    return total / len(xs)


def ref_std(xs: list[float], ddof: int) -> float:
    m = ref_mean(xs)
    squares = 0.0
    for x in xs:
        squares += (x - m) ** 2
    return math.sqrt(squares / (len(xs) - ddof))


def ref_drawdown(values: list[float]) -> float:
    worst = 0.0
    for i in range(len(values)):
        for j in range(i, len(values)):
            worst = max(worst, (values[i] - values[j]) / values[i] * 100.0)
    return worst


def ref_value(name: str, p: list[float], n: int) -> float:
    """Indicator at the last bar of ``p``, NaN with too few bars (spec §3 "Needs bars")."""
    needs = {
        "current-price": 1,
        "moving-average-price": n,
        "exponential-moving-average-price": n,
        "rsi": n + 1,
        "cumulative-return": n + 1,
        "moving-average-return": n + 1,
        "stdev-return": n + 1,
        "stdev-price": n,
        "max-drawdown": n,
    }[name]
    if len(p) < needs:
        return NAN
    if name == "current-price":
        return p[-1]
    if name == "moving-average-price":
        return ref_mean(p[-n:])
    if name == "exponential-moving-average-price":
        alpha = 2.0 / (n + 1)
        ema = p[0]
        for price in p[1:]:
            ema = alpha * price + (1 - alpha) * ema
        return ema
    if name == "rsi":
        a = 1.0 / n
        gain = loss = 0.0  # the first bar's diff counts as 0, averages start at 0
        for i in range(1, len(p)):
            d = p[i] - p[i - 1]
            gain = a * max(d, 0.0) + (1 - a) * gain
            loss = a * max(-d, 0.0) + (1 - a) * loss
        return ref_rsi_value(gain, loss)
    if name == "cumulative-return":
        return (p[-1] / p[-1 - n] - 1.0) * 100.0
    if name == "moving-average-return":
        return ref_mean(ref_pct_returns(p)[-n:])
    if name == "stdev-return":
        return ref_std(ref_pct_returns(p)[-n:], ddof=0)
    if name == "stdev-price":
        return NAN if n == 1 else ref_std(p[-n:], ddof=1)
    assert name == "max-drawdown"
    return ref_drawdown(p[-n:])


def ref_stream(name: str, r: list[float]) -> float:
    if name == "moving-average-return":
        return ref_mean(r) * 100.0
    if name == "cumulative-return":
        growth = 1.0
        for x in r:
            growth *= 1.0 + x
        return (growth - 1.0) * 100.0
    if name == "stdev-return":
        return ref_std([x * 100.0 for x in r], ddof=0)
    equity = [1.0]
    for x in r:
        equity.append(equity[-1] * (1.0 + x))
    if name == "max-drawdown":
        return ref_drawdown(equity)
    assert name == "rsi"
    a = 1.0 / len(r)
    deltas = [equity[k] - equity[k - 1] for k in range(1, len(equity))]
    gain, loss = max(deltas[0], 0.0), max(-deltas[0], 0.0)  # seeded with the first delta
    for d in deltas[1:]:
        gain = a * max(d, 0.0) + (1 - a) * gain
        loss = a * max(-d, 0.0) + (1 - a) * loss
    return ref_rsi_value(gain, loss)


def same(a: float, b: float, tol: float = 1e-9) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def series(name: str, closes: list[float], n: int) -> np.ndarray:
    return price_indicator_series(name, np.array(closes, dtype=np.float64), n)


# --- tables ---------------------------------------------------------------------------------


def test_names_and_bars_needed_follow_the_spec_table() -> None:
    n = 7
    expected = {
        "current-price": 1,
        "moving-average-price": n,
        "exponential-moving-average-price": n,
        "rsi": n + 1,
        "cumulative-return": n + 1,
        "moving-average-return": n + 1,
        "stdev-return": n + 1,
        "stdev-price": n,
        "max-drawdown": n,
    }
    assert set(expected) == INDICATOR_NAMES
    assert {name: bars_needed(name, n) for name in expected} == expected
    assert {
        "cumulative-return",
        "moving-average-return",
        "stdev-return",
        "max-drawdown",
    } == PERCENT_INDICATORS


# --- each indicator against its reference --------------------------------------------------


@pytest.mark.parametrize("window", [1, 2, 3, 5])
@pytest.mark.parametrize("name", sorted(INDICATOR_NAMES))
def test_series_matches_reference_at_every_bar(name: str, window: int) -> None:
    out = series(name, CLOSES, window)
    first = bars_needed(name, window) - 1
    assert out.shape == (len(CLOSES),)
    assert np.isnan(out[:first]).all()
    if not (name == "stdev-price" and window == 1):
        assert not np.isnan(out[first])  # the first valid bar is really valid
    for t in range(len(CLOSES)):
        expected = ref_value(name, CLOSES[: t + 1], window)
        assert same(float(out[t]), expected), (t, out[t], expected)


def test_hand_checked_values() -> None:
    # A few values worked by hand, as a check on the references themselves.
    p = [10.0, 12.0, 9.0, 11.0]
    assert series("current-price", p, 3)[-1] == 11.0
    assert series("moving-average-price", p, 2)[-1] == pytest.approx(10.0)
    # alpha 1/2: e = 10, 11, 10
    assert series("exponential-moving-average-price", p, 3)[2] == pytest.approx(10.0)
    assert series("cumulative-return", p, 3)[-1] == pytest.approx(10.0)
    assert series("max-drawdown", p, 4)[-1] == pytest.approx(25.0)
    assert series("max-drawdown", p, 2)[-1] == pytest.approx(0.0)
    assert series("stdev-price", p, 2)[-1] == pytest.approx(math.sqrt(2.0))
    assert series("moving-average-return", p, 1)[-1] == pytest.approx(100.0 * 2.0 / 9.0)
    # returns +20 %, -25 %: mean -2.5, population std 22.5
    assert series("moving-average-return", p[:3], 2)[-1] == pytest.approx(-2.5)
    assert series("stdev-return", p[:3], 2)[-1] == pytest.approx(22.5)


# --- spec §7 worked examples ------------------------------------------------------------------


def test_spec_example_rsi() -> None:
    assert round(float(series("rsi", SPEC_BARS["AAA"], 3)[-1]), 4) == 86.8132


@pytest.mark.parametrize(("symbol", "value"), [("AAA", 14.2857), ("BBB", 2.5641), ("CCC", 11.0)])
def test_spec_example_cumulative_return(symbol: str, value: float) -> None:
    assert round(float(series("cumulative-return", SPEC_BARS[symbol], 2)[-1]), 4) == value


@pytest.mark.parametrize(("symbol", "value"), [("AAA", 5.810196), ("DDD", 0.467319)])
def test_spec_example_stdev_return(symbol: str, value: float) -> None:
    assert round(float(series("stdev-return", SPEC_BARS[symbol], 3)[-1]), 6) == value


def test_spec_example_moving_average_return() -> None:
    assert round(float(series("moving-average-return", SPEC_BARS["CCC"], 2)[-1]), 4) == 5.3585


def test_spec_example_group_stream() -> None:
    stream = np.array([20.5 / 19.5 - 1.0, 12.0 / 11.5 - 1.0])
    assert round(stream_metric("moving-average-return", stream), 4) == 4.7380


# --- stream metrics -------------------------------------------------------------------------


STREAMS = [
    [0.01],
    [-0.02],
    [0.0, 0.0, 0.0],
    [0.03, -0.01, 0.02, -0.04, 0.05],
    [0.05, 0.02, 0.01],
    [-0.05, -0.02, 0.03, 0.01, -0.01, 0.02],
]


@pytest.mark.parametrize("returns", STREAMS)
@pytest.mark.parametrize("name", STREAM_NAMES)
def test_stream_metric_matches_reference(name: str, returns: list[float]) -> None:
    got = stream_metric(name, np.array(returns))
    assert same(got, ref_stream(name, returns)), (got, ref_stream(name, returns))


def test_stream_rsi_is_seeded_with_the_first_delta() -> None:
    # One up day: seeded G = 0.01 > 0, L = 0 -> 100. A zero start would give the same here,
    # so also check a down-then-up stream where the seed matters.
    assert stream_metric("rsi", np.array([0.01])) == 100.0
    r = [-0.1, 0.1]  # equity 1, 0.9, 0.99: deltas -0.1, +0.09, a = 1/2
    gain, loss = 0.5 * 0.09, 0.5 * 0.1  # seeded: G1 = 0, L1 = 0.1
    assert stream_metric("rsi", np.array(r)) == pytest.approx(100 - 100 / (1 + gain / loss))


def test_stream_max_drawdown_counts_from_initial_equity() -> None:
    assert stream_metric("max-drawdown", np.array([-0.1, 0.05])) == pytest.approx(10.0)
    assert stream_metric("max-drawdown", np.array([0.1, 0.2])) == 0.0


@pytest.mark.parametrize("name", PRICE_ONLY_NAMES)
def test_stream_metric_rejects_price_indicators(name: str) -> None:
    with pytest.raises(ValueError, match="return stream"):
        stream_metric(name, np.array([0.01, 0.02]))


def test_stream_metric_rejects_an_empty_stream() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        stream_metric("cumulative-return", np.array([], dtype=np.float64))


# --- edge cases -----------------------------------------------------------------------------


def test_rsi_of_flat_series_is_50() -> None:
    out = series("rsi", [7.0] * 10, 3)
    assert np.isnan(out[:3]).all()
    assert (out[3:] == 50.0).all()


def test_rsi_of_rising_series_is_100() -> None:
    out = series("rsi", [1.0 + i for i in range(10)], 3)
    assert (out[3:] == 100.0).all()


@pytest.mark.parametrize("name", sorted(INDICATOR_NAMES - {"current-price"}))
def test_window_longer_than_history_is_all_nan(name: str) -> None:
    assert np.isnan(series(name, CLOSES[:5], 10)).all()


def test_empty_history_is_empty() -> None:
    assert series("current-price", [], 1).shape == (0,)


def test_stdev_price_of_one_close_is_undefined() -> None:
    assert np.isnan(series("stdev-price", CLOSES, 1)).all()


@pytest.mark.parametrize("name", ["nope", "ma", "volatility"])
def test_unknown_indicator_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="unknown indicator"):
        series(name, CLOSES, 3)
    with pytest.raises(ValueError, match="unknown indicator"):
        bars_needed(name, 3)


@pytest.mark.parametrize("window", [0, -1])
def test_window_below_one_is_rejected(window: int) -> None:
    with pytest.raises(ValueError, match="window"):
        series("rsi", CLOSES, window)
    with pytest.raises(ValueError, match="window"):
        bars_needed("rsi", window)


# --- no look-ahead ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted(INDICATOR_NAMES)),
    window=st.integers(min_value=1, max_value=8),
    closes=st.lists(
        st.floats(min_value=0.5, max_value=2000.0, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=30,
    ),
)
def test_value_at_t_depends_on_the_prefix_only(name: str, window: int, closes: list[float]) -> None:
    out = series(name, closes, window)
    for t in range(len(closes)):
        prefix = closes[: t + 1]
        alone = float(series(name, prefix, window)[-1])
        assert same(float(out[t]), alone), (t, out[t], alone)
        assert same(alone, ref_value(name, prefix, window), tol=1e-8), (t, alone)

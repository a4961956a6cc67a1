"""Technical indicators of the strategy DSL, as fixed by spec ``strategy-dsl.md`` §2-§3.

Two entry points:

* ``price_indicator_series`` computes one indicator for every bar of one symbol's close
  history at once, so a backtest over many sessions costs one vectorized pass instead of
  one pass per session. ``out[t]`` depends on ``closes[: t + 1]`` only (no look-ahead) and
  is NaN while fewer than ``bars_needed`` bars exist; the caller turns that NaN into
  ``InsufficientHistory`` -- this module never substitutes a neutral value (ref's silent
  50 / 0 fallbacks are what the spec removes).
* ``stream_metric`` scores a non-asset filter candidate from its daily return stream.

Conventions are the spec's, not a matter of taste: returns are daily and in percent
(4.2 means 4.2 %); ``stdev-return`` is the population std of daily percent returns and is
*not* annualized, because corpus thresholds (SPY 21d < 1-1.5) only make sense for daily
values; rsi and ema recurse over the whole history, so they depend on where it starts.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = npt.NDArray[np.float64]

IndicatorName = Literal[
    "current-price",
    "moving-average-price",
    "exponential-moving-average-price",
    "rsi",
    "cumulative-return",
    "moving-average-return",
    "stdev-return",
    "stdev-price",
    "max-drawdown",
]

# Extra bars beyond the window: indicators on returns need the close before the window.
_EXTRA_BARS: Final[dict[str, int]] = {
    "current-price": 0,
    "moving-average-price": 0,
    "exponential-moving-average-price": 0,
    "rsi": 1,
    "cumulative-return": 1,
    "moving-average-return": 1,
    "stdev-return": 1,
    "stdev-price": 0,
    "max-drawdown": 0,
}

INDICATOR_NAMES: Final[frozenset[str]] = frozenset(_EXTRA_BARS)

# Outputs in percent. rsi is a 0-100 oscillator, not a percentage of anything, so it is
# not listed; stdev-price is in price units.
PERCENT_INDICATORS: Final[frozenset[str]] = frozenset(
    {"cumulative-return", "moving-average-return", "stdev-return", "max-drawdown"}
)

# Indicators that make sense on a return stream (spec §2 step 3); the rest need prices.
STREAM_INDICATORS: Final[frozenset[str]] = frozenset(
    {"moving-average-return", "cumulative-return", "stdev-return", "max-drawdown", "rsi"}
)

PERCENT: Final = 100.0
RSI_MAX: Final = 100.0
RSI_NEUTRAL: Final = 50.0  # rsi when there were neither gains nor losses
POPULATION_DDOF: Final = 0  # stdev-return: spec fixes ddof 0 (ref old engine used 1)
SAMPLE_DDOF: Final = 1  # stdev-price: matches pandas rolling(n).std() in ref


def _check(name: str, window: int) -> None:
    if name not in INDICATOR_NAMES:
        raise ValueError(f"unknown indicator {name!r}")
    if window < 1:
        raise ValueError(f"indicator window must be >= 1, got {window}")


def bars_needed(name: str, window: int) -> int:
    """Closes an indicator needs (spec §3 "Needs bars"); fewer is InsufficientHistory."""
    _check(name, window)
    if name == "current-price":
        return 1
    return window + _EXTRA_BARS[name]


def _ewm(values: FloatArray, alpha: float) -> FloatArray:
    """``y0 = x0, y_i = alpha*x_i + (1-alpha)*y_{i-1}`` (pandas ``adjust=False``, C speed)."""
    return pd.Series(values).ewm(alpha=alpha, adjust=False).mean().to_numpy(dtype=np.float64)


def _rsi_from_averages(gain: FloatArray, loss: FloatArray) -> FloatArray:
    """``100 - 100/(1 + G/L)``; L == 0 gives 100 when G > 0 and 50 when nothing moved."""
    no_loss = loss == 0.0
    ratio = np.divide(gain, loss, out=np.zeros_like(gain), where=~no_loss)
    rsi = RSI_MAX - RSI_MAX / (1.0 + ratio)
    return np.where(no_loss, np.where(gain > 0.0, RSI_MAX, RSI_NEUTRAL), rsi)


def _rolling_max_drawdown(prices: FloatArray, window: int) -> FloatArray:
    """Max drawdown in percent of every run of ``window`` consecutive prices.

    Loops over the offset inside the window (not over bars): each step is one
    contiguous numpy pass, several times faster than accumulating along a strided view.
    """
    runs = len(prices) - window + 1
    peak = prices[:runs].copy()
    drawdown = np.zeros(runs)
    for offset in range(1, window):
        price = prices[offset : offset + runs]
        np.maximum(peak, price, out=peak)
        np.maximum(drawdown, (peak - price) / peak, out=drawdown)
    return drawdown * PERCENT


def price_indicator_series(name: str, closes: FloatArray, window: int) -> FloatArray:
    """Indicator ``name`` at every bar of one symbol's closes (date order, > 0, no NaN).

    ``out[t]`` uses ``closes[: t + 1]`` only and is NaN while ``t + 1 < bars_needed``.
    stdev-price with window 1 is NaN everywhere: a sample std (ddof 1) of one close is
    undefined, and 0.0 would be a made-up value that sorts as "least volatile".
    """
    needed = bars_needed(name, window)
    prices = np.asarray(closes, dtype=np.float64)
    if prices.ndim != 1:
        raise ValueError(f"closes must be one-dimensional, got shape {prices.shape}")
    out = np.full(len(prices), np.nan)
    if len(prices) < needed:
        return out
    first = needed - 1  # index of the first bar with a value

    if name == "current-price":
        out[:] = prices
    elif name == "moving-average-price":
        out[first:] = sliding_window_view(prices, window).mean(axis=1)
    elif name == "exponential-moving-average-price":
        out[first:] = _ewm(prices, 2.0 / (window + 1))[first:]
    elif name == "stdev-price":
        if window > SAMPLE_DDOF:
            out[first:] = sliding_window_view(prices, window).std(axis=1, ddof=SAMPLE_DDOF)
    elif name == "max-drawdown":
        out[first:] = _rolling_max_drawdown(prices, window)
    elif name == "rsi":
        diffs = np.diff(prices, prepend=prices[0])  # first bar's diff is 0
        alpha = 1.0 / window
        gain = _ewm(np.maximum(diffs, 0.0), alpha)
        loss = _ewm(np.maximum(-diffs, 0.0), alpha)
        out[first:] = _rsi_from_averages(gain, loss)[first:]
    elif name == "cumulative-return":
        out[first:] = (prices[window:] / prices[:-window] - 1.0) * PERCENT
    else:  # the two rolling statistics of daily percent returns
        returns = (prices[1:] / prices[:-1] - 1.0) * PERCENT
        runs = sliding_window_view(returns, window)
        if name == "moving-average-return":
            out[first:] = runs.mean(axis=1)
        else:  # stdev-return
            out[first:] = runs.std(axis=1, ddof=POPULATION_DDOF)
    return out


def stream_metric(name: str, returns: FloatArray) -> float:
    """Score a non-asset candidate from its return stream ``r_1..r_n`` (fractions), §2 step 3.

    The stream plays the role of the asset's last ``n`` returns, so the metrics mirror the
    price versions: mean and std of percent returns, compounded return, drawdown of the
    equity curve ``E_0 = 1, E_k = E_{k-1}(1 + r_k)``. rsi is Wilder's with period ``n`` on
    that equity curve but seeded with the first delta's gain/loss (there is no earlier
    history to start from zero). Price-only indicators raise ``ValueError``: the parser
    rejects them statically over non-asset candidates, so reaching here is a bug.
    """
    if name not in STREAM_INDICATORS:
        raise ValueError(f"indicator {name!r} cannot score a return stream")
    stream = np.asarray(returns, dtype=np.float64)
    if stream.ndim != 1 or len(stream) == 0:
        raise ValueError("a return stream must be a non-empty one-dimensional array")

    if name == "moving-average-return":
        return float(np.mean(stream) * PERCENT)
    if name == "cumulative-return":
        return float((np.prod(1.0 + stream) - 1.0) * PERCENT)
    if name == "stdev-return":
        return float(np.std(stream * PERCENT, ddof=POPULATION_DDOF))
    equity = np.concatenate(([1.0], np.cumprod(1.0 + stream)))
    if name == "max-drawdown":
        return float(_rolling_max_drawdown(equity, len(equity))[0])
    deltas = np.diff(equity)  # rsi
    alpha = 1.0 / len(stream)
    gain = _ewm(np.maximum(deltas, 0.0), alpha)[-1:]
    loss = _ewm(np.maximum(-deltas, 0.0), alpha)[-1:]
    return float(_rsi_from_averages(gain, loss)[0])

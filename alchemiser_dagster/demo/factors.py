"""The factors behind the synthetic market: regimes, volatility, rates, commodities, crypto, trend.

The demo and the tests need data in which the symphonies' ``if`` branches and filters
actually change their answer over time, so the generator simulates a small but
structured market rather than independent random walks:

* **Market factor** (SPY-like): a Markov chain over five regimes (calm bull, choppy,
  grinding bear, crash, recovery) with regime-dependent drift and volatility, times a
  GARCH(1,1)-style multiplier for volatility clustering. During a handful of historical
  episodes (2008, 2018-Q4, the 2020 crash, the 2022 bear market, April 2025, ...) the
  regime is forced so the synthetic history rhymes with the real one; elsewhere it is
  random.
* **Volatility**: a VIX-like level that mean-reverts to a regime target and jumps when
  the market falls; short-term VIX futures (VIXY) follow half its daily % change plus a
  contango roll cost that turns into a backwardation gain when the level is high.
* **Rates**: a 10-year yield with a slow inflation/disinflation regime that flips the
  sign of the stock-bond correlation; bonds return carry minus duration x yield change;
  a short rate derived from the yield gives cash-like funds (BIL, SHV) their tiny vol.
* **Dollar, gold, silver, oil, natural gas, agriculture, base metals**, a broad
  commodity basket, a **crypto** factor with its own bull/bear chain, and a
  **trend-following** managed-futures factor (sign of 3-month momentum across asset
  classes, traded the next day).
* **Sectors / styles / regions** load on the market (and on rates, oil, the dollar...)
  plus their own noise, scaled up in turbulent regimes.

Determinism: every random stream is seeded from ``(seed, blake2b(stream name))`` with
numpy ``SeedSequence`` (never Python's salted ``hash``), so output is identical across
processes. The simulation always starts at :data:`SYNTH_EPOCH`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Final

import numpy as np
import numpy.typing as npt

from alchemiser_dagster.demo.scenario import (
    BULL,
    CRASH,
    CRYPTO_EPISODES,
    CRYPTO_MU,
    CRYPTO_P_STAY,
    DERIVED,
    GARCH_A,
    GARCH_B,
    JUMPY,
    MARKET_EPISODES,
    RATE_EPISODES,
    RATE_P_STAY,
    REGIME_MU,
    REGIME_P,
    REGIME_VIX,
    REGIME_VOL,
    SHORT_RATE_PATH,
    TREND_ASSETS,
    TREND_DRIFT,
    TREND_LOOKBACK,
    TREND_SCALE,
    YIELD_KAPPA,
    YIELD_PATH,
)
from alchemiser_dagster.demo.universe import FACTORS

__all__ = ["DAYS_PER_YEAR", "SYNTH_EPOCH", "FloatArray", "seeded_rng", "simulate_factors"]

FloatArray = npt.NDArray[np.float64]

#: First simulated session (the calendar's first session).
SYNTH_EPOCH: Final = dt.date(2000, 1, 3)
DAYS_PER_YEAR: Final = 252.0


# --- random streams -----------------------------------------------------------------------


def seeded_rng(seed: int, stream: str) -> np.random.Generator:
    """An independent generator for ``stream``, stable across processes and platforms."""
    digest = hashlib.blake2b(stream.encode(), digest_size=16).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def _episode_mask(
    sessions: npt.NDArray[np.datetime64], episodes: tuple[tuple[str, str, int], ...]
) -> npt.NDArray[np.int64]:
    forced = np.full(len(sessions), -1, dtype=np.int64)
    for first, last, state in episodes:
        lo = np.datetime64(first, "D")
        hi = np.datetime64(last, "D")
        forced[(sessions >= lo) & (sessions <= hi)] = state
    return forced


def _markov_chain(
    uniforms: FloatArray, transition: FloatArray, forced: npt.NDArray[np.int64], start: int
) -> npt.NDArray[np.int64]:
    cumulative = np.cumsum(transition, axis=1)
    cumulative[:, -1] = 1.0
    cum_rows = [list(row) for row in cumulative]
    states = np.empty(len(uniforms), dtype=np.int64)
    state = start
    for t, (u, f) in enumerate(zip(uniforms.tolist(), forced.tolist(), strict=True)):
        if f >= 0:
            state = f
        else:
            row = cum_rows[state]
            state = next(i for i, c in enumerate(row) if u < c)
        states[t] = state
    return states


def _two_state(p_stay: tuple[float, float]) -> FloatArray:
    return np.array([[p_stay[0], 1.0 - p_stay[0]], [1.0 - p_stay[1], p_stay[1]]])


def _path(ordinals: FloatArray, points: tuple[tuple[int, float], ...]) -> FloatArray:
    """Piecewise-linear interpolation of mid-year ``points`` at day ``ordinals``."""
    xs = np.array([np.datetime64(f"{year}-07-01", "D") for year, _ in points], dtype="datetime64[D]")
    ys = np.array([value for _, value in points])
    return np.asarray(np.interp(ordinals, xs.astype(np.int64).astype(np.float64), ys))


# --- factor simulation --------------------------------------------------------------------


def simulate_factors(sessions: list[dt.date], seed: int) -> dict[str, FloatArray]:
    """Daily factor returns (and a few state series) over ``sessions``.

    ``sessions`` must start at :data:`SYNTH_EPOCH` for the output to agree with
    :func:`generate_bars`. Returns a dict with every name in ``universe.FACTORS`` (daily
    simple returns) plus state series: ``regime`` (0..4), ``rate_regime``,
    ``crypto_regime``, ``vix`` (level), ``yield10`` and ``short_rate`` (decimals),
    ``turbulence`` (market vol relative to 1 %/day).
    """
    days = np.array(sessions, dtype="datetime64[D]")
    out: dict[str, FloatArray] = {}
    z_market = _simulate_market(out, days, seed)
    _simulate_vix(out, seed)
    _simulate_rates(out, days, seed, z_market)
    _simulate_real_assets(out, seed)
    _simulate_crypto(out, days, seed)
    _simulate_trend(out, seed)
    _simulate_derived(out, seed)
    missing = FACTORS - set(out)
    if missing:  # pragma: no cover - guards the universe/synth contract
        raise RuntimeError(f"factors not simulated: {sorted(missing)}")
    return out


def _simulate_market(out: dict[str, FloatArray], days: npt.NDArray[np.datetime64], seed: int) -> FloatArray:
    """Regime chain + GARCH multiplier; returns the market's standard normal shocks."""
    n = len(days)
    regime = _markov_chain(
        seeded_rng(seed, "regime").random(n),
        REGIME_P,
        _episode_mask(days, MARKET_EPISODES),
        BULL,
    )
    z_m = seeded_rng(seed, "factor:market").standard_normal(n)
    h = np.empty(n)
    h_prev, z_prev = 1.0, 0.0
    omega = 1.0 - GARCH_A - GARCH_B
    for t, z in enumerate(z_m.tolist()):
        h_t = min(omega + GARCH_A * z_prev * z_prev * h_prev + GARCH_B * h_prev, 6.0)
        h[t] = h_t
        h_prev, z_prev = h_t, z
    vol = REGIME_VOL[regime] * np.sqrt(h)
    out["market"] = np.maximum(REGIME_MU[regime] + vol * z_m, -0.25)
    out["regime"] = regime.astype(np.float64)
    out["turbulence"] = vol / 0.01
    return z_m


def _simulate_vix(out: dict[str, FloatArray], seed: int) -> None:
    """VIX level: mean-reverts to the regime's target, jumps when the market falls."""
    market = out["market"]
    n = len(market)
    z_v = seeded_rng(seed, "factor:vix").standard_normal(n)
    target = np.log(REGIME_VIX[out["regime"].astype(np.int64)])
    shock = -5.5 * np.minimum(market, 0.0) - 2.5 * np.maximum(market, 0.0)
    noise = 0.035 * np.sqrt(out["turbulence"]) * z_v
    log_vix = np.empty(n)
    x = float(np.log(22.0))
    lo, hi = float(np.log(9.0)), float(np.log(85.0))
    for t, (tg, sh, nz) in enumerate(zip(target.tolist(), shock.tolist(), noise.tolist(), strict=True)):
        x = min(max(x + 0.06 * (tg - x) + sh + nz, lo), hi)
        log_vix[t] = x
    vix = np.exp(log_vix)
    vix_prev = np.concatenate(([22.0], vix[:-1]))
    log_change = np.log(vix / vix_prev)
    out["vix"] = vix
    # Futures move about half as much as spot (in log terms) and pay the roll: a cost in
    # contango (low VIX), a gain in backwardation (high VIX).
    out["vix_st"] = np.expm1(0.5 * log_change) - 0.005 * np.tanh((26.0 - vix_prev) / 8.0)
    out["vix_mt"] = np.expm1(0.22 * log_change) - 0.0009 * np.tanh((26.0 - vix_prev) / 8.0)


def _simulate_rates(
    out: dict[str, FloatArray],
    days: npt.NDArray[np.datetime64],
    seed: int,
    z_market: FloatArray,
) -> None:
    """10-year yield around a scripted path; stock-bond correlation set by rate regime."""
    n = len(days)
    regime = out["regime"]
    rate_regime = _markov_chain(
        seeded_rng(seed, "rate-regime").random(n),
        _two_state(RATE_P_STAY),
        _episode_mask(days, RATE_EPISODES),
        0,
    )
    z_y = seeded_rng(seed, "factor:rates").standard_normal(n)
    # rho > 0: yields rise with stocks, so bonds hedge; rho < 0 (inflation): they don't.
    rho = np.where(rate_regime == 1, -0.4, np.where(regime == CRASH, 0.6, 0.35))
    crash_boost = 1.0 + 0.3 * (regime == CRASH)
    yield_shock = 0.00065 * crash_boost * (rho * z_market + np.sqrt(1.0 - rho * rho) * z_y)
    ordinals = days.astype(np.int64).astype(np.float64)
    anchor_yield = _path(ordinals, YIELD_PATH)
    short_rate = _path(ordinals, SHORT_RATE_PATH)
    yields = np.empty(n)
    y = float(anchor_yield[0])
    for t, (a, sh) in enumerate(zip(anchor_yield.tolist(), yield_shock.tolist(), strict=True)):
        y = max(y + YIELD_KAPPA * (a - y) + sh, 0.002)
        yields[t] = y
    y_prev = np.concatenate(([yields[0]], yields[:-1]))
    short_prev = np.concatenate(([short_rate[0]], short_rate[:-1]))
    out["rate_regime"] = rate_regime.astype(np.float64)
    out["yield10"] = yields
    out["short_rate"] = short_rate
    out["duration"] = -(yields - y_prev)
    out["carry"] = y_prev / DAYS_PER_YEAR
    out["cash"] = short_prev / DAYS_PER_YEAR


def _simulate_real_assets(out: dict[str, FloatArray], seed: int) -> None:
    """Dollar, metals, energy, agriculture and a broad commodity basket."""
    market = out["market"]
    n = len(market)
    crash = out["regime"] == CRASH
    noise_scale = np.sqrt(out["turbulence"])

    def z(name: str) -> FloatArray:
        return seeded_rng(seed, f"factor:{name}").standard_normal(n)

    out["usd"] = np.where(crash, -0.15, -0.06) * market + 0.0045 * z("usd")
    out["gold"] = 0.00025 - 0.4 * out["usd"] + 0.03 * market + 0.009 * noise_scale**0.3 * z("gold")
    out["silver"] = 1.2 * out["gold"] + 0.15 * market + 0.011 * z("silver")
    zz = seeded_rng(seed, "factor:oil").standard_normal((n, 3))
    out["oil"] = np.where(crash, -0.004, 0.0001) + 0.45 * market + 0.019 * noise_scale**0.5 * zz[:, 0]
    _add_jumps(out, "oil", zz)
    out["natgas"] = -0.0006 + 0.1 * market + 0.032 * z("natgas")
    out["ag"] = 0.0001 + 0.1 * market + 0.009 * z("ag")
    out["base_metals"] = 0.0001 + 0.35 * market + 0.011 * z("base_metals")
    out["commodities"] = (
        0.45 * out["oil"]
        + 0.10 * out["natgas"]
        + 0.15 * out["gold"]
        + 0.15 * out["base_metals"]
        + 0.15 * out["ag"]
    )


def _simulate_crypto(out: dict[str, FloatArray], days: npt.NDArray[np.datetime64], seed: int) -> None:
    """Crypto: its own bull/bear chain, market beta, high vol."""
    n = len(days)
    crypto_regime = _markov_chain(
        seeded_rng(seed, "crypto-regime").random(n),
        _two_state(CRYPTO_P_STAY),
        _episode_mask(days, CRYPTO_EPISODES),
        0,
    )
    z = seeded_rng(seed, "factor:crypto").standard_normal(n)
    out["crypto_regime"] = crypto_regime.astype(np.float64)
    out["crypto"] = (
        CRYPTO_MU[crypto_regime] + 0.9 * out["market"] + 0.032 * np.sqrt(out["turbulence"]) ** 0.5 * z
    )


def _simulate_trend(out: dict[str, FloatArray], seed: int) -> None:
    """Managed futures: yesterday's 3-month momentum sign times today's return."""
    n = len(out["market"])
    legs = {**out, "bond10": out["carry"] + 7.5 * out["duration"]}
    signal_sum = np.zeros(n)
    k = TREND_LOOKBACK
    for name, nominal in TREND_ASSETS:
        r = legs[name]
        level = np.concatenate(([0.0], np.cumsum(np.log1p(r))))  # log price before day t
        momentum = np.zeros(n)
        momentum[k:] = level[k:n] - level[: n - k]
        signal_sum += np.sign(momentum) * r / nominal
    z = seeded_rng(seed, "factor:trend").standard_normal(n)
    out["trend"] = TREND_DRIFT + TREND_SCALE * signal_sum / len(TREND_ASSETS) + 0.002 * z


def _simulate_derived(out: dict[str, FloatArray], seed: int) -> None:
    """Sectors, styles and regions: market beta + other factors + own (turbulent) noise."""
    market = out["market"]
    n = len(market)
    noise_scale = np.sqrt(out["turbulence"])
    for name, (beta, own_vol, extra) in DERIVED.items():
        zz = seeded_rng(seed, f"factor:{name}").standard_normal((n, 3))
        r = beta * market + own_vol * noise_scale * zz[:, 0]
        for key, weight in extra:
            r = r + weight * out[key]
        out[name] = r
        if name in JUMPY:
            _add_jumps(out, name, zz)


def _add_jumps(out: dict[str, FloatArray], name: str, zz: FloatArray) -> None:
    size, mean = JUMPY[name]
    jump = np.abs(zz[:, 1]) > 2.5
    out[name] = out[name] + np.where(jump, mean + size * zz[:, 2], 0.0)

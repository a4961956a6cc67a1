"""Deterministic synthetic daily bars for every symbol the strategies name.

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
* **Symbols** follow :mod:`~alchemiser_dagster.domain.marketdata.universe` profiles;
  leveraged funds are exactly ``k x`` their underlying's daily return minus fees, so
  they decay in chop.

Determinism: every random stream is seeded from ``(seed, blake2b(stream name))`` with
numpy ``SeedSequence`` (never Python's salted ``hash``), so output is identical across
processes. The simulation always starts at :data:`SYNTH_EPOCH` and prices are anchored at
:data:`ANCHOR_SESSION` (recent, so that today's prices are realistic even for funds that
decay, as in split-adjusted real data), hence a symbol's bars do not depend on which other symbols are
requested, nor on ``start``/``end``: a shorter request is an exact slice of a longer one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from alchemiser_dagster.domain import calendar
from alchemiser_dagster.domain.marketdata.bars import BAR_COLUMNS
from alchemiser_dagster.domain.marketdata.universe import (
    CORPUS_SYMBOLS,
    FACTORS,
    SymbolProfile,
    profile_for,
)

__all__ = ["ANCHOR_SESSION", "SYNTH_EPOCH", "generate_bars", "simulate_factors"]

FloatArray = npt.NDArray[np.float64]

#: First simulated session (the calendar's first session).
SYNTH_EPOCH: Final = dt.date(2000, 1, 3)
#: Session on which every symbol closes at its profile's ``base_price``.
ANCHOR_SESSION: Final = dt.date(2026, 1, 2)
_DAYS_PER_YEAR: Final = 252.0

# --- market regimes -----------------------------------------------------------------------
BULL, CHOP, BEAR, CRASH, RECOVERY = range(5)
_REGIME_MU: Final = np.array([0.00085, 0.0002, -0.0010, -0.0075, 0.0035])
_REGIME_VOL: Final = np.array([0.0075, 0.0115, 0.0155, 0.033, 0.018])
_REGIME_VIX: Final = np.array([13.5, 18.0, 24.0, 42.0, 24.0])
_REGIME_P: Final = np.array(
    [
        [0.988, 0.009, 0.002, 0.001, 0.000],
        [0.020, 0.965, 0.010, 0.004, 0.001],
        [0.005, 0.020, 0.965, 0.006, 0.004],
        [0.000, 0.020, 0.030, 0.880, 0.070],
        [0.030, 0.020, 0.000, 0.005, 0.945],
    ]
)
_GARCH_A: Final = 0.07
_GARCH_B: Final = 0.90

_MARKET_EPISODES: Final[tuple[tuple[str, str, int], ...]] = (
    ("2000-09-01", "2001-09-10", BEAR),
    ("2001-09-17", "2001-09-21", CRASH),
    ("2001-09-24", "2001-11-30", RECOVERY),
    ("2002-04-01", "2002-07-23", BEAR),
    ("2002-07-24", "2002-08-22", RECOVERY),
    ("2002-08-23", "2002-10-09", BEAR),
    ("2003-03-12", "2003-06-30", RECOVERY),
    ("2007-10-10", "2008-09-12", BEAR),
    ("2008-09-15", "2008-11-20", CRASH),
    ("2008-11-21", "2009-03-09", BEAR),
    ("2009-03-10", "2009-06-12", RECOVERY),
    ("2010-05-06", "2010-05-07", CRASH),
    ("2011-08-01", "2011-08-10", CRASH),
    ("2015-08-20", "2015-08-25", CRASH),
    ("2018-01-29", "2018-02-08", CRASH),
    ("2018-10-03", "2018-12-24", BEAR),
    ("2018-12-26", "2019-02-28", RECOVERY),
    ("2020-02-20", "2020-03-23", CRASH),
    ("2020-03-24", "2020-06-08", RECOVERY),
    ("2022-01-04", "2022-06-16", BEAR),
    ("2022-06-17", "2022-08-16", RECOVERY),
    ("2022-08-17", "2022-10-12", BEAR),
    ("2023-10-30", "2023-12-29", RECOVERY),
    ("2025-02-20", "2025-04-01", BEAR),
    ("2025-04-02", "2025-04-08", CRASH),
    ("2025-04-09", "2025-05-15", RECOVERY),
)

# --- rates regimes (1 = inflationary: yields drift up, stocks and bonds fall together) ----
_RATE_P_STAY: Final = (0.997, 0.995)
_RATE_EPISODES: Final[tuple[tuple[str, str, int], ...]] = (
    ("2000-01-03", "2000-05-31", 1),
    ("2000-06-01", "2003-06-13", 0),
    ("2004-06-01", "2006-06-30", 1),
    ("2008-09-01", "2012-12-31", 0),
    ("2013-05-01", "2013-12-31", 1),
    ("2019-01-02", "2020-12-31", 0),
    ("2021-03-01", "2023-10-31", 1),
    ("2024-09-16", "2025-01-14", 1),
)

#: Mid-year anchors (year, decimal) the 10-year yield mean-reverts to (held flat after).
_YIELD_PATH: Final[tuple[tuple[int, float], ...]] = (
    (2000, 0.060), (2001, 0.050), (2002, 0.046), (2003, 0.040), (2004, 0.043),
    (2005, 0.043), (2006, 0.048), (2007, 0.046), (2008, 0.037), (2009, 0.033),
    (2010, 0.032), (2011, 0.028), (2012, 0.018), (2013, 0.024), (2014, 0.025),
    (2015, 0.021), (2016, 0.018), (2017, 0.023), (2018, 0.029), (2019, 0.021),
    (2020, 0.009), (2021, 0.014), (2022, 0.030), (2023, 0.040), (2024, 0.042),
    (2025, 0.043), (2026, 0.042),
)  # fmt: skip
#: Mid-year short rate (cash yield); deterministic, so cash-like funds barely move.
_SHORT_RATE_PATH: Final[tuple[tuple[int, float], ...]] = (
    (2000, 0.062), (2001, 0.039), (2002, 0.017), (2003, 0.011), (2004, 0.014),
    (2005, 0.032), (2006, 0.050), (2007, 0.050), (2008, 0.019), (2009, 0.0015),
    (2015, 0.0015), (2016, 0.004), (2017, 0.010), (2018, 0.018), (2019, 0.022),
    (2020, 0.004), (2021, 0.0008), (2022, 0.017), (2023, 0.050), (2024, 0.051),
    (2025, 0.043), (2026, 0.038),
)  # fmt: skip
_YIELD_KAPPA: Final = 0.01

# --- crypto regimes (0 bull, 1 bear) ------------------------------------------------------
_CRYPTO_P_STAY: Final = (0.993, 0.993)
_CRYPTO_MU: Final = np.array([0.0040, -0.0030])
_CRYPTO_EPISODES: Final[tuple[tuple[str, str, int], ...]] = (
    ("2018-01-08", "2018-12-14", 1),
    ("2019-04-01", "2019-06-26", 0),
    ("2020-10-08", "2021-04-13", 0),
    ("2021-11-10", "2022-11-21", 1),
    ("2023-10-16", "2024-03-13", 0),
    ("2024-11-05", "2024-12-17", 0),
)

#: Derived factors: name -> (market beta, own daily vol, extra loadings on earlier factors).
#: Defined in dependency order.
_DERIVED: Final[dict[str, tuple[float, float, tuple[tuple[str, float], ...]]]] = {
    "nasdaq": (1.15, 0.0045, ()),
    "tech": (0.1, 0.003, (("nasdaq", 0.95),)),
    "semis": (0.2, 0.011, (("nasdaq", 1.15),)),
    "fang": (0.0, 0.007, (("nasdaq", 1.2),)),
    "growth": (0.3, 0.002, (("nasdaq", 0.65),)),
    "value": (0.88, 0.003, ()),
    "dow": (0.95, 0.003, ()),
    "smallcap": (1.15, 0.0065, ()),
    "midcap": (0.5, 0.003, (("smallcap", 0.5),)),
    "financials": (1.1, 0.007, (("duration", -2.0),)),
    "energy": (0.75, 0.009, (("oil", 0.4),)),
    "energy_ep": (0.0, 0.008, (("energy", 1.2), ("oil", 0.35))),
    "gas_producers": (0.6, 0.012, (("natgas", 0.3),)),
    "healthcare": (0.75, 0.006, ()),
    "biotech": (1.05, 0.013, ()),
    "staples": (0.55, 0.005, ()),
    "utilities": (0.5, 0.008, (("duration", 3.0),)),
    "realestate": (0.85, 0.009, (("duration", 4.0),)),
    "industrials": (1.05, 0.005, ()),
    "materials": (1.0, 0.007, (("base_metals", 0.2),)),
    "discretionary": (1.15, 0.006, ()),
    "comms": (1.0, 0.007, ()),
    "homebuilders": (1.3, 0.014, (("duration", 4.0),)),
    "retail": (1.2, 0.011, ()),
    "defense": (0.8, 0.008, ()),
    "clean_energy": (1.3, 0.018, (("duration", 3.0),)),
    "nuclear": (1.1, 0.018, ()),
    "high_beta": (1.6, 0.007, ()),
    "low_vol": (0.65, 0.003, ()),
    "intl_dev": (0.85, 0.006, (("usd", -0.6),)),
    "europe": (0.0, 0.004, (("intl_dev", 1.1),)),
    "em": (0.85, 0.008, (("usd", -0.8),)),
    "china": (0.0, 0.014, (("em", 0.9),)),
    "india": (0.5, 0.009, (("em", 0.3),)),
    "brazil": (0.0, 0.014, (("em", 1.1), ("oil", 0.15))),
    "antibeta": (-0.55, 0.005, ()),
    "gold_miners": (0.45, 0.012, (("gold", 2.0),)),
    "crypto_equity": (0.9, 0.01, (("crypto", 0.6),)),
    "spec_growth": (1.5, 0.013, (("nasdaq", 0.4),)),
}
#: Factors with occasional large jumps (policy surprises): name -> (jump vol, jump mean).
_JUMPY: Final[dict[str, tuple[float, float]]] = {"china": (0.05, 0.01), "oil": (0.06, 0.0)}

#: Trend follower's markets: (factor, nominal daily vol); the bond leg is a 7.5y duration.
_TREND_ASSETS: Final[tuple[tuple[str, float], ...]] = (
    ("market", 0.011),
    ("bond10", 0.0045),
    ("gold", 0.009),
    ("oil", 0.022),
    ("usd", 0.0045),
    ("commodities", 0.011),
)
_TREND_LOOKBACK: Final = 63
_TREND_SCALE: Final = 0.0136
_TREND_DRIFT: Final = 0.0001

_EQUITY_CATEGORIES_WITHOUT_SCALING: Final = frozenset({"fund", "bond", "cash", "leveraged", "inverse"})


# --- random streams -----------------------------------------------------------------------


def _rng(seed: int, stream: str) -> np.random.Generator:
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


def _ewm(values: FloatArray, alpha: float) -> FloatArray:
    """Causal exponentially weighted mean (prefix-stable)."""
    out = pd.Series(values).ewm(alpha=alpha, adjust=False).mean().to_numpy(dtype=np.float64)
    return np.asarray(out, dtype=np.float64)


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
        _rng(seed, "regime").random(n),
        _REGIME_P,
        _episode_mask(days, _MARKET_EPISODES),
        BULL,
    )
    z_m = _rng(seed, "factor:market").standard_normal(n)
    h = np.empty(n)
    h_prev, z_prev = 1.0, 0.0
    omega = 1.0 - _GARCH_A - _GARCH_B
    for t, z in enumerate(z_m.tolist()):
        h_t = min(omega + _GARCH_A * z_prev * z_prev * h_prev + _GARCH_B * h_prev, 6.0)
        h[t] = h_t
        h_prev, z_prev = h_t, z
    vol = _REGIME_VOL[regime] * np.sqrt(h)
    out["market"] = np.maximum(_REGIME_MU[regime] + vol * z_m, -0.25)
    out["regime"] = regime.astype(np.float64)
    out["turbulence"] = vol / 0.01
    return z_m


def _simulate_vix(out: dict[str, FloatArray], seed: int) -> None:
    """VIX level: mean-reverts to the regime's target, jumps when the market falls."""
    market = out["market"]
    n = len(market)
    z_v = _rng(seed, "factor:vix").standard_normal(n)
    target = np.log(_REGIME_VIX[out["regime"].astype(np.int64)])
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
        _rng(seed, "rate-regime").random(n),
        _two_state(_RATE_P_STAY),
        _episode_mask(days, _RATE_EPISODES),
        0,
    )
    z_y = _rng(seed, "factor:rates").standard_normal(n)
    # rho > 0: yields rise with stocks, so bonds hedge; rho < 0 (inflation): they don't.
    rho = np.where(rate_regime == 1, -0.4, np.where(regime == CRASH, 0.6, 0.35))
    crash_boost = 1.0 + 0.3 * (regime == CRASH)
    yield_shock = 0.00065 * crash_boost * (rho * z_market + np.sqrt(1.0 - rho * rho) * z_y)
    ordinals = days.astype(np.int64).astype(np.float64)
    anchor_yield = _path(ordinals, _YIELD_PATH)
    short_rate = _path(ordinals, _SHORT_RATE_PATH)
    yields = np.empty(n)
    y = float(anchor_yield[0])
    for t, (a, sh) in enumerate(zip(anchor_yield.tolist(), yield_shock.tolist(), strict=True)):
        y = max(y + _YIELD_KAPPA * (a - y) + sh, 0.002)
        yields[t] = y
    y_prev = np.concatenate(([yields[0]], yields[:-1]))
    short_prev = np.concatenate(([short_rate[0]], short_rate[:-1]))
    out["rate_regime"] = rate_regime.astype(np.float64)
    out["yield10"] = yields
    out["short_rate"] = short_rate
    out["duration"] = -(yields - y_prev)
    out["carry"] = y_prev / _DAYS_PER_YEAR
    out["cash"] = short_prev / _DAYS_PER_YEAR


def _simulate_real_assets(out: dict[str, FloatArray], seed: int) -> None:
    """Dollar, metals, energy, agriculture and a broad commodity basket."""
    market = out["market"]
    n = len(market)
    crash = out["regime"] == CRASH
    noise_scale = np.sqrt(out["turbulence"])

    def z(name: str) -> FloatArray:
        return _rng(seed, f"factor:{name}").standard_normal(n)

    out["usd"] = np.where(crash, -0.15, -0.06) * market + 0.0045 * z("usd")
    out["gold"] = 0.00025 - 0.4 * out["usd"] + 0.03 * market + 0.009 * noise_scale**0.3 * z("gold")
    out["silver"] = 1.2 * out["gold"] + 0.15 * market + 0.011 * z("silver")
    zz = _rng(seed, "factor:oil").standard_normal((n, 3))
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
        _rng(seed, "crypto-regime").random(n),
        _two_state(_CRYPTO_P_STAY),
        _episode_mask(days, _CRYPTO_EPISODES),
        0,
    )
    z = _rng(seed, "factor:crypto").standard_normal(n)
    out["crypto_regime"] = crypto_regime.astype(np.float64)
    out["crypto"] = (
        _CRYPTO_MU[crypto_regime] + 0.9 * out["market"] + 0.032 * np.sqrt(out["turbulence"]) ** 0.5 * z
    )


def _simulate_trend(out: dict[str, FloatArray], seed: int) -> None:
    """Managed futures: yesterday's 3-month momentum sign times today's return."""
    n = len(out["market"])
    legs = {**out, "bond10": out["carry"] + 7.5 * out["duration"]}
    signal_sum = np.zeros(n)
    k = _TREND_LOOKBACK
    for name, nominal in _TREND_ASSETS:
        r = legs[name]
        level = np.concatenate(([0.0], np.cumsum(np.log1p(r))))  # log price before day t
        momentum = np.zeros(n)
        momentum[k:] = level[k:n] - level[: n - k]
        signal_sum += np.sign(momentum) * r / nominal
    z = _rng(seed, "factor:trend").standard_normal(n)
    out["trend"] = _TREND_DRIFT + _TREND_SCALE * signal_sum / len(_TREND_ASSETS) + 0.002 * z


def _simulate_derived(out: dict[str, FloatArray], seed: int) -> None:
    """Sectors, styles and regions: market beta + other factors + own (turbulent) noise."""
    market = out["market"]
    n = len(market)
    noise_scale = np.sqrt(out["turbulence"])
    for name, (beta, own_vol, extra) in _DERIVED.items():
        zz = _rng(seed, f"factor:{name}").standard_normal((n, 3))
        r = beta * market + own_vol * noise_scale * zz[:, 0]
        for key, weight in extra:
            r = r + weight * out[key]
        out[name] = r
        if name in _JUMPY:
            _add_jumps(out, name, zz)


def _add_jumps(out: dict[str, FloatArray], name: str, zz: FloatArray) -> None:
    size, mean = _JUMPY[name]
    jump = np.abs(zz[:, 1]) > 2.5
    out[name] = out[name] + np.where(jump, mean + size * zz[:, 2], 0.0)


# --- symbols ------------------------------------------------------------------------------


class _SymbolReturns:
    """Memoized per-symbol daily returns (leveraged funds need their underlying's)."""

    def __init__(self, factors: dict[str, FloatArray], n: int, seed: int) -> None:
        self.factors = factors
        self.n = n
        self.seed = seed
        self.returns: dict[str, FloatArray] = {}
        self.noise: dict[str, FloatArray] = {}
        self._in_progress: set[str] = set()

    def get(self, symbol: str) -> FloatArray:
        cached = self.returns.get(symbol)
        if cached is not None:
            return cached
        if symbol in self._in_progress:
            raise ValueError(f"circular symbol profile involving {symbol}")
        self._in_progress.add(symbol)
        try:
            r = self._compute(profile_for(symbol))
        finally:
            self._in_progress.discard(symbol)
        self.returns[symbol] = r
        return r

    def _compute(self, profile: SymbolProfile) -> FloatArray:
        # columns: idio, gap, high, low, volume, jump flag, jump size
        z = _rng(self.seed, f"symbol:{profile.symbol}").standard_normal((self.n, 7))
        self.noise[profile.symbol] = z
        r = np.full(self.n, profile.drift / _DAYS_PER_YEAR)
        for key, beta in profile.loadings:
            source = self.factors[key] if key in FACTORS else self.get(key)
            r = r + beta * source
        idio = profile.idio_vol * z[:, 0]
        if profile.category not in _EQUITY_CATEGORIES_WITHOUT_SCALING:
            idio = idio * np.sqrt(self.factors["turbulence"])
        r = r + idio
        if profile.jumps:
            jump = np.abs(z[:, 5]) > 2.6
            r = r + np.where(jump, 3.0 * profile.idio_vol * z[:, 6], 0.0)
        clipped: FloatArray = np.clip(r, -0.9, 3.0)
        return clipped


def _symbol_bars(profile: SymbolProfile, r: FloatArray, z: FloatArray, anchor: int) -> dict[str, FloatArray]:
    log_r = np.log1p(r)
    level = np.cumsum(log_r)
    close = profile.base_price * np.exp(level - level[anchor])
    prev_close = np.concatenate(([close[0] / (1.0 + r[0])], close[:-1]))
    sig = np.maximum(_ewm(np.abs(r), 0.1) * 1.25, 1e-5)
    open_ = prev_close * np.exp(0.4 * log_r + 0.25 * sig * z[:, 1])
    high = np.maximum(open_, close) * np.exp(0.6 * sig * np.abs(z[:, 2]))
    low = np.minimum(open_, close) * np.exp(-0.6 * sig * np.abs(z[:, 3]))
    surprise = np.minimum(np.abs(r) / sig, 4.0)
    volume = np.maximum(np.rint(profile.base_volume * np.exp(0.3 * z[:, 4] + 0.5 * surprise - 0.5)), 1.0)
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def _parse_symbols(symbols: Iterable[str] | None) -> list[str]:
    if symbols is None:
        return sorted(CORPUS_SYMBOLS)
    if isinstance(symbols, str):
        raise TypeError("symbols must be an iterable of symbols, not a single string")
    chosen = set()
    for s in symbols:
        if not isinstance(s, str) or not s.strip() or s != s.strip():
            raise ValueError(f"invalid symbol {s!r}")
        chosen.add(s)
    return sorted(chosen)


def generate_bars(
    symbols: Iterable[str] | None = None,
    start: dt.date = dt.date(2018, 1, 2),
    end: dt.date | None = None,
    seed: int = 7,
) -> pd.DataFrame:
    """Synthetic daily bars, one row per symbol per NYSE session in ``[start, end]``.

    ``symbols`` defaults to :data:`universe.CORPUS_SYMBOLS` (duplicates are ignored);
    ``end`` defaults to the latest session on or before today; ``seed`` is a
    non-negative int. The frame is in :func:`~.bars.normalize_bars` canonical form:
    columns ``symbol date open high low close volume``, ``symbol`` str, ``date`` python
    ``datetime.date`` objects, prices float64, ``volume`` float64 holding positive whole
    numbers; sorted by (symbol, date). Invariants: close > 0, low > 0,
    high >= max(open, close), low <= min(open, close).

    Deterministic: the same arguments give an identical frame in any process, and a
    symbol's bars are the same whatever other symbols or date range are requested.
    ``ValueError`` for ``start`` before :data:`SYNTH_EPOCH`, ``start > end``, dates
    outside the calendar, or a negative seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if end is None:
        end = calendar.latest_session_on_or_before(dt.date.today())
    if start < SYNTH_EPOCH:
        raise ValueError(
            f"start {start.isoformat()} is before the synthetic history begins ({SYNTH_EPOCH.isoformat()})"
        )
    if start > end:
        raise ValueError(f"start {start.isoformat()} is after end {end.isoformat()}")
    chosen = _parse_symbols(symbols)

    horizon = max(end, ANCHOR_SESSION)
    sessions = calendar.nyse_sessions(SYNTH_EPOCH, horizon)
    session_days = np.array(sessions, dtype="datetime64[D]")
    lo = int(np.searchsorted(session_days, np.datetime64(start, "D"), side="left"))
    hi = int(np.searchsorted(session_days, np.datetime64(end, "D"), side="right"))
    anchor = int(np.searchsorted(session_days, np.datetime64(ANCHOR_SESSION, "D")))
    m = max(hi - lo, 0)
    if not chosen or m == 0:
        return _frame([], np.empty(0, dtype=object), {}, 0)

    factors = simulate_factors(sessions, seed)
    engine = _SymbolReturns(factors, len(sessions), seed)
    columns: dict[str, list[FloatArray]] = {c: [] for c in BAR_COLUMNS[2:]}
    for symbol in chosen:
        r = engine.get(symbol)
        bars = _symbol_bars(profile_for(symbol), r, engine.noise[symbol], anchor)
        for c, values in bars.items():
            columns[c].append(values[lo:hi])
    dates = np.empty(m, dtype=object)
    dates[:] = session_days[lo:hi].astype(object)
    stacked = {c: np.concatenate(parts) for c, parts in columns.items()}
    return _frame(chosen, dates, stacked, m)


def _frame(
    symbols: list[str],
    dates: npt.NDArray[np.object_],
    columns: dict[str, FloatArray],
    per_symbol: int,
) -> pd.DataFrame:
    total = len(symbols) * per_symbol
    date_col = np.empty(total, dtype=object)
    if total:
        date_col[:] = np.tile(dates, len(symbols))
    data: dict[str, object] = {
        "symbol": pd.array(np.repeat(np.array(symbols, dtype=object), per_symbol), dtype="str"),
        "date": pd.Series(date_col, dtype=object),
    }
    for c in BAR_COLUMNS[2:]:
        data[c] = columns.get(c, np.empty(0, dtype=np.float64)).astype(np.float64, copy=False)
    return pd.DataFrame(data, columns=list(BAR_COLUMNS))

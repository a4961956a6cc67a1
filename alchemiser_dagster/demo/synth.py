"""Deterministic synthetic daily bars for every symbol the strategies name (demo and tests).

Each symbol follows its :mod:`~alchemiser_dagster.demo.universe` profile over the factors
simulated in :mod:`~alchemiser_dagster.demo.factors`; leveraged funds are exactly
``k x`` their underlying's daily return minus fees, so they decay in chop.

Prices are anchored at :data:`ANCHOR_SESSION` (recent, so that today's prices are
realistic even for funds that decay, as in split-adjusted real data), and the simulation
always starts at :data:`~alchemiser_dagster.demo.factors.SYNTH_EPOCH`, hence a symbol's
bars do not depend on which other symbols are requested, nor on ``start``/``end``: a
shorter request is an exact slice of a longer one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from alchemiser_dagster.demo.factors import (
    DAYS_PER_YEAR,
    SYNTH_EPOCH,
    FloatArray,
    seeded_rng,
    simulate_factors,
)
from alchemiser_dagster.demo.universe import CORPUS_SYMBOLS, FACTORS, SymbolProfile, profile_for
from alchemiser_dagster.domain import calendar
from alchemiser_dagster.domain.marketdata.bars import BAR_COLUMNS

__all__ = ["ANCHOR_SESSION", "SYNTH_EPOCH", "generate_bars", "simulate_factors"]

#: Session on which every symbol closes at its profile's ``base_price``.
ANCHOR_SESSION: Final = dt.date(2026, 1, 2)


_EQUITY_CATEGORIES_WITHOUT_SCALING: Final = frozenset({"fund", "bond", "cash", "leveraged", "inverse"})


def _ewm(values: FloatArray, alpha: float) -> FloatArray:
    """Causal exponentially weighted mean (prefix-stable)."""
    out = pd.Series(values).ewm(alpha=alpha, adjust=False).mean().to_numpy(dtype=np.float64)
    return np.asarray(out, dtype=np.float64)


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
        z = seeded_rng(self.seed, f"symbol:{profile.symbol}").standard_normal((self.n, 7))
        self.noise[profile.symbol] = z
        r = np.full(self.n, profile.drift / DAYS_PER_YEAR)
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

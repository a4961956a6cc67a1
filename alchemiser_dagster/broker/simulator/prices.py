"""Prices the simulator trades at, derived only from daily bars (deterministic, no randomness).

Decisions (documented because clients and tests depend on them):

* **Ticks.** Bar prices are rounded once, on load, to cents at or above $1 and to $0.0001
  below (Alpaca's pricing increments). The bars endpoint, the intraday path and the fills all
  use these rounded values, so a trade at the close equals the bar's ``c``.
* **Intraday path.** During session D the price moves linearly from D's open to D's close by
  elapsed fraction of the session (early closes shorten it), rounded to the tick. The path is
  monotone within a session, which lets the engine find the first marketable instant of a
  limit order by bisection rather than by sampling.
* **Outside hours.** Before D's open the price is the previous session's close; from D's close
  on it is D's close. A session missing from the bars (e.g. a user file that ends early)
  carries the last known close forward.
* **Quote.** ``half = max(2 bps x price, one tick)``; ask = price + half rounded UP to the tick,
  bid = price - half rounded DOWN (never below one tick). So the spread is at least 2 ticks and
  a market buy always pays more than the last trade.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

import numpy as np
import numpy.typing as npt
import pandas as pd

from alchemiser_dagster.broker.simulator.timeutil import NEW_YORK, session_bounds
from alchemiser_dagster.domain import calendar

__all__ = ["DailyBar", "PriceBook", "Quote", "tick_for"]

CENT = Decimal("0.01")
SUB_CENT = Decimal("0.0001")
HALF_SPREAD_BPS = Decimal("0.0002")


def tick_for(price: Decimal) -> Decimal:
    """Minimum price increment: a cent at or above $1, $0.0001 below."""
    return CENT if price >= 1 else SUB_CENT


def _to_tick(value: float) -> Decimal:
    d = Decimal(repr(float(value)))
    return d.quantize(tick_for(d), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class DailyBar:
    """One rounded daily bar (prices on the tick grid, volume a whole number)."""

    date: dt.date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book at one instant; ``price`` is the last-trade price the quote straddles."""

    bid: Decimal
    ask: Decimal
    price: Decimal
    time: dt.datetime


class _Series:
    """One symbol's bars as arrays (Decimals are made on demand: building ~1M up front is slow)."""

    __slots__ = ("_bars", "_dates", "close", "days", "high", "low", "open", "volume")

    def __init__(
        self, days: npt.NDArray[np.datetime64], ohlc: npt.NDArray[np.float64], volume: npt.NDArray[np.int64]
    ):
        self.days = days
        self.open, self.high, self.low, self.close = (ohlc[:, k] for k in range(4))
        self.volume = volume
        self._bars: list[DailyBar] | None = None
        self._dates: list[dt.date] | None = None

    def bar(self, i: int) -> DailyBar:
        return DailyBar(
            date=self.days[i].astype(object),
            open=_to_tick(self.open[i]),
            high=_to_tick(self.high[i]),
            low=_to_tick(self.low[i]),
            close=_to_tick(self.close[i]),
            volume=int(self.volume[i]),
        )

    def bars(self) -> list[DailyBar]:
        if self._bars is None:
            self._bars = [self.bar(i) for i in range(len(self.days))]
        return self._bars

    def dates(self) -> list[dt.date]:
        if self._dates is None:
            self._dates = list(self.days.astype(object))
        return self._dates


class PriceBook:
    """Daily bars per symbol plus the intraday price model built on them (read-only)."""

    def __init__(self, bars: pd.DataFrame) -> None:
        frame = bars.sort_values(["symbol", "date"], kind="stable")
        symbols = frame["symbol"].astype(str).to_numpy()
        days = pd.to_datetime(frame["date"]).to_numpy().astype("datetime64[D]")
        ohlc = frame[["open", "high", "low", "close"]].to_numpy(dtype=np.float64)
        ohlc = np.where(ohlc >= 1.0, np.round(ohlc, 2), np.round(ohlc, 4))
        volume = frame["volume"].to_numpy(dtype=np.float64).round().astype(np.int64)
        self._series: dict[str, _Series] = {}
        if len(symbols):
            names, starts = np.unique(symbols, return_index=True)
            bounds = [*starts.tolist(), len(symbols)]
            for k, name in enumerate(names):  # the frame is sorted by symbol: starts ascend
                lo, hi = bounds[k], bounds[k + 1]
                self._series[str(name)] = _Series(days[lo:hi], ohlc[lo:hi], volume[lo:hi])

    @property
    def symbols(self) -> list[str]:
        return sorted(self._series)

    def has(self, symbol: str) -> bool:
        return symbol in self._series

    def bars(self, symbol: str) -> list[DailyBar]:
        series = self._series.get(symbol)
        return series.bars() if series is not None else []

    def dates(self, symbol: str) -> list[dt.date]:
        """The bar dates of ``symbol``, ascending (parallel to :meth:`bars`)."""
        series = self._series.get(symbol)
        return series.dates() if series is not None else []

    def _last_on_or_before(self, symbol: str, day: dt.date) -> DailyBar | None:
        series = self._series[symbol]
        i = int(np.searchsorted(series.days, np.datetime64(day, "D"), side="right")) - 1
        return series.bar(i) if i >= 0 else None

    def _last_before(self, symbol: str, day: dt.date) -> DailyBar | None:
        series = self._series[symbol]
        i = int(np.searchsorted(series.days, np.datetime64(day, "D"), side="left")) - 1
        return series.bar(i) if i >= 0 else None

    def price(self, symbol: str, t: dt.datetime) -> Decimal | None:
        """Last-trade price at ``t`` (None when the symbol has no bar on or before then)."""
        if symbol not in self._series:
            return None
        day = calendar.latest_session_on_or_before(t.astimezone(NEW_YORK).date())
        start, end = session_bounds(day)
        if t < start:
            bar = self._last_before(symbol, day)
            return bar.close if bar is not None else None
        bar = self._last_on_or_before(symbol, day)
        if bar is None:
            return None
        if t >= end or bar.date != day:
            return bar.close
        frac = Decimal((t - start).total_seconds()) / Decimal((end - start).total_seconds())
        raw = bar.open + (bar.close - bar.open) * frac
        return raw.quantize(tick_for(raw), rounding=ROUND_HALF_UP)

    def quote(self, symbol: str, t: dt.datetime) -> Quote | None:
        """Bid/ask around :meth:`price` (see the module docstring for the spread)."""
        price = self.price(symbol, t)
        if price is None:
            return None
        tick = tick_for(price)
        half = max(price * HALF_SPREAD_BPS, tick)
        ask = (price + half).quantize(tick, rounding=ROUND_CEILING)
        bid = max((price - half).quantize(tick, rounding=ROUND_FLOOR), tick)
        return Quote(bid=bid, ask=ask, price=price, time=t)

    def previous_close(self, symbol: str, t: dt.datetime) -> Decimal | None:
        """Close of the last bar before the session ``t`` belongs to (Alpaca's lastday_price)."""
        if symbol not in self._series:
            return None
        day = calendar.latest_session_on_or_before(t.astimezone(NEW_YORK).date())
        bar = self._last_before(symbol, day)
        return bar.close if bar is not None else None

    @staticmethod
    def completed_before(t: dt.datetime) -> dt.date:
        """Bars dated strictly before this date are complete at ``t`` (the session closed)."""
        day = calendar.latest_session_on_or_before(t.astimezone(NEW_YORK).date())
        _, end = session_bounds(day)
        return day + dt.timedelta(days=1) if t >= end else day

"""Price history in the shape the evaluator needs: indicator series computed once.

Each (symbol, indicator, window) series is computed over the symbol's whole history
the first time any session asks for it, and then read by position. This is what
makes evaluating a range of sessions cheap: no history is recomputed per day.
Windows count the symbol's own bars, so a symbol that lists later than the others
simply has fewer bars, and a missing bar on a session is an error, never a fill.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from alchemiser_dagster.domain.errors import (
    BadIndicatorValue,
    InsufficientHistory,
    MissingBar,
    StrategyDataError,
    UnknownSymbol,
)
from alchemiser_dagster.domain.marketdata.bars import close_matrix, normalize_bars
from alchemiser_dagster.domain.strategy.ast import Loc
from alchemiser_dagster.domain.strategy.indicators import bars_needed, price_indicator_series

FloatArray = npt.NDArray[np.float64]


class MarketHistory:
    """Daily closes on the input calendar (the distinct dates of the bars)."""

    def __init__(self, sessions: list[dt.date], symbols: list[str], closes: FloatArray) -> None:
        if closes.shape != (len(sessions), len(symbols)):
            raise ValueError("closes must be sessions x symbols")
        self.sessions = sessions
        self.session_index = {session: i for i, session in enumerate(sessions)}
        self._column = {symbol: j for j, symbol in enumerate(symbols)}
        self._closes = closes
        self._series: dict[tuple[str, str, int], list[float]] = {}
        self._returns: dict[str, list[float]] = {}
        self._bar_counts: dict[str, FloatArray] = {}

    @classmethod
    def from_bars(cls, bars: pd.DataFrame, *, source: str = "<frame>") -> MarketHistory:
        sessions, symbols, closes = close_matrix(normalize_bars(bars, source=source))
        return cls(list(sessions), list(symbols), closes)

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._column)

    def position(self, session: dt.date) -> int:
        """Index of a session in the input calendar; KeyError if the bars have no such date."""
        return self.session_index[session]

    # --- lookups used by the evaluator --------------------------------------------------

    def indicator(self, symbol: str, indicator: str, window: int, t: int, loc: Loc) -> float:
        """Value of an indicator on session index `t`, or a typed error saying why not."""
        key = (symbol, indicator, window)
        series = self._series.get(key)
        if series is None:
            series = self._compute(symbol, indicator, window, loc, t)
            self._series[key] = series
        value = series[t]
        if not math.isnan(value):  # infinities were turned into NaN when computed
            return value
        raise self._diagnose(symbol, indicator, window, t, loc)

    def require_bar(self, symbol: str, t: int, loc: Loc) -> None:
        """An allocated asset must have a bar on the session it is allocated for (spec §4)."""
        closes = self._closes_of(symbol, loc, t, "asset", None)
        if math.isnan(closes[t]):
            raise self._error(
                MissingBar, f"no bar for {symbol} dated {self.sessions[t]}", loc, t, symbol, "asset", None
            )

    def daily_return(self, symbol: str, t: int, loc: Loc) -> float:
        """Close-to-close simple return from session t-1 to t (the stream's r_t)."""
        returns = self._returns.get(symbol)
        if returns is None:
            closes = self._closes_of(symbol, loc, t, "return-stream", 1)
            ratio = np.full(len(closes), np.nan)
            ratio[1:] = closes[1:] / closes[:-1] - 1.0
            returns = ratio.tolist()
            self._returns[symbol] = returns
        value = returns[t]
        if not math.isnan(value):
            return value
        closes = self._closes_of(symbol, loc, t)
        missing = t if math.isnan(closes[t]) else t - 1
        raise self._error(
            MissingBar,
            f"no bar for {symbol} on {self.sessions[missing]} (needed for a return stream)",
            loc,
            t,
            symbol,
            "return-stream",
            None,
        )

    # --- internals ----------------------------------------------------------------------

    def _closes_of(
        self, symbol: str, loc: Loc, t: int, indicator: str | None = None, window: int | None = None
    ) -> FloatArray:
        column = self._column.get(symbol)
        if column is None:
            raise self._error(
                UnknownSymbol, f"no bars at all for {symbol}", loc, t, symbol, indicator, window
            )
        closes: FloatArray = self._closes[:, column]
        return closes

    def _compute(self, symbol: str, indicator: str, window: int, loc: Loc, t: int) -> list[float]:
        closes = self._closes_of(symbol, loc, t, indicator, window)
        present = ~np.isnan(closes)
        aligned = np.full(len(closes), np.nan)
        own = price_indicator_series(indicator, closes[present], window)
        own[~np.isfinite(own)] = np.nan
        aligned[present] = own
        result: list[float] = aligned.tolist()
        return result

    def _bars_through(self, symbol: str, t: int) -> int:
        counts = self._bar_counts.get(symbol)
        if counts is None:
            column = self._column[symbol]
            counts = np.cumsum(~np.isnan(self._closes[:, column])).astype(np.float64)
            self._bar_counts[symbol] = counts
        return int(counts[t])

    def _diagnose(self, symbol: str, indicator: str, window: int, t: int, loc: Loc) -> StrategyDataError:
        closes = self._closes_of(symbol, loc, t)
        session = self.sessions[t]
        if math.isnan(closes[t]):
            return self._error(
                MissingBar, f"no bar for {symbol} dated {session}", loc, t, symbol, indicator, window
            )
        have = self._bars_through(symbol, t)
        need = bars_needed(indicator, window)
        if have < need:
            return self._error(
                InsufficientHistory,
                f"{indicator} {window} of {symbol} needs {need} bars, {have} available through {session}",
                loc,
                t,
                symbol,
                indicator,
                window,
            )
        return self._error(
            BadIndicatorValue,
            f"{indicator} {window} of {symbol} is not a finite number on {session}",
            loc,
            t,
            symbol,
            indicator,
            window,
        )

    def _error(
        self,
        kind: type[StrategyDataError],
        message: str,
        loc: Loc,
        t: int,
        symbol: str | None,
        indicator: str | None,
        window: int | None,
    ) -> StrategyDataError:
        return kind(
            message,
            source=loc.source,
            line=loc.line,
            column=loc.column,
            path=loc.path,
            session=self.sessions[t],
            symbol=symbol,
            indicator=indicator,
            window=window,
        )

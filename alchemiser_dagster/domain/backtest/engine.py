"""The backtest: for every session D, the strategies' weights on bars dated <= D, each
symphony's trading setting applied to its sleeve, the account-level target, the real
rebalance planner, and fills at D's close plus slippage.

The same functions as the daily graph decide (`SymphonyEvaluator`, `advance_sleeves`,
`build_target_allocation`, `plan_rebalance`), so a backtest shows what the product would
have done. Money and
quantities are Decimal throughout the book-keeping; statistics are computed on floats.
The result is a pure function of the inputs: no clock, no randomness.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field

from alchemiser_dagster.domain.backtest.metrics import Performance, performance
from alchemiser_dagster.domain.constants import CENT, FRACTIONAL_STEP
from alchemiser_dagster.domain.errors import MarketDataError
from alchemiser_dagster.domain.marketdata.bars import normalize_bars
from alchemiser_dagster.domain.model import FrozenModel
from alchemiser_dagster.domain.portfolio.allocation import build_target_allocation, to_decimal_weights
from alchemiser_dagster.domain.portfolio.models import PlanningSettings
from alchemiser_dagster.domain.portfolio.planner import AssetInput, PlannerInput, QuoteInput, plan_rebalance
from alchemiser_dagster.domain.portfolio.sleeves import SleeveBooks, advance_sleeves, symphony_settings
from alchemiser_dagster.domain.portfolio.trading import TradingSetting
from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory

PRICE_PLACES = Decimal("0.0001")
ACCOUNT = "backtest"


class BacktestSettings(FrozenModel):
    model_config = ConfigDict(strict=False)  # parsed from user text: coercion wanted

    cash: Decimal = Field(default=Decimal(100000), gt=0)
    slippage_bps: Decimal = Field(default=Decimal(5), ge=0, lt=10000)
    planning: PlanningSettings = PlanningSettings()
    fractional: bool = True


class BacktestResult(NamedTuple):
    equity: pd.DataFrame  # one row per session
    holdings: pd.DataFrame  # one row per session and held symbol, after the trades
    trades: pd.DataFrame  # one row per fill
    targets: pd.DataFrame  # one row per session and symbol: the strategies' target, the effective one
    sleeves: pd.DataFrame  # one row per session and strategy
    attribution: pd.DataFrame  # one row per strategy, plus costs and cash
    performance: Performance


class _Strategy(NamedTuple):
    name: str
    share: Decimal
    setting: TradingSetting
    fingerprint: str
    evaluator: SymphonyEvaluator


def _strategies(config: AllocationConfig, history: MarketHistory) -> list[_Strategy]:
    settings, fingerprints = symphony_settings(config)  # the daily graph's `sleeves` reads the same
    return [
        _Strategy(
            name,
            config.allocations[name],
            settings[name],
            fingerprints[name],
            SymphonyEvaluator(load_symphony(config.strategy_path(name)), history),
        )
        for name in config.files
    ]


def _floor(qty: Decimal, fractional: bool) -> Decimal:
    return qty.quantize(FRACTIONAL_STEP if fractional else Decimal(1), rounding=ROUND_DOWN)


class _Book:
    """Cash and positions, and what each session did to them."""

    def __init__(self, cash: Decimal, settings: BacktestSettings) -> None:
        self.cash = cash
        self.positions: dict[str, Decimal] = {}
        self.settings = settings
        self.trades: list[dict[str, object]] = []

    def equity(self, prices: dict[str, Decimal]) -> Decimal:
        return self.cash + sum((q * prices[s] for s, q in self.positions.items()), Decimal(0))

    def fill(
        self, session: dt.date, symbol: str, side: str, qty: Decimal, price: Decimal, reason: str
    ) -> None:
        slip = self.settings.slippage_bps / Decimal(10000)
        if side == "sell":
            fill_price = price * (1 - slip)
            qty = min(qty, self.positions.get(symbol, Decimal(0)))
            notional = (qty * fill_price).quantize(CENT)
            self.cash += notional
            self.positions[symbol] -= qty
        else:
            fill_price = price * (1 + slip)
            if (qty * fill_price).quantize(CENT) > self.cash:  # slippage on top of the planner's estimate
                qty = _floor(self.cash / fill_price, self.settings.fractional)
            notional = (qty * fill_price).quantize(CENT)
            self.cash -= notional
            self.positions[symbol] = self.positions.get(symbol, Decimal(0)) + qty
        if self.positions.get(symbol) == 0:
            del self.positions[symbol]
        if qty > 0:
            self.trades.append(
                {
                    "session": session,
                    "symbol": symbol,
                    "side": side,
                    "qty": qty,
                    "close": price,
                    "fill_price": fill_price.quantize(PRICE_PLACES),
                    "notional": notional,
                    "slippage": (abs(fill_price - price) * qty).quantize(CENT),
                    "reason": reason,
                }
            )


def _closes(bars: pd.DataFrame) -> pd.DataFrame:
    normalized = normalize_bars(bars, source="backtest bars")
    return normalized.pivot(index="date", columns="symbol", values="close")


def _prices(today: dict[str, float], session: dt.date, symbols: Sequence[str]) -> dict[str, float]:
    missing = [s for s in symbols if not np.isfinite(today.get(s, np.nan))]
    if missing:
        raise MarketDataError(f"no close on {session} for {', '.join(sorted(missing))} (held or targeted)")
    return {s: today[s] for s in symbols}


def run_backtest(
    config: AllocationConfig,
    bars: pd.DataFrame,
    start: dt.date | None,
    end: dt.date | None,
    settings: BacktestSettings,
    *,
    progress: Callable[[dt.date], None] | None = None,
) -> BacktestResult:
    """Simulate every session of the bars in [start, end]; strategy errors propagate."""
    history = MarketHistory.from_bars(bars, source="backtest bars")
    closes = _closes(bars)
    sessions = [s for s in history.sessions if (start is None or s >= start) and (end is None or s <= end)]
    if not sessions:
        raise MarketDataError(f"no session of the bars lies in [{start}, {end}]")
    strategies = _strategies(config, history)
    book = _Book(settings.cash, settings)
    sleeves: SleeveBooks | None = None
    equity_rows: list[dict[str, object]] = []
    holding_rows: list[dict[str, object]] = []
    target_rows: list[dict[str, object]] = []
    sleeve_rows: list[dict[str, object]] = []
    matrix = closes.to_numpy(dtype=float)
    row_of = {d: i for i, d in enumerate(closes.index)}
    columns = [str(c) for c in closes.columns]
    settings_of = {s.name: s.setting for s in strategies}
    fingerprints = {s.name: s.fingerprint for s in strategies}
    for session in sessions:
        today = dict(zip(columns, matrix[row_of[session]].tolist(), strict=True))
        raw = {s.name: s.evaluator.evaluate_range([session])[session] for s in strategies}
        held = [b.weights for b in sleeves.sleeves] if sleeves is not None else []
        now = _prices(today, session, sorted(set().union(*raw.values(), *held)))
        previous = sleeves
        sleeves = advance_sleeves(session, previous, settings_of, raw, now, fingerprints)
        for strategy in strategies:
            decided = sleeves.book(strategy.name)
            before = previous.book(strategy.name) if previous is not None else None
            sleeve_return = (
                sum(float(w) * (now[s] / float(before.prices[s]) - 1.0) for s, w in before.weights.items())
                if before
                else 0.0
            )
            sleeve_rows.append(
                {
                    "session": session,
                    "strategy": strategy.name,
                    "target_weights": json.dumps(
                        {k: str(v) for k, v in to_decimal_weights(raw[strategy.name]).items()}
                    ),
                    "held_weights": json.dumps({k: str(v) for k, v in decided.weights.items()}),
                    "rebalanced": decided.traded,
                    "reason": decided.reason,
                    "sleeve_return": sleeve_return,
                    "contribution": float(strategy.share) * sleeve_return,
                }
            )
        effective = {b.strategy: b.weights for b in sleeves.sleeves}
        shares = {s.name: s.share for s in strategies}
        target = build_target_allocation(session, shares, raw)
        applied = build_target_allocation(session, shares, effective)
        prices = session_prices(today, session, set(applied.weights) | set(book.positions))
        trades_before = len(book.trades)
        trade_session(book, settings, session, prices, applied.weights)
        record_session(book, session, prices, trades_before, equity_rows, holding_rows)
        for symbol in sorted(set(target.weights) | set(applied.weights)):
            target_rows.append(
                {
                    "session": session,
                    "symbol": symbol,
                    "target": target.weights.get(symbol, Decimal(0)),
                    "effective": applied.weights.get(symbol, Decimal(0)),
                }
            )
        if progress is not None:
            progress(session)
    return _result(settings, strategies, book, equity_rows, holding_rows, target_rows, sleeve_rows)


def session_prices(today: dict[str, float], session: dt.date, symbols: set[str]) -> dict[str, Decimal]:
    """The session's closes of `symbols` as exact decimals at the recorded precision."""
    found = _prices(today, session, sorted(symbols))
    return {s: Decimal(repr(p)).quantize(PRICE_PLACES) for s, p in found.items()}


def trade_session(
    book: _Book,
    settings: BacktestSettings,
    session: dt.date,
    prices: dict[str, Decimal],
    targets: dict[str, Decimal],
    cash_weight: Decimal = Decimal(0),
) -> None:
    """Plan the book towards `targets` at `prices` with the live planner, and fill the plan."""
    symbols = sorted(prices)
    plan = plan_rebalance(
        PlannerInput(
            equity=book.equity(prices),
            cash=book.cash,
            buying_power=book.cash,
            positions=dict(book.positions),
            quotes={s: QuoteInput(bid=prices[s], ask=prices[s], last=prices[s]) for s in symbols},
            assets={s: AssetInput(tradable=True, fractionable=settings.fractional) for s in symbols},
        ),
        targets,
        settings.planning,
        session=session,
        account_number=ACCOUNT,
        cash_weight=cash_weight,
    )
    for item in plan.items:  # SELLs first, as planned
        book.fill(session, item.symbol, item.side, item.qty, prices[item.symbol], item.reason)


def record_session(
    book: _Book,
    session: dt.date,
    prices: dict[str, Decimal],
    trades_before: int,
    equity_rows: list[dict[str, object]],
    holding_rows: list[dict[str, object]],
) -> None:
    """Append the session's equity row (with the trades since `trades_before`) and holdings."""
    fills = book.trades[trades_before:]
    equity_after = book.equity(prices)
    equity_rows.append(
        {
            "session": session,
            "equity": equity_after.quantize(CENT),
            "cash": book.cash,
            "traded": sum((Decimal(str(f["notional"])) for f in fills), Decimal(0)),
            "slippage": sum((Decimal(str(f["slippage"])) for f in fills), Decimal(0)),
            "orders": len(fills),
        }
    )
    for symbol, qty in sorted(book.positions.items()):
        value = (qty * prices[symbol]).quantize(CENT)
        holding_rows.append(
            {
                "session": session,
                "symbol": symbol,
                "qty": qty,
                "close": prices[symbol],
                "value": value,
                "weight": float(value / equity_after) if equity_after else 0.0,
            }
        )


def _result(
    settings: BacktestSettings,
    strategies: list[_Strategy],
    book: _Book,
    equity_rows: list[dict[str, object]],
    holding_rows: list[dict[str, object]],
    target_rows: list[dict[str, object]],
    sleeve_rows: list[dict[str, object]],
) -> BacktestResult:
    equity = pd.DataFrame(equity_rows)
    curve = [float(v) for v in equity["equity"]]
    dates = list(equity["session"])
    start = float(settings.cash)
    stats = performance(
        dates, start, curve, [float(v) for v in equity["traded"]], [float(v) for v in equity["slippage"]]
    )
    values = np.asarray(curve)
    equity["daily_return"] = values / np.asarray([start, *curve[:-1]]) - 1.0
    equity["drawdown"] = values / np.maximum.accumulate(values) - 1.0
    sleeves = pd.DataFrame(sleeve_rows)
    previous_equity = np.asarray([start, *curve[:-1]])
    rows: list[dict[str, Any]] = []
    for strategy in strategies:
        mine = sleeves[sleeves["strategy"] == strategy.name]
        returns = mine["sleeve_return"].to_numpy()
        sleeve_perf = performance(dates, 1.0, list(np.cumprod(1.0 + returns)), [], [])
        rows.append(
            {
                "strategy": strategy.name,
                "share": float(strategy.share),
                "trading": strategy.setting.label(),
                "threshold": strategy.setting.threshold,
                "rebalances": int(mine["rebalanced"].sum()),
                "sleeve_total_return": sleeve_perf.total_return,
                "sleeve_cagr": sleeve_perf.cagr,
                "sleeve_sharpe": sleeve_perf.sharpe,
                "sleeve_max_drawdown": sleeve_perf.max_drawdown.depth,
                "contribution_usd": float(np.sum(mine["contribution"].to_numpy() * previous_equity)),
            }
        )
    explained = float(sum(r["contribution_usd"] for r in rows))
    rows.append(
        {
            "strategy": "(costs, cash and rounding)",
            "share": None,
            "trading": None,
            "threshold": None,
            "rebalances": None,
            "sleeve_total_return": None,
            "sleeve_cagr": None,
            "sleeve_sharpe": None,
            "sleeve_max_drawdown": None,
            "contribution_usd": stats.end_equity - start - explained,
        }
    )
    trade_columns = [
        "session",
        "symbol",
        "side",
        "qty",
        "close",
        "fill_price",
        "notional",
        "slippage",
        "reason",
    ]
    return BacktestResult(
        equity=equity,
        holdings=pd.DataFrame(holding_rows, columns=["session", "symbol", "qty", "close", "value", "weight"]),
        trades=pd.DataFrame(book.trades, columns=trade_columns),
        targets=pd.DataFrame(target_rows, columns=["session", "symbol", "target", "effective"]),
        sleeves=sleeves,
        attribution=pd.DataFrame(rows),
        performance=stats,
    )

"""Execution benchmark: a 30-item plan walked on the stand-in in simulated time.

Run: `python bench/execution.py`. A fresh stand-in account at 15:00 New York on the fixed
session 2024-06-28 buys the 15 SELL symbols first (through `AlpacaBroker`, default immediate
fills, not counted); the plan then sells those 15 positions in full and buys 15 other
symbols. `execute_plan` runs with the default `ExecutionSettings` (walk 0.50/0.75/0.95, 10 s
steps, 1 s polls) against the real alpaca-py adapter over HTTP; its sleep moves the
stand-in's clock, so no real time is waited. A small proxy counts every broker call.

Goals: execute_plan under 5 s wall, at most 8 broker calls per plan item on average. When a
goal is missed, the same run is repeated on a fresh account under cProfile and the top 10
functions by cumulative time are printed (the stand-in serves on a thread of this process:
its work shows up on the client side as time spent waiting on the socket).
"""

from __future__ import annotations

import cProfile
import datetime as dt
import hashlib
import io
import pstats
import sys
import tempfile
import time
from collections import Counter
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Literal

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alchemiser_dagster.broker.alpaca import AlpacaBroker  # noqa: E402
from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time  # noqa: E402
from alchemiser_dagster.domain.broker import (  # noqa: E402
    AccountInfo,
    AssetInfo,
    MarketClock,
    OrderInfo,
    OrderRequest,
    OrderStatusFilter,
    PositionInfo,
    QuoteInfo,
    TradeInfo,
)
from alchemiser_dagster.domain.execution.engine import ExecutionSettings, execute_plan  # noqa: E402
from alchemiser_dagster.domain.execution.ids import session_prefix  # noqa: E402
from alchemiser_dagster.domain.execution.models import ExecutionResult  # noqa: E402
from alchemiser_dagster.domain.portfolio.models import PlanItem, RebalancePlan  # noqa: E402

SESSION = dt.date(2024, 6, 28)
SEED_AT = dt.time(15, 0)
START_AT = dt.time(15, 30)
SELLS = (
    "SPY",
    "QQQ",
    "IWM",
    "DIA",
    "TLT",
    "IEF",
    "GLD",
    "SLV",
    "XLK",
    "XLF",
    "XLE",
    "XLV",
    "XLU",
    "XLP",
    "XLI",
)
BUYS = (
    "AAPL",
    "MSFT",
    "NVDA",
    "AMZN",
    "GOOGL",
    "META",
    "TSLA",
    "AMD",
    "AVGO",
    "JPM",
    "V",
    "MA",
    "COST",
    "HD",
    "UNH",
)
SEED_USD = Decimal(2000)  # per SELL symbol, bought before the plan
BUY_USD = Decimal(2500)  # per BUY symbol
GOAL_WALL_SECONDS = 5.0
GOAL_CALLS_PER_ITEM = 8.0


class CountingBroker:
    """The `Broker` protocol over `AlpacaBroker`, counting calls per method."""

    def __init__(self, inner: AlpacaBroker) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def get_account(self) -> AccountInfo:
        self.calls["get_account"] += 1
        return self.inner.get_account()

    def get_positions(self) -> list[PositionInfo]:
        self.calls["get_positions"] += 1
        return self.inner.get_positions()

    def get_asset(self, symbol: str) -> AssetInfo:
        self.calls["get_asset"] += 1
        return self.inner.get_asset(symbol)

    def get_clock(self) -> MarketClock:
        self.calls["get_clock"] += 1
        return self.inner.get_clock()

    def get_orders(
        self,
        *,
        status: OrderStatusFilter = "all",
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        symbols: list[str] | None = None,
    ) -> list[OrderInfo]:
        self.calls["get_orders"] += 1
        return self.inner.get_orders(status=status, after=after, until=until, symbols=symbols)

    def get_order_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        self.calls["get_order_by_client_id"] += 1
        return self.inner.get_order_by_client_id(client_order_id)

    def submit_order(self, request: OrderRequest) -> OrderInfo:
        self.calls["submit_order"] += 1
        return self.inner.submit_order(request)

    def cancel_order(self, order_id: str) -> None:
        self.calls["cancel_order"] += 1
        self.inner.cancel_order(order_id)

    def get_latest_quotes(self, symbols: list[str]) -> dict[str, QuoteInfo]:
        self.calls["get_latest_quotes"] += 1
        return self.inner.get_latest_quotes(symbols)

    def get_latest_trades(self, symbols: list[str]) -> dict[str, TradeInfo]:
        self.calls["get_latest_trades"] += 1
        return self.inner.get_latest_trades(symbols)

    def get_daily_bars(self, symbols: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        self.calls["get_daily_bars"] += 1
        return self.inner.get_daily_bars(symbols, start, end)


def seed(server: SimulatorServer, broker: AlpacaBroker) -> None:
    """Buy the SELL symbols (whole shares worth about SEED_USD each) and let them fill."""
    quotes = broker.get_latest_quotes(list(SELLS))
    for symbol in SELLS:
        qty = max(Decimal(1), (SEED_USD / quotes[symbol].ask).to_integral_value(rounding=ROUND_DOWN))
        broker.submit_order(
            OrderRequest(client_order_id=f"seed-{symbol}", symbol=symbol, side="buy", qty=qty)
        )
    server.set_clock(server.now() + dt.timedelta(seconds=1))
    open_seeds = [o.symbol for o in broker.get_orders(status="open")]
    if open_seeds:
        raise SystemExit(f"seed orders did not fill: {open_seeds}")


def item(symbol: str, side: Literal["buy", "sell"], qty: Decimal, price: Decimal) -> PlanItem:
    return PlanItem(
        symbol=symbol,
        side=side,
        qty=qty,
        est_price=price,
        est_value=qty * price,
        current_weight=Decimal(0),
        target_weight=Decimal(0) if side == "sell" else Decimal("0.025"),
        reason="exit" if side == "sell" else "new",
    )


def build_plan(broker: AlpacaBroker) -> RebalancePlan:
    """Exit the 15 held positions (exact broker quantity), buy 15 new names (6 dp)."""
    held = {p.symbol: p.qty for p in broker.get_positions()}
    quotes = broker.get_latest_quotes([*SELLS, *BUYS])
    mid = {s: (q.bid + q.ask) / 2 for s, q in quotes.items()}
    sells = [item(s, "sell", held[s], mid[s]) for s in SELLS]
    buys = [
        item(s, "buy", (BUY_USD / mid[s]).quantize(Decimal("0.000001"), rounding=ROUND_DOWN), mid[s])
        for s in BUYS
    ]
    key = lambda i: (-i.est_value, i.symbol)  # noqa: E731 - the planner's order: value desc, symbol
    items = (*sorted(sells, key=key), *sorted(buys, key=key))
    plan_id = hashlib.sha256(repr([(i.symbol, i.side, str(i.qty)) for i in items]).encode()).hexdigest()
    return RebalancePlan(
        plan_id=plan_id,
        session=SESSION,
        account_number=broker.get_account().account_number,
        items=items,
        skipped=(),
        turnover=sum((i.est_value for i in items), Decimal(0)),
    )


def run_once(
    scratch: Path, profiler: cProfile.Profile | None = None
) -> tuple[float, CountingBroker, int, ExecutionResult]:
    """Seed a fresh account, then time execute_plan alone (optionally under the profiler)."""
    with SimulatorServer(scratch, now=session_time(SESSION, SEED_AT)) as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        seed(server, broker)
        server.set_clock(session_time(SESSION, START_AT))
        plan = build_plan(broker)
        counting = CountingBroker(broker)

        def sleep(seconds: float) -> None:
            server.set_clock(server.now() + dt.timedelta(seconds=seconds))

        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        result = execute_plan(counting, plan, settings=ExecutionSettings(), sleep=sleep)
        wall = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
        ours = [
            o
            for o in broker.get_orders(status="all")
            if o.client_order_id.startswith(session_prefix(SESSION))
        ]
        broker.close()
    return wall, counting, len(ours), result


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        # Warm-up (uncounted): imports, the NYSE calendar, the stand-in's generated bars.
        started = time.perf_counter()
        run_once(Path(scratch) / "warm")
        cold = time.perf_counter() - started
        wall, counting, orders, result = run_once(Path(scratch) / "measured")
        items = len(result.outcomes)
        calls = sum(counting.calls.values())
        per_item = calls / items
        steps = Counter(o.client_order_id[-1] if o.client_order_id else "-" for o in result.outcomes)
        sim_minutes = (result.finished_at - result.started_at).total_seconds() / 60

        print(f"session {SESSION}, {items} items ({len(SELLS)} sells, {len(BUYS)} buys), default settings")
        print(f"cold first run (seed + execute, not measured): {cold:.2f} s")
        print(f"result         : {result.status} - {result.reason}")
        print(f"wall time      : {wall:6.2f} s   (goal < {GOAL_WALL_SECONDS:g} s)")
        print(f"simulated time : {sim_minutes:6.2f} min")
        print(f"broker calls   : {calls} total, {per_item:.2f} per item (goal <= {GOAL_CALLS_PER_ITEM:g})")
        for name, n in counting.calls.most_common():
            print(f"    {name:24s} {n:5d}  ({n / items:.2f} per item)")
        print(f"orders         : {orders} total, {orders / items:.2f} per item")
        print(f"filled at step : {dict(sorted(steps.items()))}  (4 = market)")
        wall_ok, calls_ok = wall < GOAL_WALL_SECONDS, per_item <= GOAL_CALLS_PER_ITEM
        print(f"goal wall < {GOAL_WALL_SECONDS:g} s       : {'MET' if wall_ok else 'MISSED'}")
        print(f"goal calls/item <= {GOAL_CALLS_PER_ITEM:g}  : {'MET' if calls_ok else 'MISSED'}")
        if wall_ok and calls_ok:
            return
        profiler = cProfile.Profile()
        run_once(Path(scratch) / "profiled", profiler)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(10)
        print("\ncProfile of execute_plan (a repeat on a fresh account), top 10 by cumulative time:")
        print(out.getvalue().rstrip())


if __name__ == "__main__":
    main()

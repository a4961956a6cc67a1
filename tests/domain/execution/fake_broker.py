"""An in-memory `Broker` for unit tests of the domain layer (the broker is the unit seam).

Orders live in `orders` (by client_order_id, in placement order). A submitted market order
fills on the next `get_order_by_client_id`/`get_orders` call ("next_read"), at once
("immediate") or never ("never"), per symbol via `fill_modes`. `submit_faults` injects a
business reject (every time) or an ambiguous submit (once) per symbol; `unavailable` names
methods that raise `BrokerUnavailable`. `log` records every call as (method, argument) and
every fill as ("filled", client_order_id), in order, so tests can assert what happened.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Literal

import pandas as pd

from alchemiser_dagster.domain.broker import (
    AccountInfo,
    AssetInfo,
    MarketClock,
    OrderInfo,
    OrderRequest,
    OrderStatusFilter,
    PositionInfo,
    QuoteInfo,
    Side,
    TradeInfo,
)
from alchemiser_dagster.domain.errors import (
    AmbiguousSubmit,
    BrokerNotFound,
    BrokerUnavailable,
    DuplicateClientOrderId,
    OrderRejected,
)

FillMode = Literal["next_read", "immediate", "never"]
#: reject: OrderRejected(403, 40310000) on every submit; commit_then_fail: stores the order, then
#: raises AmbiguousSubmit (once); fail_before_commit: raises AmbiguousSubmit without storing (once).
SubmitFault = Literal["reject", "commit_then_fail", "fail_before_commit"]
REJECT_CODE = 40310000
#: Friday 2024-06-28 10:00 New York, market open, closing at 16:00.
OPEN_CLOCK = MarketClock(
    timestamp=dt.datetime(2024, 6, 28, 14, 0, tzinfo=dt.UTC),
    is_open=True,
    next_open=dt.datetime(2024, 7, 1, 13, 30, tzinfo=dt.UTC),
    next_close=dt.datetime(2024, 6, 28, 20, 0, tzinfo=dt.UTC),
)


class FakeBroker:
    def __init__(
        self,
        account: AccountInfo,
        *,
        positions: list[PositionInfo] | None = None,
        assets: dict[str, AssetInfo] | None = None,
        quotes: dict[str, QuoteInfo] | None = None,
        trades: dict[str, TradeInfo] | None = None,
        clock: MarketClock = OPEN_CLOCK,
        fill_mode: FillMode = "next_read",
    ) -> None:
        self.account = account
        self.positions = list(positions or [])
        self.assets = dict(assets or {})
        self.quotes = dict(quotes or {})
        self.trades = dict(trades or {})
        self.clock = clock
        self.fill_mode = fill_mode
        self.fill_modes: dict[str, FillMode] = {}
        self.fill_prices: dict[str, Decimal] = {}
        self.submit_faults: dict[str, SubmitFault] = {}
        self.unavailable: set[str] = set()
        self.orders: dict[str, OrderInfo] = {}
        self.log: list[tuple[str, object]] = []
        self._reads_until_fill: dict[str, int] = {}
        self._ids = itertools.count(1)

    # --- test helpers ---------------------------------------------------------------------
    def called(self, method: str) -> list[object]:
        """The arguments of every logged `method` call (or "filled" event), in order."""
        return [arg for name, arg in self.log if name == method]

    def advance(self, seconds: float) -> None:
        """Move the clock forward: pass as the injected `sleep` to model time passing."""
        self.clock = self.clock.model_copy(
            update={"timestamp": self.clock.timestamp + dt.timedelta(seconds=seconds)}
        )

    def add_order(
        self, client_order_id: str, symbol: str, side: Side, qty: str, *, status: str = "filled",
        price: str | None = None, fill_after_reads: int | None = None,
        submitted_at: dt.datetime | None = None,
    ) -> OrderInfo:  # fmt: skip
        """Preload an order (an earlier run's); an open one fills after `fill_after_reads` reads."""
        order = self._new_order(client_order_id, symbol, side, Decimal(qty), submitted_at)
        order = order.model_copy(update={"status": status})
        if status == "filled":
            order = self._filled(order, Decimal(price) if price else None)
        self.orders[client_order_id] = order
        if fill_after_reads is not None:
            self._reads_until_fill[client_order_id] = fill_after_reads
        return order

    # --- Broker ---------------------------------------------------------------------------
    def get_account(self) -> AccountInfo:
        self._call("get_account", None)
        return self.account

    def get_positions(self) -> list[PositionInfo]:
        self._call("get_positions", None)
        return list(self.positions)

    def get_asset(self, symbol: str) -> AssetInfo:
        self._call("get_asset", symbol)
        if symbol not in self.assets:
            raise BrokerNotFound(f"asset not found: {symbol}", status=404)
        return self.assets[symbol]

    def get_clock(self) -> MarketClock:
        self._call("get_clock", None)
        return self.clock

    def get_orders(
        self, *, status: OrderStatusFilter = "all", after: dt.datetime | None = None,
        until: dt.datetime | None = None, symbols: list[str] | None = None,
    ) -> list[OrderInfo]:  # fmt: skip
        self._call("get_orders", status)
        self._tick()
        return [
            o
            for o in self.orders.values()
            if (status == "all" or (status == "open") != o.is_terminal)
            and (after is None or (o.submitted_at is not None and o.submitted_at > after))
            and (until is None or (o.submitted_at is not None and o.submitted_at < until))
            and (symbols is None or o.symbol in symbols)
        ]

    def get_order_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        self._call("get_order_by_client_id", client_order_id)
        self._tick()
        return self.orders.get(client_order_id)

    def submit_order(self, request: OrderRequest) -> OrderInfo:
        coid = request.client_order_id
        self.log.append(("submit_order", coid))
        fault = self.submit_faults.get(request.symbol)
        if fault == "reject":
            raise OrderRejected("insufficient buying power", status=403, code=REJECT_CODE)
        if fault == "fail_before_commit":
            del self.submit_faults[request.symbol]
            raise AmbiguousSubmit("read timed out", client_order_id=coid, status=None)
        if coid in self.orders:
            raise DuplicateClientOrderId(
                "client_order_id must be unique", client_order_id=coid, status=422, code=40010001
            )
        order = self._new_order(coid, request.symbol, request.side, request.qty, self.clock.timestamp)
        mode = self.fill_modes.get(request.symbol, self.fill_mode)
        self.orders[coid] = order
        if mode == "immediate":
            self._fill(coid)
        elif mode == "next_read":
            self._reads_until_fill[coid] = 1
        if fault == "commit_then_fail":
            del self.submit_faults[request.symbol]
            raise AmbiguousSubmit("504 gateway timeout", client_order_id=coid, status=504)
        return self.orders[coid]

    def cancel_order(self, order_id: str) -> None:
        self.log.append(("cancel_order", order_id))
        found = [o for o in self.orders.values() if o.id == order_id]
        if not found:
            raise BrokerNotFound(f"order not found: {order_id}", status=404)
        order = found[0]
        self._reads_until_fill.pop(order.client_order_id, None)
        if not order.is_terminal:
            self.orders[order.client_order_id] = order.model_copy(update={"status": "canceled"})

    def get_latest_quotes(self, symbols: list[str]) -> dict[str, QuoteInfo]:
        self._call("get_latest_quotes", tuple(symbols))
        return {s: self.quotes[s] for s in symbols if s in self.quotes}

    def get_latest_trades(self, symbols: list[str]) -> dict[str, TradeInfo]:
        self._call("get_latest_trades", tuple(symbols))
        return {s: self.trades[s] for s in symbols if s in self.trades}

    def get_daily_bars(self, symbols: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        raise NotImplementedError("the fake broker has no bars")

    # --- internals ------------------------------------------------------------------------
    def _call(self, method: str, arg: object) -> None:
        self.log.append((method, arg))
        if method in self.unavailable:
            raise BrokerUnavailable(f"{method}: 503 service unavailable", status=503)

    def _tick(self) -> None:
        for coid in list(self._reads_until_fill):
            self._reads_until_fill[coid] -= 1
            if self._reads_until_fill[coid] <= 0:
                del self._reads_until_fill[coid]
                self._fill(coid)

    def _fill(self, coid: str) -> None:
        self.log.append(("filled", coid))
        self.orders[coid] = self._filled(self.orders[coid], None)

    def _filled(self, order: OrderInfo, price: Decimal | None) -> OrderInfo:
        quote = self.quotes.get(order.symbol)
        default = (quote.bid + quote.ask) / 2 if quote is not None else Decimal(100)
        price = price or self.fill_prices.get(order.symbol, default)
        update = {"status": "filled", "filled_qty": order.qty, "filled_avg_price": price}
        return order.model_copy(update={**update, "filled_at": self.clock.timestamp})

    def _new_order(
        self, coid: str, symbol: str, side: Side, qty: Decimal, at: dt.datetime | None
    ) -> OrderInfo:
        at = at or self.clock.timestamp
        return OrderInfo(
            id=f"ord-{next(self._ids)}", client_order_id=coid, symbol=symbol, side=side,
            type="market", status="new", qty=qty, notional=None, filled_qty=Decimal(0),
            filled_avg_price=None, limit_price=None, submitted_at=at, updated_at=at, filled_at=None,
        )  # fmt: skip


# --- record factories (strings read as Decimal) ---------------------------------------------
def account(equity: str = "10000", cash: str = "10000") -> AccountInfo:
    return AccountInfo(
        account_number="PA123", status="ACTIVE", currency="USD", cash=Decimal(cash),
        equity=Decimal(equity), buying_power=Decimal(cash), trading_blocked=False, account_blocked=False,
    )  # fmt: skip


def position(symbol: str, qty: str, price: str) -> PositionInfo:
    q, p = Decimal(qty), Decimal(price)
    side: Literal["long", "short"] = "short" if q < 0 else "long"
    return PositionInfo(
        symbol=symbol, qty=q, side=side, market_value=q * p, avg_entry_price=p, current_price=p
    )


def asset(symbol: str, fractionable: bool = True) -> AssetInfo:
    return AssetInfo(symbol=symbol, tradable=True, fractionable=fractionable, shortable=True, status="active")


def quote(symbol: str, bid: str, ask: str) -> QuoteInfo:
    one = Decimal(1)
    return QuoteInfo(
        symbol=symbol, bid=Decimal(bid), ask=Decimal(ask), bid_size=one, ask_size=one,
        timestamp=OPEN_CLOCK.timestamp,
    )  # fmt: skip


def trade(symbol: str, price: str) -> TradeInfo:
    return TradeInfo(symbol=symbol, price=Decimal(price), size=Decimal(1), timestamp=OPEN_CLOCK.timestamp)

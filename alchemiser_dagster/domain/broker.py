"""What the domain needs from a broker: typed records and one small protocol.

`broker/alpaca/` implements `Broker` over alpaca-py; the domain and its tests never
see the SDK. Money and quantities are Decimal, parsed from the broker's strings at the
adapter. Timestamps are timezone-aware.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol

from alchemiser_dagster.domain.model import FrozenModel

if TYPE_CHECKING:  # only the Protocol's signature names it; `alchemiser plan` needs no pandas
    import pandas as pd

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
OrderStatusFilter = Literal["open", "closed", "all"]

# Alpaca's order statuses after which nothing more happens to the order.
TERMINAL_ORDER_STATUSES: frozenset[str] = frozenset(
    {"filled", "canceled", "expired", "rejected", "replaced", "done_for_day", "stopped"}
)


class AccountInfo(FrozenModel):
    account_number: str
    status: str
    currency: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    trading_blocked: bool
    account_blocked: bool


class PositionInfo(FrozenModel):
    symbol: str
    qty: Decimal  # negative for a short
    side: Literal["long", "short"]
    market_value: Decimal
    avg_entry_price: Decimal
    current_price: Decimal | None


class AssetInfo(FrozenModel):
    symbol: str
    tradable: bool
    fractionable: bool
    shortable: bool
    status: str


class QuoteInfo(FrozenModel):
    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: Decimal
    ask_size: Decimal
    timestamp: dt.datetime


class TradeInfo(FrozenModel):
    symbol: str
    price: Decimal
    size: Decimal
    timestamp: dt.datetime


class MarketClock(FrozenModel):
    timestamp: dt.datetime
    is_open: bool
    next_open: dt.datetime
    next_close: dt.datetime


class OrderRequest(FrozenModel):
    """A DAY order; `client_order_id` is always ours and deterministic."""

    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    type: OrderType = "market"
    limit_price: Decimal | None = None


class OrderInfo(FrozenModel):
    id: str
    client_order_id: str
    symbol: str
    side: Side
    type: str
    status: str
    qty: Decimal | None
    notional: Decimal | None
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    limit_price: Decimal | None
    submitted_at: dt.datetime | None
    updated_at: dt.datetime | None
    filled_at: dt.datetime | None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_ORDER_STATUSES


class Broker(Protocol):
    """The broker calls the product makes. Every method raises only `BrokerError`s."""

    def get_account(self) -> AccountInfo: ...

    def get_positions(self) -> list[PositionInfo]: ...

    def get_asset(self, symbol: str) -> AssetInfo: ...

    def get_clock(self) -> MarketClock: ...

    def get_orders(
        self,
        *,
        status: OrderStatusFilter = "all",
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        symbols: list[str] | None = None,
    ) -> list[OrderInfo]: ...

    def get_order_by_client_id(self, client_order_id: str) -> OrderInfo | None: ...

    def submit_order(self, request: OrderRequest) -> OrderInfo: ...

    def cancel_order(self, order_id: str) -> None: ...

    def get_latest_quotes(self, symbols: list[str]) -> dict[str, QuoteInfo]: ...

    def get_latest_trades(self, symbols: list[str]) -> dict[str, TradeInfo]: ...

    def get_daily_bars(self, symbols: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Adjusted daily bars as a long table with the columns of `marketdata.bars.BAR_COLUMNS`."""
        ...

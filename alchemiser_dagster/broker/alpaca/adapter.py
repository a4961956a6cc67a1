"""`AlpacaBroker`: the `Broker` protocol over alpaca-py, bounded HTTP, no hidden retries.

The domain never sees the SDK. This package is the only place that knows about
``alpaca-py`` and ``requests``: `transport` bounds every request and switches the SDK's
own retries off (one HTTP request per call, ``POST /v2/orders`` included), `errors`
translates every failure into the broker error tree of `domain/errors.py` (a submit that
may have landed becomes `AmbiguousSubmit`), `parsing` turns every answer into the records
of `domain/broker.py`. This module holds the calls: which endpoint, which request, paging.

The API keys never appear in a message or in ``repr``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Final, TypeVar
from uuid import UUID

import pandas as pd
import pydantic
from alpaca.common.enums import Sort
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.models import Quote, Trade
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Asset, Clock, Order, Position, TradeAccount
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest

from alchemiser_dagster.broker.alpaca.errors import excerpt, translated
from alchemiser_dagster.broker.alpaca.parsing import (
    account_info,
    as_dict,
    as_list,
    as_model,
    asset_info,
    aware,
    bars_frame,
    collect_bars,
    empty_bars,
    market_clock,
    opt_aware,
    order_info,
    position_info,
    quote_info,
    trade_info,
)
from alchemiser_dagster.broker.alpaca.transport import harden, normalize_url
from alchemiser_dagster.domain.broker import (
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
from alchemiser_dagster.domain.constants import NEW_YORK
from alchemiser_dagster.domain.errors import (
    AmbiguousSubmit,
    BrokerError,
    BrokerNotFound,
    ConfigError,
    OrderRejected,
)
from alchemiser_dagster.domain.marketdata.bars import BAR_COLUMNS

__all__ = ["AlpacaBroker"]

#: Alpaca's maximum page size for ``GET /v2/orders``.
ORDERS_PAGE_LIMIT: Final = 500
#: Symbols per market-data request (keeps URLs short).
SYMBOL_CHUNK: Final = 100

_T = TypeVar("_T")


def _unique(symbols: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))


def _chunks(items: list[str], size: int = SYMBOL_CHUNK) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class AlpacaBroker:
    """:class:`~alchemiser_dagster.domain.broker.Broker` over alpaca-py.

    ``base_url`` / ``data_url`` override the trading / market-data hosts (a trailing ``/``
    is removed); ``data_url`` defaults to ``base_url`` when only that is given, because the
    local stand-in serves both on one port. ``timeout_seconds`` bounds the connect and every
    read of each HTTP request. ``feed`` selects the market-data feed (``iex``, ``sip``, ...;
    Alpaca's default when None).
    """

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        paper: bool = True,
        base_url: str | None = None,
        data_url: str | None = None,
        timeout_seconds: float = 10.0,
        feed: str | None = None,
    ) -> None:
        if not api_key or not secret_key:
            raise ConfigError("Alpaca needs both an API key and a secret key")
        if not (math.isfinite(timeout_seconds) and timeout_seconds > 0):
            raise ConfigError(f"timeout_seconds must be a positive number, got {timeout_seconds!r}")
        try:
            self._feed = DataFeed(feed) if feed is not None else None
        except ValueError:
            raise ConfigError(f"unknown Alpaca data feed {feed!r}") from None
        self._paper = paper
        self._base_url = normalize_url(base_url, "base_url")
        self._data_url = normalize_url(data_url, "data_url") or self._base_url
        self._timeout = float(timeout_seconds)
        # Only used to scrub messages; never printed.
        self._secrets: tuple[str, ...] = tuple(s for s in (api_key, secret_key) if len(s) >= 4)
        self._trading = TradingClient(api_key, secret_key, paper=paper, url_override=self._base_url)
        self._data = StockHistoricalDataClient(api_key, secret_key, url_override=self._data_url)
        # Bars come in tens of thousands; the SDK's raw mode skips building a pydantic
        # model per bar (the slowest part of a fetch) and we validate the frame ourselves.
        self._raw_data = StockHistoricalDataClient(
            api_key, secret_key, url_override=self._data_url, raw_data=True
        )
        harden(self._trading, self._timeout)
        harden(self._data, self._timeout)
        harden(self._raw_data, self._timeout)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(paper={self._paper}, base_url={self._base_url!r}, "
            f"data_url={self._data_url!r}, timeout_seconds={self._timeout}, api_key=***, secret_key=***)"
        )

    __str__ = __repr__

    def close(self) -> None:
        """Close the HTTP connection pools of all three clients."""
        for client in (self._trading, self._data, self._raw_data):
            client._session.close()

    def __enter__(self) -> AlpacaBroker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- error translation ----------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _call(
        self, what: str, call: Callable[[], _T], *, order_call: bool = False, submit_id: str | None = None
    ) -> _T:
        """One SDK call, its failures translated (see `errors.translated`)."""
        return translated(what, call, scrub=self._scrub, order_call=order_call, submit_id=submit_id)

    # --- account ------------------------------------------------------------------------

    def get_account(self) -> AccountInfo:
        what = "get account"
        return account_info(as_model(self._call(what, self._trading.get_account), TradeAccount, what), what)

    def get_positions(self) -> list[PositionInfo]:
        what = "get positions"
        positions = as_list(self._call(what, self._trading.get_all_positions), Position, what)
        return [position_info(p, what) for p in positions]

    def get_asset(self, symbol: str) -> AssetInfo:
        what = f"get asset {symbol}"
        return asset_info(
            as_model(self._call(what, partial(self._trading.get_asset, symbol)), Asset, what), what
        )

    def get_clock(self) -> MarketClock:
        what = "get clock"
        return market_clock(as_model(self._call(what, self._trading.get_clock), Clock, what), what)

    # --- orders -------------------------------------------------------------------------

    def get_orders(
        self,
        *,
        status: OrderStatusFilter = "all",
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        symbols: list[str] | None = None,
    ) -> list[OrderInfo]:
        """Every matching order, oldest submission first (pages of 500 until exhausted)."""
        what = f"list {status} orders"
        found: dict[str, Order] = {}
        symbol_groups: list[list[str] | None] = [None]
        if symbols is not None:
            symbol_groups = list(_chunks(_unique(symbols)))
            if not symbol_groups:
                return []
        for group in symbol_groups:
            for order in self._order_pages(what, status, after, until, group):
                found.setdefault(str(order.id), order)
        # Stable: orders sharing a submission time keep the broker's order.
        ordered = sorted(found.values(), key=lambda o: aware(o.submitted_at))
        return [order_info(o, what) for o in ordered]

    def _order_pages(
        self,
        what: str,
        status: OrderStatusFilter,
        after: dt.datetime | None,
        until: dt.datetime | None,
        symbols: list[str] | None,
    ) -> list[Order]:
        """Walk ``direction=asc`` pages, restarting each from the last submission time.

        Alpaca's ``after`` is exclusive; the cursor is stepped back one microsecond so
        orders sharing the boundary timestamp are not lost, and duplicates are dropped by id.
        """
        orders: dict[str, Order] = {}
        cursor = opt_aware(after)
        while True:
            request = GetOrdersRequest(
                status=QueryOrderStatus(status),
                limit=ORDERS_PAGE_LIMIT,
                direction=Sort.ASC,
                after=cursor,
                until=opt_aware(until),
                symbols=symbols,
            )
            page = as_list(self._call(what, partial(self._trading.get_orders, filter=request)), Order, what)
            new = 0
            for order in page:
                if str(order.id) not in orders:
                    orders[str(order.id)] = order
                    new += 1
            if len(page) < ORDERS_PAGE_LIMIT:
                return list(orders.values())
            if new == 0:
                raise BrokerError(
                    f"{what}: paging made no progress ({ORDERS_PAGE_LIMIT} orders share one submission time)"
                )
            last = max(aware(o.submitted_at) for o in page)
            cursor = last - dt.timedelta(microseconds=1)

    def get_order_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        what = f"get order by client id {client_order_id}"
        try:
            answer = self._call(what, partial(self._trading.get_order_by_client_id, client_order_id))
        except BrokerNotFound:
            return None
        return order_info(as_model(answer, Order, what), what)

    def submit_order(self, request: OrderRequest) -> OrderInfo:
        """Submit one DAY order with the request's ``client_order_id``; exactly one POST."""
        coid = request.client_order_id
        what = f"submit {request.type} {request.side} {request.qty} {request.symbol} ({coid})"
        if request.type == "limit" and request.limit_price is None:
            raise OrderRejected(f"{what}: a limit order needs a limit_price")
        if request.type == "market" and request.limit_price is not None:
            raise OrderRejected(f"{what}: a market order takes no limit_price")
        if not (request.qty.is_finite() and request.qty > 0):
            raise OrderRejected(f"{what}: qty must be positive")
        fields: dict[str, Any] = {
            "symbol": request.symbol,
            "qty": float(request.qty),
            "side": OrderSide(request.side),
            "time_in_force": TimeInForce.DAY,
            "client_order_id": coid,
        }
        try:
            sdk_request: MarketOrderRequest | LimitOrderRequest = (
                LimitOrderRequest(**fields, limit_price=float(request.limit_price))  # type: ignore[arg-type]
                if request.type == "limit"
                else MarketOrderRequest(**fields)
            )
        except pydantic.ValidationError as err:
            raise OrderRejected(f"{what}: invalid order request: {excerpt(str(err))}") from err
        answer = self._call(
            what, partial(self._trading.submit_order, sdk_request), order_call=True, submit_id=coid
        )
        try:
            return order_info(as_model(answer, Order, what), what)
        except BrokerError as err:
            # Stored (2xx) but unreadable: the caller must look it up, not resend blindly.
            raise AmbiguousSubmit(str(err), client_order_id=coid) from err

    def cancel_order(self, order_id: str) -> None:
        what = f"cancel order {order_id}"
        try:
            uuid = UUID(order_id)
        except ValueError:
            raise BrokerNotFound(f"{what}: not an Alpaca order id") from None
        self._call(what, partial(self._trading.cancel_order_by_id, uuid), order_call=True)

    # --- market data --------------------------------------------------------------------

    def get_latest_quotes(self, symbols: list[str]) -> dict[str, QuoteInfo]:
        what = "get latest quotes"
        result: dict[str, QuoteInfo] = {}
        for chunk in _chunks(_unique(symbols)):
            request = StockLatestQuoteRequest(symbol_or_symbols=chunk, feed=self._feed)
            answer = self._call(what, partial(self._data.get_stock_latest_quote, request))
            for symbol, quote in as_dict(answer, Quote, what).items():
                result[symbol] = quote_info(symbol, quote, what)
        return result

    def get_latest_trades(self, symbols: list[str]) -> dict[str, TradeInfo]:
        what = "get latest trades"
        result: dict[str, TradeInfo] = {}
        for chunk in _chunks(_unique(symbols)):
            request = StockLatestTradeRequest(symbol_or_symbols=chunk, feed=self._feed)
            answer = self._call(what, partial(self._data.get_stock_latest_trade, request))
            for symbol, trade in as_dict(answer, Trade, what).items():
                result[symbol] = trade_info(symbol, trade, what)
        return result

    def get_daily_bars(self, symbols: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Adjusted (``adjustment=all``) daily bars dated ``start..end`` (New York dates)."""
        what = f"get daily bars {start}..{end}"
        wanted = _unique(symbols)
        if not wanted or start > end:
            return empty_bars()
        first = dt.datetime.combine(start, dt.time(0, 0), tzinfo=NEW_YORK)
        last = dt.datetime.combine(end, dt.time(23, 59, 59), tzinfo=NEW_YORK)
        rows: dict[str, list[Any]] = {name: [] for name in BAR_COLUMNS}
        for chunk in _chunks(wanted):
            request = StockBarsRequest(
                symbol_or_symbols=chunk,
                timeframe=TimeFrame.Day,
                start=first,
                end=last,
                adjustment=Adjustment.ALL,
                feed=self._feed,
            )
            collect_bars(
                self._call(what, partial(self._raw_data.get_stock_bars, request)), start, end, rows, what
            )
        return bars_frame(rows)

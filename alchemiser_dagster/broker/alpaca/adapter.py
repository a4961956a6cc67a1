"""The `Broker` protocol over alpaca-py: bounded HTTP, no hidden retries, typed answers.

The domain never sees the SDK. This module is the only place that knows about
``alpaca-py`` and ``requests``; every SDK error is translated here into the broker error
tree of :mod:`alchemiser_dagster.domain.errors` and every answer into the records of
:mod:`alchemiser_dagster.domain.broker`.

How the SDK (alpaca-py 0.44) is tamed, see ``alpaca/common/rest.py``:

* **Timeout.** ``RESTClient._one_request`` calls ``self._session.request(method, url,
  **opts)`` with no ``timeout`` (rest.py, ``_one_request``), so a hung server blocks
  forever. Each client's own ``requests.Session`` (created in ``RESTClient.__init__`` as
  ``self._session``) gets a transport adapter mounted for ``http://`` and ``https://``
  that passes ``(timeout_seconds, timeout_seconds)`` as connect/read timeout to every
  send whose caller did not give one. The adapter also has ``max_retries=0``.
* **Retries.** ``RESTClient.__init__`` sets ``_retry = 3`` (``DEFAULT_RETRY_ATTEMPTS``),
  ``_retry_wait = 3`` and ``_retry_codes = [429, 504]`` and ignores
  ``retry_attempts=0`` (``if retry_attempts and retry_attempts > 0``); ``_request`` loops
  ``while retry >= 0`` and ``_one_request`` raises its internal ``RetryException`` only
  when ``status in _retry_codes and retry > 0``. We set ``_retry = 0``,
  ``_retry_wait = 0`` and ``_retry_codes = []`` on both clients after building them: one
  HTTP request per call, including ``POST /v2/orders``. The retry policy belongs to the
  callers (they know whether a call is idempotent).
* **Errors.** ``APIError.code``/``.message`` run ``json.loads`` on the body and raise
  ``KeyError``/``JSONDecodeError`` for bodies without ``code`` or HTML bodies; we never
  touch them and parse the body ourselves.

Error mapping (``_map_api_error``): 401, or 403 without a business code ->
:class:`BrokerAuthError`; 404 -> :class:`BrokerNotFound`; 429 -> :class:`RateLimited`
(``Retry-After`` / ``X-Ratelimit-Reset``); 408 and 5xx -> :class:`BrokerUnavailable`;
422 ``40010001`` "client_order_id must be unique" on a submit ->
:class:`DuplicateClientOrderId` (the order exists: look it up and adopt it);
other 4xx -> :class:`OrderRejected` for order calls (submit, cancel), plain
:class:`BrokerError` for reads. Timeouts, refused or dropped connections and truncated or
undecodable bodies -> :class:`BrokerUnavailable`. For ``submit_order`` every outcome in
which the order may have been stored (timeout, dropped connection, 408, 5xx, an answer we
cannot read) is :class:`AmbiguousSubmit` carrying the ``client_order_id``.

The API keys never appear in a message or in ``repr``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import lru_cache, partial
from typing import Any, Final, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

import pandas as pd
import pydantic
import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.models import Quote, Trade
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Asset, Clock, Order, Position, TradeAccount
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from requests.adapters import HTTPAdapter

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
from alchemiser_dagster.domain.errors import (
    AmbiguousSubmit,
    BrokerAuthError,
    BrokerError,
    BrokerNotFound,
    BrokerUnavailable,
    ConfigError,
    DuplicateClientOrderId,
    OrderRejected,
    RateLimited,
)
from alchemiser_dagster.domain.marketdata.bars import BAR_COLUMNS

__all__ = ["AlpacaBroker"]

NEW_YORK: Final = ZoneInfo("America/New_York")
#: Alpaca's maximum page size for ``GET /v2/orders``.
ORDERS_PAGE_LIMIT: Final = 500
#: Symbols per market-data request (keeps URLs short).
SYMBOL_CHUNK: Final = 100
#: Alpaca's code for a malformed request; with this text it means the client id is taken.
MALFORMED_CODE: Final = 40010001
DUPLICATE_ID_TEXT: Final = "client_order_id must be unique"
#: Characters of an error body quoted in an exception message.
BODY_EXCERPT_CHARS: Final = 200
_NUMERIC: Final = ("open", "high", "low", "close", "volume")

_T = TypeVar("_T")
_M = TypeVar("_M")

# requests failures meaning "no usable answer arrived": the request may or may not have
# reached the server. ConnectTimeout/ReadTimeout are Timeout, refused/reset/dropped
# connections (incl. SSL and proxy errors) are ConnectionError, a body cut short is
# ChunkedEncodingError/ContentDecodingError, a 2xx body that is not JSON is InvalidJSONError.
_NO_ANSWER: Final = (
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    requests.exceptions.InvalidJSONError,
)
# What the SDK raises when a 2xx answer does not fit its models: pydantic's
# ValidationError (a ValueError), ValueError from `_get_marketdata_entries`, TypeError for
# `Model(**None)` on an empty body, KeyError/AttributeError for a list where a dict was due.
_BAD_ANSWER: Final = (ValueError, TypeError, KeyError, AttributeError)


class _TimeoutAdapter(HTTPAdapter):
    """A transport adapter that gives every request a default (connect, read) timeout."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(max_retries=0)
        self._timeout: tuple[float, float] = (timeout_seconds, timeout_seconds)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self._timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def _harden(client: TradingClient | StockHistoricalDataClient, timeout_seconds: float) -> None:
    """Bound every HTTP call of an SDK client and switch its built-in retries off."""
    # Assigning a renamed attribute would silently succeed and leave retries on: check first.
    missing = [a for a in ("_session", "_retry", "_retry_wait", "_retry_codes") if not hasattr(client, a)]
    if missing:
        raise ConfigError(
            f"unsupported alpaca-py version: {type(client).__name__} has no {', '.join(missing)}"
        )
    adapter = _TimeoutAdapter(timeout_seconds)
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    client._retry = 0
    client._retry_wait = 0
    client._retry_codes = []


def _normalize_url(url: str | None, name: str) -> str | None:
    if url is None:
        return None
    stripped = url.strip().rstrip("/")
    if not stripped.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {url!r}")
    return stripped


# --- answer parsing ---------------------------------------------------------------------


def _excerpt(text: str, limit: int = BODY_EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "<empty body>"
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _error_body(text: str) -> tuple[int | None, str | None]:
    """Alpaca's ``{"code": int, "message": str}``, tolerating any other body."""
    try:
        data = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    raw_code = data.get("code")
    code: int | None = None
    if isinstance(raw_code, int) and not isinstance(raw_code, bool):
        code = raw_code
    elif isinstance(raw_code, str) and raw_code.strip().isdigit():
        code = int(raw_code)
    message = data.get("message")
    return code, message if isinstance(message, str) else None


def _is_duplicate_id(code: int | None, text: str | None) -> bool:
    """Alpaca's 40010001 covers every malformed field; only this message means a taken id."""
    return code == MALFORMED_CODE and text is not None and DUPLICATE_ID_TEXT in text.lower()


def _seconds(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``X-Ratelimit-Reset``."""
    now = time.time()
    retry_after = headers.get("Retry-After")
    if retry_after:
        seconds = _seconds(retry_after)
        if seconds is not None:
            return max(0.0, seconds)
        try:
            when = email.utils.parsedate_to_datetime(retry_after)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return max(0.0, when.timestamp() - now)
    reset = headers.get("X-Ratelimit-Reset")
    if reset:
        seconds = _seconds(reset)
        if seconds is not None:
            # Alpaca sends the Unix time at which the window resets; small values are deltas.
            return max(0.0, seconds - now) if seconds > 1e9 else max(0.0, seconds)
    return None


def _bad(what: str, problem: str) -> BrokerError:
    return BrokerError(f"{what}: unexpected answer from Alpaca: {problem}")


def _dec(value: object, what: str, field: str) -> Decimal:
    """A required decimal from the SDK's string or float."""
    if value is None:
        raise _bad(what, f"{field} is missing")
    if isinstance(value, bool):
        raise _bad(what, f"{field} is a boolean")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _bad(what, f"{field}={value!r} is not a decimal") from None
    if not number.is_finite():
        raise _bad(what, f"{field}={value!r} is not finite")
    return number


def _opt_dec(value: object, what: str, field: str) -> Decimal | None:
    return None if value is None or value == "" else _dec(value, what, field)


def _text(value: object, what: str, field: str) -> str:
    if value is None:
        raise _bad(what, f"{field} is missing")
    return str(value.value) if isinstance(value, Enum) else str(value)


def _flag(value: bool | None, what: str, field: str) -> bool:
    if value is None:
        raise _bad(what, f"{field} is missing")
    return bool(value)


def _aware(value: dt.datetime) -> dt.datetime:
    """Alpaca sends offsets; a naive timestamp is taken as UTC."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _opt_aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _aware(value)


def _as(value: object, model: type[_M], what: str) -> _M:
    """Narrow the SDK's ``Model | RawData`` answer to the model (raw data is never enabled)."""
    if not isinstance(value, model):
        raise _bad(what, f"expected {model.__name__}, got {type(value).__name__}")
    return value


def _as_list(value: object, model: type[_M], what: str) -> list[_M]:
    if not isinstance(value, list):
        raise _bad(what, f"expected a list of {model.__name__}, got {type(value).__name__}")
    return [_as(item, model, what) for item in value]


def _as_dict(value: object, model: type[_M], what: str) -> dict[str, _M]:
    if not isinstance(value, dict):
        raise _bad(what, f"expected {model.__name__}s by symbol, got {type(value).__name__}")
    return {str(key): _as(item, model, what) for key, item in value.items()}


def _record(what: str, build: Callable[[], _T]) -> _T:
    """Build a domain record; a value that does not fit it is a malformed answer."""
    try:
        return build()
    except pydantic.ValidationError as err:
        raise _bad(what, _excerpt(str(err))) from err


def _unique(symbols: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))


def _chunks(items: list[str], size: int = SYMBOL_CHUNK) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _order_info(order: Order, what: str) -> OrderInfo:
    side = _text(order.side, what, "side")
    order_type = order.type if order.type is not None else order.order_type
    return _record(
        what,
        lambda: OrderInfo(
            id=str(order.id),
            client_order_id=_text(order.client_order_id, what, "client_order_id"),
            symbol=_text(order.symbol, what, "symbol"),
            side=side,  # type: ignore[arg-type]  # validated by the record (buy/sell)
            type=_text(order_type, what, "type"),
            status=_text(order.status, what, "status"),
            qty=_opt_dec(order.qty, what, "qty"),
            notional=_opt_dec(order.notional, what, "notional"),
            filled_qty=_dec(order.filled_qty, what, "filled_qty"),
            filled_avg_price=_opt_dec(order.filled_avg_price, what, "filled_avg_price"),
            limit_price=_opt_dec(order.limit_price, what, "limit_price"),
            submitted_at=_opt_aware(order.submitted_at),
            updated_at=_opt_aware(order.updated_at),
            filled_at=_opt_aware(order.filled_at),
        ),
    )


def _quote_info(symbol: str, quote: Quote, what: str) -> QuoteInfo:
    return _record(
        what,
        lambda: QuoteInfo(
            symbol=symbol,
            bid=_dec(quote.bid_price, what, f"{symbol} bid"),
            ask=_dec(quote.ask_price, what, f"{symbol} ask"),
            bid_size=_dec(quote.bid_size, what, f"{symbol} bid_size"),
            ask_size=_dec(quote.ask_size, what, f"{symbol} ask_size"),
            timestamp=_aware(quote.timestamp),
        ),
    )


def _trade_info(symbol: str, trade: Trade, what: str) -> TradeInfo:
    return _record(
        what,
        lambda: TradeInfo(
            symbol=symbol,
            price=_dec(trade.price, what, f"{symbol} price"),
            size=_dec(trade.size, what, f"{symbol} size"),
            timestamp=_aware(trade.timestamp),
        ),
    )


@lru_cache(maxsize=16384)
def _bar_session(stamp: str) -> dt.date:
    """The New York date of a bar's RFC 3339 timestamp (few distinct values: cached)."""
    return _aware(dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))).astimezone(NEW_YORK).date()


def _empty_bars() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": pd.Series([], dtype="str"),
            "date": pd.Series([], dtype=object),
            **{name: pd.Series([], dtype="float64") for name in _NUMERIC},
        },
        columns=list(BAR_COLUMNS),
    )


# --- the adapter ------------------------------------------------------------------------


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
        self._base_url = _normalize_url(base_url, "base_url")
        self._data_url = _normalize_url(data_url, "data_url") or self._base_url
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
        _harden(self._trading, self._timeout)
        _harden(self._data, self._timeout)
        _harden(self._raw_data, self._timeout)

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
        self,
        what: str,
        call: Callable[[], _T],
        *,
        order_call: bool = False,
        submit_id: str | None = None,
    ) -> _T:
        """Run one SDK call and translate whatever it raises into a `BrokerError`.

        ``order_call``: 4xx business rejects become `OrderRejected` (else plain
        `BrokerError`). ``submit_id``: the call submits that order, so every outcome in
        which it may have been stored becomes `AmbiguousSubmit`.
        """
        try:
            return call()
        except APIError as err:
            raise self._map_api_error(what, err, order_call=order_call, submit_id=submit_id) from err
        except _NO_ANSWER as err:
            message = self._scrub(
                f"{what}: no usable answer from Alpaca ({type(err).__name__}: {_excerpt(str(err))})"
            )
            if submit_id is not None:
                raise AmbiguousSubmit(message, client_order_id=submit_id) from err
            raise BrokerUnavailable(message) from err
        except requests.exceptions.RequestException as err:
            # Raised before anything was sent (bad URL, schema, header): a setup problem.
            raise BrokerError(
                self._scrub(f"{what}: request not sent ({type(err).__name__}: {_excerpt(str(err))})")
            ) from err
        except _BAD_ANSWER as err:
            message = self._scrub(
                f"{what}: unexpected answer from Alpaca ({type(err).__name__}: {_excerpt(str(err))})"
            )
            if submit_id is not None:
                raise AmbiguousSubmit(message, client_order_id=submit_id) from err
            raise BrokerError(message) from err

    def _map_api_error(
        self, what: str, err: APIError, *, order_call: bool, submit_id: str | None
    ) -> BrokerError:
        response = err.response
        status: int | None = response.status_code if response is not None else None
        body = err.args[0] if err.args and isinstance(err.args[0], str) else ""
        code, text = _error_body(body)
        detail = f"HTTP {status}" + (f" code {code}" if code is not None else "")
        message = self._scrub(f"{what}: Alpaca answered {detail}: {_excerpt(text if text else body)}")
        if status == 401 or (status == 403 and code is None):
            return BrokerAuthError(message, status=status, code=code)
        if status == 404:
            return BrokerNotFound(message, status=status, code=code)
        if status == 429:
            headers: Mapping[str, str] = response.headers if response is not None else {}
            return RateLimited(message, retry_after=_retry_after(headers), status=status, code=code)
        if status is None or status == 408 or status >= 500:
            if submit_id is not None:
                return AmbiguousSubmit(message, client_order_id=submit_id, status=status)
            return BrokerUnavailable(message, status=status, code=code)
        if submit_id is not None and status == 422 and _is_duplicate_id(code, text):
            return DuplicateClientOrderId(message, client_order_id=submit_id, status=status, code=code)
        if order_call and 400 <= status < 500:
            return OrderRejected(message, status=status, code=code)
        return BrokerError(message, status=status, code=code)

    # --- account ------------------------------------------------------------------------

    def get_account(self) -> AccountInfo:
        what = "get account"
        account = _as(self._call(what, self._trading.get_account), TradeAccount, what)
        return _record(
            what,
            lambda: AccountInfo(
                account_number=_text(account.account_number, what, "account_number"),
                status=_text(account.status, what, "status"),
                currency=account.currency or "USD",
                cash=_dec(account.cash, what, "cash"),
                equity=_dec(account.equity, what, "equity"),
                buying_power=_dec(account.buying_power, what, "buying_power"),
                trading_blocked=_flag(account.trading_blocked, what, "trading_blocked"),
                account_blocked=_flag(account.account_blocked, what, "account_blocked"),
            ),
        )

    def get_positions(self) -> list[PositionInfo]:
        what = "get positions"
        positions = _as_list(self._call(what, self._trading.get_all_positions), Position, what)
        return [self._position(p, what) for p in positions]

    @staticmethod
    def _position(position: Position, what: str) -> PositionInfo:
        side = _text(position.side, what, "side")
        qty = _dec(position.qty, what, "qty")
        # Alpaca reports `qty` negative for shorts; keep that convention whatever the sign sent.
        if side == "short" and qty > 0:
            qty = -qty
        return _record(
            what,
            lambda: PositionInfo(
                symbol=position.symbol,
                qty=qty,
                side=side,  # type: ignore[arg-type]  # validated by the record (long/short)
                market_value=_dec(position.market_value, what, f"{position.symbol} market_value"),
                avg_entry_price=_dec(position.avg_entry_price, what, f"{position.symbol} avg_entry_price"),
                current_price=_opt_dec(position.current_price, what, f"{position.symbol} current_price"),
            ),
        )

    def get_asset(self, symbol: str) -> AssetInfo:
        what = f"get asset {symbol}"
        asset = _as(self._call(what, partial(self._trading.get_asset, symbol)), Asset, what)
        return _record(
            what,
            lambda: AssetInfo(
                symbol=asset.symbol,
                tradable=asset.tradable,
                fractionable=asset.fractionable,
                shortable=asset.shortable,
                status=_text(asset.status, what, "status"),
            ),
        )

    def get_clock(self) -> MarketClock:
        what = "get clock"
        clock = _as(self._call(what, self._trading.get_clock), Clock, what)
        return _record(
            what,
            lambda: MarketClock(
                timestamp=_aware(clock.timestamp),
                is_open=clock.is_open,
                next_open=_aware(clock.next_open),
                next_close=_aware(clock.next_close),
            ),
        )

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
        ordered = sorted(found.values(), key=lambda o: _aware(o.submitted_at))
        return [_order_info(o, what) for o in ordered]

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
        cursor = _opt_aware(after)
        while True:
            request = GetOrdersRequest(
                status=QueryOrderStatus(status),
                limit=ORDERS_PAGE_LIMIT,
                direction=Sort.ASC,
                after=cursor,
                until=_opt_aware(until),
                symbols=symbols,
            )
            page = _as_list(self._call(what, partial(self._trading.get_orders, filter=request)), Order, what)
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
            last = max(_aware(o.submitted_at) for o in page)
            cursor = last - dt.timedelta(microseconds=1)

    def get_order_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        what = f"get order by client id {client_order_id}"
        try:
            answer = self._call(what, partial(self._trading.get_order_by_client_id, client_order_id))
        except BrokerNotFound:
            return None
        return _order_info(_as(answer, Order, what), what)

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
            raise OrderRejected(f"{what}: invalid order request: {_excerpt(str(err))}") from err
        answer = self._call(
            what, partial(self._trading.submit_order, sdk_request), order_call=True, submit_id=coid
        )
        try:
            return _order_info(_as(answer, Order, what), what)
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
            for symbol, quote in _as_dict(answer, Quote, what).items():
                result[symbol] = _quote_info(symbol, quote, what)
        return result

    def get_latest_trades(self, symbols: list[str]) -> dict[str, TradeInfo]:
        what = "get latest trades"
        result: dict[str, TradeInfo] = {}
        for chunk in _chunks(_unique(symbols)):
            request = StockLatestTradeRequest(symbol_or_symbols=chunk, feed=self._feed)
            answer = self._call(what, partial(self._data.get_stock_latest_trade, request))
            for symbol, trade in _as_dict(answer, Trade, what).items():
                result[symbol] = _trade_info(symbol, trade, what)
        return result

    def get_daily_bars(self, symbols: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Adjusted (``adjustment=all``) daily bars dated ``start..end`` (New York dates)."""
        what = f"get daily bars {start}..{end}"
        wanted = _unique(symbols)
        if not wanted or start > end:
            return _empty_bars()
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
            raw = self._call(what, partial(self._raw_data.get_stock_bars, request))
            if not isinstance(raw, dict):
                raise _bad(what, f"expected an object of bars by symbol, got {type(raw).__name__}")
            for symbol, bars in raw.items():
                for bar in bars:
                    try:
                        session = _bar_session(bar["t"])
                        values = [float(bar[key]) for key in ("o", "h", "l", "c", "v")]
                    except (KeyError, TypeError, ValueError) as error:
                        raise _bad(what, f"malformed bar for {symbol}: {error!r}") from error
                    if not start <= session <= end:
                        continue
                    rows["symbol"].append(symbol)
                    rows["date"].append(session)
                    for name, value in zip(("open", "high", "low", "close", "volume"), values, strict=True):
                        rows[name].append(value)
        if not rows["symbol"]:
            return _empty_bars()
        frame = pd.DataFrame(
            {
                "symbol": pd.Series(rows["symbol"], dtype="str"),
                "date": pd.Series(rows["date"], dtype=object),
                **{name: pd.Series(rows[name], dtype="float64") for name in _NUMERIC},
            },
            columns=list(BAR_COLUMNS),
        )
        frame = frame.drop_duplicates(subset=["symbol", "date"], keep="last")
        return frame.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)

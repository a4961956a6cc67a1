"""alpaca-py's answers, checked and turned into the records of `domain/broker.py`.

Money and quantities arrive as strings (sometimes floats) and become `Decimal`; a missing,
non-decimal or non-finite value, or an answer of the wrong shape, is a `BrokerError`
naming the call and the field, never a default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import lru_cache
from typing import Any, Final, TypeVar

import pandas as pd
import pydantic
from alpaca.data.models import Quote, Trade
from alpaca.trading.models import Asset, Clock, Order, Position, TradeAccount

from alchemiser_dagster.broker.alpaca.errors import excerpt
from alchemiser_dagster.domain.broker import (
    AccountInfo,
    AssetInfo,
    MarketClock,
    OrderInfo,
    PositionInfo,
    QuoteInfo,
    TradeInfo,
)
from alchemiser_dagster.domain.constants import NEW_YORK
from alchemiser_dagster.domain.errors import BrokerError
from alchemiser_dagster.domain.marketdata.bars import BAR_COLUMNS

_NUMERIC: Final = ("open", "high", "low", "close", "volume")

_T = TypeVar("_T")
_M = TypeVar("_M")


def bad(what: str, problem: str) -> BrokerError:
    return BrokerError(f"{what}: unexpected answer from Alpaca: {problem}")


def dec(value: object, what: str, field: str) -> Decimal:
    """A required decimal from the SDK's string or float."""
    if value is None:
        raise bad(what, f"{field} is missing")
    if isinstance(value, bool):
        raise bad(what, f"{field} is a boolean")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise bad(what, f"{field}={value!r} is not a decimal") from None
    if not number.is_finite():
        raise bad(what, f"{field}={value!r} is not finite")
    return number


def opt_dec(value: object, what: str, field: str) -> Decimal | None:
    return None if value is None or value == "" else dec(value, what, field)


def text(value: object, what: str, field: str) -> str:
    if value is None:
        raise bad(what, f"{field} is missing")
    return str(value.value) if isinstance(value, Enum) else str(value)


def flag(value: bool | None, what: str, field: str) -> bool:
    if value is None:
        raise bad(what, f"{field} is missing")
    return bool(value)


def aware(value: dt.datetime) -> dt.datetime:
    """Alpaca sends offsets; a naive timestamp is taken as UTC."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def opt_aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else aware(value)


def as_model(value: object, model: type[_M], what: str) -> _M:
    """Narrow the SDK's ``Model | RawData`` answer to the model (raw data is never enabled)."""
    if not isinstance(value, model):
        raise bad(what, f"expected {model.__name__}, got {type(value).__name__}")
    return value


def as_list(value: object, model: type[_M], what: str) -> list[_M]:
    if not isinstance(value, list):
        raise bad(what, f"expected a list of {model.__name__}, got {type(value).__name__}")
    return [as_model(item, model, what) for item in value]


def as_dict(value: object, model: type[_M], what: str) -> dict[str, _M]:
    if not isinstance(value, dict):
        raise bad(what, f"expected {model.__name__}s by symbol, got {type(value).__name__}")
    return {str(key): as_model(item, model, what) for key, item in value.items()}


def record(what: str, build: Callable[[], _T]) -> _T:
    """Build a domain record; a value that does not fit it is a malformed answer."""
    try:
        return build()
    except pydantic.ValidationError as err:
        raise bad(what, excerpt(str(err))) from err


# --- one record per SDK model ------------------------------------------------------------


def account_info(account: TradeAccount, what: str) -> AccountInfo:
    return record(
        what,
        lambda: AccountInfo(
            account_number=text(account.account_number, what, "account_number"),
            status=text(account.status, what, "status"),
            currency=account.currency or "USD",
            cash=dec(account.cash, what, "cash"),
            equity=dec(account.equity, what, "equity"),
            buying_power=dec(account.buying_power, what, "buying_power"),
            trading_blocked=flag(account.trading_blocked, what, "trading_blocked"),
            account_blocked=flag(account.account_blocked, what, "account_blocked"),
        ),
    )


def position_info(position: Position, what: str) -> PositionInfo:
    side = text(position.side, what, "side")
    qty = dec(position.qty, what, "qty")
    # Alpaca reports `qty` negative for shorts; keep that convention whatever the sign sent.
    if side == "short" and qty > 0:
        qty = -qty
    return record(
        what,
        lambda: PositionInfo(
            symbol=position.symbol,
            qty=qty,
            side=side,  # type: ignore[arg-type]  # validated by the record (long/short)
            market_value=dec(position.market_value, what, f"{position.symbol} market_value"),
            avg_entry_price=dec(position.avg_entry_price, what, f"{position.symbol} avg_entry_price"),
            current_price=opt_dec(position.current_price, what, f"{position.symbol} current_price"),
        ),
    )


def asset_info(asset: Asset, what: str) -> AssetInfo:
    return record(
        what,
        lambda: AssetInfo(
            symbol=asset.symbol,
            tradable=asset.tradable,
            fractionable=asset.fractionable,
            shortable=asset.shortable,
            status=text(asset.status, what, "status"),
        ),
    )


def market_clock(clock: Clock, what: str) -> MarketClock:
    return record(
        what,
        lambda: MarketClock(
            timestamp=aware(clock.timestamp),
            is_open=clock.is_open,
            next_open=aware(clock.next_open),
            next_close=aware(clock.next_close),
        ),
    )


def order_info(order: Order, what: str) -> OrderInfo:
    side = text(order.side, what, "side")
    order_type = order.type if order.type is not None else order.order_type
    return record(
        what,
        lambda: OrderInfo(
            id=str(order.id),
            client_order_id=text(order.client_order_id, what, "client_order_id"),
            symbol=text(order.symbol, what, "symbol"),
            side=side,  # type: ignore[arg-type]  # validated by the record (buy/sell)
            type=text(order_type, what, "type"),
            status=text(order.status, what, "status"),
            qty=opt_dec(order.qty, what, "qty"),
            notional=opt_dec(order.notional, what, "notional"),
            filled_qty=dec(order.filled_qty, what, "filled_qty"),
            filled_avg_price=opt_dec(order.filled_avg_price, what, "filled_avg_price"),
            limit_price=opt_dec(order.limit_price, what, "limit_price"),
            submitted_at=opt_aware(order.submitted_at),
            updated_at=opt_aware(order.updated_at),
            filled_at=opt_aware(order.filled_at),
        ),
    )


def quote_info(symbol: str, quote: Quote, what: str) -> QuoteInfo:
    return record(
        what,
        lambda: QuoteInfo(
            symbol=symbol,
            bid=dec(quote.bid_price, what, f"{symbol} bid"),
            ask=dec(quote.ask_price, what, f"{symbol} ask"),
            bid_size=dec(quote.bid_size, what, f"{symbol} bid_size"),
            ask_size=dec(quote.ask_size, what, f"{symbol} ask_size"),
            timestamp=aware(quote.timestamp),
        ),
    )


def trade_info(symbol: str, trade: Trade, what: str) -> TradeInfo:
    return record(
        what,
        lambda: TradeInfo(
            symbol=symbol,
            price=dec(trade.price, what, f"{symbol} price"),
            size=dec(trade.size, what, f"{symbol} size"),
            timestamp=aware(trade.timestamp),
        ),
    )


# --- daily bars (raw JSON: a pydantic model per bar is the slowest part of a fetch) -------


@lru_cache(maxsize=16384)
def bar_session(stamp: str) -> dt.date:
    """The New York date of a bar's RFC 3339 timestamp (few distinct values: cached)."""
    return aware(dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))).astimezone(NEW_YORK).date()


def empty_bars() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": pd.Series([], dtype="str"),
            "date": pd.Series([], dtype=object),
            **{name: pd.Series([], dtype="float64") for name in _NUMERIC},
        },
        columns=list(BAR_COLUMNS),
    )


def collect_bars(raw: object, start: dt.date, end: dt.date, rows: dict[str, list[Any]], what: str) -> None:
    """Append the bars of one raw answer dated ``start..end`` (New York dates) to ``rows``."""
    if not isinstance(raw, dict):
        raise bad(what, f"expected an object of bars by symbol, got {type(raw).__name__}")
    for symbol, bars in raw.items():
        for bar in bars:
            try:
                session = bar_session(bar["t"])
                values = [float(bar[key]) for key in ("o", "h", "l", "c", "v")]
            except (KeyError, TypeError, ValueError) as error:
                raise bad(what, f"malformed bar for {symbol}: {error!r}") from error
            if not start <= session <= end:
                continue
            rows["symbol"].append(symbol)
            rows["date"].append(session)
            for name, value in zip(_NUMERIC, values, strict=True):
                rows[name].append(value)


def bars_frame(rows: dict[str, list[Any]]) -> pd.DataFrame:
    """The bars table (one row per symbol and date, the last answer wins, sorted)."""
    if not rows["symbol"]:
        return empty_bars()
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

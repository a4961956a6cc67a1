"""Order-request parsing and the stateless order rules, with Alpaca's status codes.

Everything here is pure: the stateful checks (buying power, held quantity, uniqueness)
live in the engine. Codes follow ``shared/spec/alpaca-standin.md``; where the spec names no
code the simulator uses Alpaca's families:

* 422 ``40010001`` - malformed or missing field, duplicate / over-long ``client_order_id``;
* 422 ``42210000`` - a request Alpaca understands but refuses: non-DAY fractional/notional,
  notional on a limit order, sub-penny limit price, unknown symbol (``asset not found``),
  order types and time-in-force values the simulator does not model;
* 403 ``40310000`` - account-level refusals (buying power, quantity, fractionability, < $1).

Clients must match on codes; messages are informative only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from alchemiser_dagster.broker.simulator.prices import tick_for

__all__ = [
    "MAX_CLIENT_ORDER_ID",
    "OrderRequest",
    "SimError",
    "check_fractional_rules",
    "parse_order_request",
]

MAX_CLIENT_ORDER_ID = 48
MAX_QTY_DECIMALS = 9
MALFORMED = 40010001
UNPROCESSABLE = 42210000
FORBIDDEN = 40310000
NOT_FOUND = 40410000
UNSUPPORTED_MEDIA_TYPE = 41510000
#: Largest quantity, notional or price accepted (1e12): beyond it Decimal arithmetic
#: (quantizing, a huge exponent such as ``1e999999999``) would fail inside the engine.
MAX_MAGNITUDE = Decimal("1e12")


class SimError(Exception):
    """An Alpaca-style error: HTTP status plus the JSON body ``{"code", "message", ...}``."""

    def __init__(self, status: int, code: int, message: str, extra: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        return {**self.extra, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A validated POST /v2/orders body (only what the simulator models)."""

    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    client_order_id: str | None

    @property
    def fractional(self) -> bool:
        return self.notional is not None or (
            self.qty is not None and self.qty != self.qty.to_integral_value()
        )


def _decimal(body: dict[str, Any], key: str) -> Decimal | None:
    raw = body.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise SimError(422, MALFORMED, f"invalid {key}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation as exc:
        raise SimError(422, MALFORMED, f"invalid {key}") from exc
    if not value.is_finite():
        raise SimError(422, MALFORMED, f"invalid {key}")
    if value.copy_abs() > MAX_MAGNITUDE:  # copy_abs and > are exact (abs() rounds and can overflow)
        raise SimError(422, MALFORMED, f"invalid {key}: larger than {MAX_MAGNITUDE:f}")
    return value


def _choice(body: dict[str, Any], key: str, allowed: tuple[str, ...], code: int) -> str:
    raw = body.get(key)
    if not isinstance(raw, str) or not raw:
        raise SimError(422, MALFORMED, f"{key} is required")
    if raw not in allowed:
        raise SimError(422, code, f"{key} {raw!r} is not supported (expected one of {', '.join(allowed)})")
    return raw


def parse_order_request(body: Any) -> OrderRequest:
    """Shape checks of an order body; raises :class:`SimError` (422) on the first problem."""
    if not isinstance(body, dict):
        raise SimError(422, MALFORMED, "request body must be a JSON object")
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise SimError(422, MALFORMED, "symbol is required")
    side = _choice(body, "side", ("buy", "sell"), MALFORMED)
    order_type = _choice(body, "type", ("market", "limit"), UNPROCESSABLE)
    tif = _choice(body, "time_in_force", ("day", "gtc"), UNPROCESSABLE)
    if body.get("extended_hours") is True:
        raise SimError(422, UNPROCESSABLE, "extended hours orders are not supported by the simulator")
    if body.get("order_class") not in (None, "", "simple"):
        raise SimError(422, UNPROCESSABLE, "only simple orders are supported by the simulator")
    qty, notional = _decimal(body, "qty"), _decimal(body, "notional")
    limit_price = _decimal(body, "limit_price")
    if (qty is None) == (notional is None):
        raise SimError(422, MALFORMED, "exactly one of qty or notional is required")
    for name, value in (("qty", qty), ("notional", notional)):
        if value is not None and value <= 0:
            raise SimError(422, MALFORMED, f"{name} must be > 0")
    if qty is not None and -qty.as_tuple().exponent > MAX_QTY_DECIMALS:  # type: ignore[operator]
        raise SimError(422, MALFORMED, f"qty has more than {MAX_QTY_DECIMALS} decimal places")
    if notional is not None and -notional.as_tuple().exponent > 2:  # type: ignore[operator]
        raise SimError(422, MALFORMED, "notional must be in whole cents")
    client_order_id = body.get("client_order_id")
    if client_order_id is not None:
        if not isinstance(client_order_id, str) or not client_order_id:
            raise SimError(422, MALFORMED, "invalid client_order_id")
        if len(client_order_id) > MAX_CLIENT_ORDER_ID:
            raise SimError(
                422, MALFORMED, f"client_order_id must be at most {MAX_CLIENT_ORDER_ID} characters"
            )
    if order_type == "limit":
        if limit_price is None:
            raise SimError(422, MALFORMED, "limit_price is required for limit orders")
        if limit_price <= 0:
            raise SimError(422, MALFORMED, "limit_price must be > 0")
        if limit_price != limit_price.quantize(tick_for(limit_price)):
            raise SimError(
                422,
                UNPROCESSABLE,
                f"invalid limit_price {limit_price}. "
                "sub-penny increment does not fulfill minimum pricing criteria",
            )
        if notional is not None:
            raise SimError(422, UNPROCESSABLE, "notional orders must be market orders")
    elif limit_price is not None:
        raise SimError(422, MALFORMED, "limit_price is only allowed for limit orders")
    return OrderRequest(
        symbol=symbol.strip().upper(),
        side=side,
        type=order_type,
        time_in_force=tif,
        qty=qty,
        notional=notional,
        limit_price=limit_price,
        client_order_id=client_order_id,
    )


def check_fractional_rules(req: OrderRequest, fractionable: bool) -> None:
    """Fractional and notional orders must be DAY and need a fractionable asset."""
    if not req.fractional:
        return
    if req.time_in_force != "day":
        raise SimError(422, UNPROCESSABLE, "fractional orders must be DAY orders")
    if not fractionable:
        raise SimError(403, FORBIDDEN, f"asset {req.symbol} is not fractionable")

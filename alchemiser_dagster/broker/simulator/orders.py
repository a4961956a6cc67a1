"""Orders at the simulated broker: submit (Alpaca's checks and reservations) and cancel."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal

from alchemiser_dagster.broker.simulator.fill_replay import QTY_STEP, FillReplay
from alchemiser_dagster.broker.simulator.queries import OPEN_STATUSES, dec, dec_str
from alchemiser_dagster.broker.simulator.rules import (
    FORBIDDEN,
    MALFORMED,
    NOT_FOUND,
    UNPROCESSABLE,
    OrderRequest,
    SimError,
    check_fractional_rules,
    parse_order_request,
)
from alchemiser_dagster.broker.simulator.timeutil import (
    fmt_utc,
    is_market_open,
    session_bounds,
    session_for_order,
)


class OrderDesk(FillReplay):
    """Order submission and cancellation (a layer of :class:`~.engine.SimEngine`)."""

    _next_id: Callable[[str], str]  # SimEngine

    def submit_order(self, body: object) -> sqlite3.Row:
        """Validate and store an order (status ``pending_new`` in hours, ``accepted`` outside)."""
        req = parse_order_request(body)
        with self.transaction():
            self._advance_to(self.now())
            return self._submit(req)

    def _submit(self, req: OrderRequest) -> sqlite3.Row:
        asset = self.asset(req.symbol)
        if asset is None or not self.book.has(req.symbol):
            raise SimError(422, UNPROCESSABLE, f"asset not found: {req.symbol}")
        if req.client_order_id is not None and self.order_by_client_id(req.client_order_id) is not None:
            raise SimError(422, MALFORMED, "client_order_id must be unique")
        if not asset["tradable"]:
            raise SimError(403, FORBIDDEN, f"asset {req.symbol} is not tradable")
        check_fractional_rules(req, bool(asset["fractionable"]))
        now = self.now()
        quote = self.book.quote(req.symbol, now)
        if quote is None:
            raise SimError(403, FORBIDDEN, f"no price for {req.symbol} yet")
        ref = (
            req.limit_price
            if req.limit_price is not None
            else (quote.ask if req.side == "buy" else quote.bid)
        )
        value = req.notional if req.notional is not None else (req.qty or Decimal(0)) * ref
        if value < 1:
            raise SimError(403, FORBIDDEN, "cost basis must be >= 1")
        if req.side == "buy":
            reserved = value
            if reserved > self.buying_power():
                raise SimError(403, FORBIDDEN, "insufficient buying power")
        else:
            reserved = (
                req.qty if req.qty is not None else (value / ref).quantize(QTY_STEP, rounding=ROUND_DOWN)
            )
            self._check_sell(req.symbol, reserved)
        order_id = self._next_id("order")
        client_id = req.client_order_id or self._next_id("client-order")
        stamp = fmt_utc(now)
        expires = session_bounds(session_for_order(now))[1] if req.time_in_force == "day" else None
        status = "pending_new" if is_market_open(now) else "accepted"
        try:
            self._conn.execute(
                "INSERT INTO orders (id, client_order_id, symbol, asset_id, side, type, time_in_force, qty, "
                "notional, limit_price, status, filled_qty, filled_avg_price, reserved, created_at, "
                "updated_at, submitted_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '0', NULL, ?, ?, ?, ?, ?)",
                (
                    order_id, client_id, req.symbol, asset["id"], req.side, req.type, req.time_in_force,
                    dec_str(req.qty) if req.qty is not None else None,
                    dec_str(req.notional) if req.notional is not None else None,
                    dec_str(req.limit_price) if req.limit_price is not None else None,
                    status, dec_str(reserved), stamp, stamp, stamp,
                    fmt_utc(expires) if expires is not None else None,
                ),
            )  # fmt: skip
        except sqlite3.IntegrityError as exc:
            raise SimError(422, MALFORMED, "client_order_id must be unique") from exc
        row = self.order(order_id)
        assert row is not None
        return row

    def _check_sell(self, symbol: str, qty: Decimal) -> None:
        pos = self.position(symbol)
        held = dec(pos["qty"]) if pos else Decimal(0)
        if held <= 0:
            raise SimError(403, FORBIDDEN, "account is not allowed to short")
        on_hold = self.held_for_orders(symbol)
        available = held - on_hold
        if qty > available:
            raise SimError(
                403,
                FORBIDDEN,
                f"insufficient qty available for order "
                f"(requested: {dec_str(qty)}, available: {dec_str(available)})",
                {
                    "available": dec_str(available),
                    "existing_qty": dec_str(held),
                    "held_for_orders": dec_str(on_hold),
                    "symbol": symbol,
                },
            )

    def cancel_order(self, order_id: str) -> None:
        """Cancel one open order; 404 when unknown, 422 when already terminal."""
        with self.transaction():
            self._advance_to(self.now())
            self._cancel(order_id)

    def _cancel(self, order_id: str) -> None:
        row = self.order(order_id)
        if row is None:
            raise SimError(404, NOT_FOUND, "order not found")
        if row["status"] not in OPEN_STATUSES:
            raise SimError(422, UNPROCESSABLE, f'order is already in "{row["status"]}" state')
        stamp = fmt_utc(self.now())
        self._conn.execute(
            "UPDATE orders SET status = 'canceled', canceled_at = ?, updated_at = ?, reserved = '0' "
            "WHERE id = ?",
            (stamp, stamp, order_id),
        )

    def cancel_all(self) -> list[tuple[str, int, dict[str, object] | None]]:
        """Cancel every open order: (order id, per-item HTTP status, error body or None)."""
        with self.transaction():
            self._advance_to(self.now())
            out: list[tuple[str, int, dict[str, object] | None]] = []
            for row in self.orders(statuses=OPEN_STATUSES):
                try:
                    self._cancel(row["id"])
                    out.append((row["id"], 200, None))
                except SimError as exc:
                    out.append((row["id"], exc.status, exc.body()))
            return out

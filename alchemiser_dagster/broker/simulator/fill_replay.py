"""Fill rules and the replay of simulated time: what filled, was rejected or expired when.

Queued orders fill at the first marketable instant (the fill models are in :mod:`.fills`),
DAY orders still open at their session's close expire. Fill rules (table ``fill_rules``,
keyed by ``*`` for all symbols, a symbol, or ``client_order_id:<id>``; the most specific
wins) choose another fill model: hold orders back ('never'), fill them in parts
('partial': a fraction of the remainder per advance in which simulated time moved;
'paper_like'), fill at once ('immediate') or reject them ('reject'). Each fill is booked
here: cash to the cent, the position, a ``fills`` row, the order's VWAP.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from alchemiser_dagster.broker.simulator.clock import SimClock
from alchemiser_dagster.broker.simulator.fills import (
    DEFAULT_FILL_MODE,
    FILL_MODES,
    first_fill,
    first_immediate_fill,
    first_open_instant,
    paper_like_fraction,
)
from alchemiser_dagster.broker.simulator.prices import PriceBook
from alchemiser_dagster.broker.simulator.queries import OPEN_STATUSES, dec, dec_str
from alchemiser_dagster.broker.simulator.rules import UNPROCESSABLE, SimError
from alchemiser_dagster.broker.simulator.timeutil import fmt_utc, parse_ts

QTY_STEP = Decimal("0.000000001")
_FRACTION_STEP = Decimal("0.000001")
_VWAP_STEP = Decimal("0.000000001")
_CENT = Decimal("0.01")
_MICROSECOND = dt.timedelta(microseconds=1)
#: Fill rule keys: ``*`` (every symbol), a symbol, or this prefix and a client order id.
ALL_SYMBOLS = "*"
CLIENT_ID_PREFIX = "client_order_id:"
#: The spec's names for two models, and 'none' for 'never'.
MODE_ALIASES = {"none": "never", "full": "spread_crossing", "paper-like": "paper_like"}


class FillReplay(SimClock):
    """Fill rules, time replay and fill booking (a layer of :class:`~.engine.SimEngine`)."""

    book: PriceBook  # SimEngine

    def fill_rules(self) -> dict[str, str]:
        """Fill modes by rule key (``*``, a symbol or ``client_order_id:<id>``)."""
        rows = self._conn.execute("SELECT symbol, mode FROM fill_rules").fetchall()
        return {row["symbol"]: row["mode"] for row in rows}

    def fill_rule_details(self) -> dict[str, dict[str, str | None]]:
        """Rule key -> ``{"mode", "fraction"}`` (the fraction is set for 'partial' only)."""
        rows = self._conn.execute("SELECT symbol, mode, fraction FROM fill_rules").fetchall()
        return {row["symbol"]: {"mode": row["mode"], "fraction": row["fraction"]} for row in rows}

    def set_fill_rule(
        self,
        symbol: str | None,
        mode: str,
        fraction: Decimal | str | int | None = None,
        *,
        client_order_id: str | None = None,
    ) -> None:
        """Persist a fill mode for every symbol (``*``), one symbol, or one client order id.

        Modes are :data:`~.fills.FILL_MODES` ('none' is 'never'). 'partial' needs
        ``0 < fraction <= 1`` and fills that fraction of an order's remaining quantity at each
        fill opportunity (see :meth:`_apply_fill`).
        """
        mode = MODE_ALIASES.get(mode, mode)
        if mode not in FILL_MODES:
            raise SimError(
                422, UNPROCESSABLE, f"fill mode must be one of {', '.join(FILL_MODES)}, got {mode!r}"
            )
        if (symbol is None) == (client_order_id is None):
            raise SimError(
                422, UNPROCESSABLE, "a fill rule needs either a symbol ('*': all) or a client_order_id"
            )
        key = CLIENT_ID_PREFIX + client_order_id if client_order_id is not None else str(symbol).upper()
        part: Decimal | None = None
        if mode == "partial":
            try:
                part = Decimal(str(fraction)) if fraction is not None else None
            except ArithmeticError:
                part = None
            if part is None or not part.is_finite() or not 0 < part <= 1:
                raise SimError(
                    422, UNPROCESSABLE, f"a partial fill rule needs 0 < fraction <= 1, got {fraction!r}"
                )
        elif fraction is not None:
            raise SimError(422, UNPROCESSABLE, f"fraction is only allowed with mode 'partial', not {mode!r}")
        with self.transaction():
            self._conn.execute(
                "INSERT INTO fill_rules (symbol, mode, fraction) VALUES (?, ?, ?) "
                "ON CONFLICT (symbol) DO UPDATE SET mode = excluded.mode, fraction = excluded.fraction",
                (key, mode, dec_str(part) if part is not None else None),
            )

    @staticmethod
    def _rule_for(order: sqlite3.Row, rules: dict[str, dict[str, str | None]]) -> dict[str, str | None]:
        """The most specific rule: the order's client id, then its symbol, then ``*``."""
        for key in (CLIENT_ID_PREFIX + order["client_order_id"], order["symbol"], ALL_SYMBOLS):
            if key in rules:
                return rules[key]
        return {"mode": DEFAULT_FILL_MODE, "fraction": None}

    def _advance_to(self, target: dt.datetime) -> None:
        row = self._clock_row()
        last = parse_ts(row["last_advanced"])
        if target < last:
            return
        events: list[tuple[dt.datetime, int, str, str, Decimal, Decimal | None]] = []
        rules = self.fill_rule_details()
        for order in self.orders(OPEN_STATUSES):
            lo = max(last, parse_ts(order["submitted_at"]))
            expires = parse_ts(order["expires_at"]) if order["expires_at"] else None
            hi = min(target, expires) if expires is not None else target
            limit = Decimal(order["limit_price"]) if order["limit_price"] else None
            rule = self._rule_for(order, rules)
            mode = rule["mode"]
            held_back = mode in ("never", "reject")  # a rejecting model fills nothing
            fills = self.order_fills(order["id"]) if order["status"] == "partially_filled" else []
            if order["status"] == "partially_filled":
                # one fill per fill opportunity: the next one needs simulated time to have moved
                held_back = held_back or target <= last
                if fills:
                    lo = max(lo, parse_ts(fills[-1]["time"]) + _MICROSECOND)
            fill_at = first_immediate_fill if mode == "immediate" else first_fill
            point = (
                None
                if held_back
                else fill_at(self.book, order["symbol"], order["side"], order["type"], limit, lo, hi)
            )
            fraction = Decimal(rule["fraction"]) if mode == "partial" and rule["fraction"] else None
            if mode == "paper_like":
                fraction = paper_like_fraction(order["id"], len(fills))
            if mode == "reject" and order["status"] != "partially_filled":
                # Alpaca rejects before any fill; an order already partly filled is left to
                # expire or be canceled, never rejected with shares booked.
                rejected = first_open_instant(lo, hi)
                if rejected is not None:
                    events.append((rejected, order["seq"], "reject", order["id"], Decimal(0), None))
            elif point is not None:
                events.append((point.time, order["seq"], "fill", order["id"], point.price, fraction))
            if expires is not None and expires <= target:
                events.append((expires, order["seq"], "expire", order["id"], Decimal(0), None))
            elif point is None and order["status"] in ("accepted", "pending_new"):
                opened = first_open_instant(lo, hi)
                if opened is not None:
                    self._conn.execute(
                        "UPDATE orders SET status = 'new', updated_at = ? WHERE id = ?",
                        (fmt_utc(opened), order["id"]),
                    )
        for when, _, kind, order_id, price, fraction in sorted(
            events, key=lambda e: (e[0], e[1], e[2] != "fill")
        ):
            current = self.order(order_id)
            if current is None or current["status"] not in OPEN_STATUSES:
                continue  # filled in full (or canceled) by an earlier event of this advance
            if kind == "fill":
                self._apply_fill(current, when, price, fraction)
            elif kind == "reject":
                stamp = fmt_utc(when)
                self._conn.execute(
                    "UPDATE orders SET status = 'rejected', updated_at = ?, reserved = '0' WHERE id = ?",
                    (stamp, order_id),
                )
            else:
                stamp = fmt_utc(when)
                self._conn.execute(
                    "UPDATE orders SET status = 'expired', expired_at = ?, updated_at = ?, reserved = '0' "
                    "WHERE id = ?",
                    (stamp, stamp, order_id),
                )
        self._conn.execute("UPDATE clock SET last_advanced = ?", (fmt_utc(target),))

    def _apply_fill(
        self, order: sqlite3.Row, when: dt.datetime, price: Decimal, fraction: Decimal | None
    ) -> None:
        """Fill the order's remaining quantity at ``price``, or ``fraction`` of it.

        The remaining quantity is ``qty - filled_qty`` for qty orders; a notional order's
        remaining notional (``notional`` minus the value already filled) is converted at
        ``price``. A partial fill is ``fraction`` of the remaining quantity rounded down to
        the asset's increment (0.000001 if fractionable, else one share), at least one
        increment; when that is all that remains (or, for a notional order, what would
        remain is worth under $1) the order fills in full. Each fill books its own
        ``fills`` row, cash (to the cent) and position; ``filled_qty`` is cumulative and
        ``filled_avg_price`` the VWAP of the order's fills. A sell is capped at the shares
        held (and is then complete).
        """
        symbol, side = order["symbol"], order["side"]
        pos = self.position(symbol)
        held, basis = (dec(pos["qty"]), dec(pos["cost_basis"])) if pos else (Decimal(0), Decimal(0))
        prior = self.order_fills(order["id"])
        filled_qty = dec(order["filled_qty"])
        filled_value = sum((Decimal(f["qty"]) * Decimal(f["price"]) for f in prior), Decimal(0))
        if order["qty"] is not None:
            remaining = Decimal(order["qty"]) - filled_qty
            rest = remaining
        else:
            remaining = Decimal(order["notional"]) - filled_value
            rest = (remaining / price).quantize(QTY_STEP, rounding=ROUND_DOWN)
        qty = rest
        if fraction is not None and fraction < 1:
            asset = self.asset(symbol)
            step = _FRACTION_STEP if asset is None or asset["fractionable"] else Decimal(1)
            wanted = remaining * fraction if order["qty"] is not None else remaining * fraction / price
            chunk = max(step, (wanted / step).to_integral_value(rounding=ROUND_DOWN) * step)
            small_rest = order["qty"] is None and remaining - chunk * price < 1
            if chunk < rest and not small_rest:
                qty = chunk
        if side == "sell" and qty > held:
            qty = rest = held
        stamp = fmt_utc(when)
        if qty <= 0:
            self._conn.execute(
                "UPDATE orders SET status = 'canceled', canceled_at = ?, updated_at = ?, reserved = '0' "
                "WHERE id = ?",
                (stamp, stamp, order["id"]),
            )
            return
        amount = (qty * price).quantize(_CENT, rounding=ROUND_HALF_UP)
        cash = dec(self.account()["cash"])
        if side == "buy":
            cash, held, basis = cash - amount, held + qty, basis + qty * price
        else:
            # the average entry price is unchanged by a sale; a full exit clears the basis
            remaining_held = held - qty
            basis = basis * remaining_held / held if remaining_held else Decimal(0)
            cash, held = cash + amount, remaining_held
        self._conn.execute("UPDATE account SET cash = ?", (dec_str(cash),))
        if held == 0:
            self._conn.execute("DELETE FROM positions WHERE symbol = ?", (symbol,))
        else:
            self._conn.execute(
                "INSERT OR REPLACE INTO positions (symbol, qty, cost_basis) VALUES (?, ?, ?)",
                (symbol, dec_str(held), dec_str(basis)),
            )
        self._conn.execute(
            "INSERT INTO fills (order_id, symbol, side, qty, price, time) VALUES (?, ?, ?, ?, ?, ?)",
            (order["id"], symbol, side, dec_str(qty), dec_str(price), stamp),
        )
        total = filled_qty + qty
        vwap = (
            price if not prior else ((filled_value + qty * price) / total).quantize(_VWAP_STEP, ROUND_HALF_UP)
        )
        if qty >= rest:
            self._conn.execute(
                "UPDATE orders SET status = 'filled', filled_qty = ?, filled_avg_price = ?, filled_at = ?, "
                "updated_at = ?, reserved = '0' WHERE id = ?",
                (dec_str(total), dec_str(vwap), stamp, stamp, order["id"]),
            )
            return
        # still open: what it reserves shrinks with what remains (shares for a qty sell)
        after = remaining - (qty if order["qty"] is not None else qty * price)
        reserved = (
            after
            if side == "sell" and order["qty"] is not None
            else (Decimal(order["reserved"]) * after / remaining).quantize(QTY_STEP, ROUND_HALF_UP)
        )
        self._conn.execute(
            "UPDATE orders SET status = 'partially_filled', filled_qty = ?, filled_avg_price = ?, "
            "updated_at = ?, reserved = ? WHERE id = ?",
            (dec_str(total), dec_str(vwap), stamp, dec_str(reserved), order["id"]),
        )

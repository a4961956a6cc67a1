"""The simulator's deterministic core: account, orders, fills and positions in SQLite.

No HTTP here. Every public method runs under one lock and one SQLite transaction, and
returns only after the commit, so the HTTP layer can never answer for state that was not
persisted. The simulated clock only moves when told to (``set_clock``) or, in ``wall``
mode, with real time; :meth:`SimEngine.advance` then replays the elapsed stretch of
simulated time: queued orders fill at the first marketable instant (see
:mod:`.fills`), DAY orders still open at their session's close expire. Fill rules (table
``fill_rules``, keyed by ``*`` for all symbols, a symbol, or ``client_order_id:<id>``; the
most specific wins) choose another fill model: hold orders back ('never'), fill them in
parts ('partial': a fraction of the remainder per advance in which simulated time moved;
'paper_like'), fill at once ('immediate') or reject them ('reject').

Ids are derived (uuid5 of the account id and a sequence number) rather than random so
that two runs fed the same requests produce the same state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

from alchemiser_dagster.broker.simulator import store
from alchemiser_dagster.broker.simulator.assets import ASSET_NAMESPACE, asset_info
from alchemiser_dagster.broker.simulator.faults import FaultBook
from alchemiser_dagster.broker.simulator.fills import (
    DEFAULT_FILL_MODE,
    FILL_MODES,
    first_fill,
    first_immediate_fill,
    first_open_instant,
    paper_like_fraction,
)
from alchemiser_dagster.broker.simulator.prices import PriceBook
from alchemiser_dagster.broker.simulator.queries import OPEN_STATUSES, StateQueries, dec, dec_str
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
    check_simulated_time,
    fmt_utc,
    is_market_open,
    parse_ts,
    session_bounds,
    session_for_order,
)

__all__ = ["FILL_MODES", "OPEN_STATUSES", "SimEngine", "dec_str"]

_QTY_STEP = Decimal("0.000000001")
_FRACTION_STEP = Decimal("0.000001")
_VWAP_STEP = Decimal("0.000000001")
_CENT = Decimal("0.01")
#: Largest cash a reset accepts (a trillion dollars: room for any test, no overflowing sums).
MAX_CASH = Decimal("1e12")
_MICROSECOND = dt.timedelta(microseconds=1)
#: Fill rule keys: ``*`` (every symbol), a symbol, or this prefix and a client order id.
ALL_SYMBOLS = "*"
CLIENT_ID_PREFIX = "client_order_id:"
#: The spec's names for two models, and 'none' for 'never'.
MODE_ALIASES = {"none": "never", "full": "spread_crossing", "paper-like": "paper_like"}


class SimEngine(StateQueries):
    """State and rules of one simulated cash account (thread-safe, persistent)."""

    def __init__(self, state_dir: Path, book: PriceBook, *, cash: Decimal, now: dt.datetime | None) -> None:
        self.book = book
        self.lock = threading.RLock()
        self.closed = False
        self._conn = store.connect(state_dir)
        self.faults = FaultBook(self._conn, self.transaction, self.lock)
        with self.transaction():
            fresh = self._conn.execute("SELECT 1 FROM account").fetchone() is None
            if fresh:
                if now is None:
                    raise ValueError("a new simulator state needs a start time")
                check_simulated_time(now)
                self._write_clock(now, now)
                self._new_account(cash, generation=1)
            self._sync_assets()
        if not fresh and now is not None:
            self.set_clock(now)

    # --- plumbing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the engine lock and one IMMEDIATE transaction; commit on success."""
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self._conn.close()

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row["value"]) if row is not None else None

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _new_account(self, cash: Decimal, generation: int) -> None:
        account_id = str(uuid.uuid5(ASSET_NAMESPACE, f"account:{generation}"))
        number = f"SIM{generation:07d}"
        self._conn.execute(
            "INSERT OR REPLACE INTO account (singleton, id, account_number, cash, created_at) "
            "VALUES (1, ?, ?, ?, ?)",
            (account_id, number, dec_str(cash), fmt_utc(self.now())),
        )
        self._set_meta("generation", str(generation))

    def _sync_assets(self) -> None:
        for symbol in self.book.symbols:
            info = asset_info(symbol)
            self._conn.execute(
                "INSERT OR IGNORE INTO assets (symbol, id, name, exchange, tradable, fractionable) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (symbol, info.id, info.name, info.exchange, int(info.tradable), int(info.fractionable)),
            )

    def _next_id(self, kind: str) -> str:
        n = int(self._meta(f"seq:{kind}") or "0") + 1
        self._set_meta(f"seq:{kind}", str(n))
        return str(uuid.uuid5(uuid.UUID(self.account()["id"]), f"{kind}:{n}"))

    # --- clock -----------------------------------------------------------------------------

    def _clock_row(self) -> sqlite3.Row:
        row = self._conn.execute("SELECT * FROM clock").fetchone()
        assert isinstance(row, sqlite3.Row)
        return row

    def _write_clock(self, now: dt.datetime, last_advanced: dt.datetime, mode: str = "frozen") -> None:
        wall = fmt_utc(dt.datetime.now(dt.UTC)) if mode == "wall" else None
        self._conn.execute(
            "INSERT OR REPLACE INTO clock (singleton, now, last_advanced, mode, wall_anchor) "
            "VALUES (1, ?, ?, ?, ?)",
            (fmt_utc(now), fmt_utc(last_advanced), mode, wall),
        )

    def now(self) -> dt.datetime:
        """Simulated time (UTC). Frozen unless the clock is in ``wall`` mode."""
        with self.lock:
            row = self._clock_row()
            base = parse_ts(row["now"])
            if row["mode"] == "wall" and row["wall_anchor"]:
                return base + (dt.datetime.now(dt.UTC) - parse_ts(row["wall_anchor"]))
            return base

    def set_clock(self, now: dt.datetime, *, mode: str = "frozen") -> None:
        """Move the clock forward (never backward) and replay the elapsed time."""
        if now.tzinfo is None:
            raise ValueError("the simulated clock needs a tz-aware datetime")
        if mode not in ("frozen", "wall"):
            raise ValueError(f"clock mode must be 'frozen' or 'wall', not {mode!r}")
        check_simulated_time(now)
        with self.transaction():
            last = parse_ts(self._clock_row()["last_advanced"])
            target = now.astimezone(dt.UTC)
            if target < last:
                raise ValueError(
                    f"the simulated clock cannot go back from {fmt_utc(last)} to {fmt_utc(target)}"
                )
            self._advance_to(target)
            self._write_clock(target, target, mode)

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

    def advance(self) -> None:
        """Replay simulated time up to :meth:`now` (called at the start of every API request)."""
        with self.transaction():
            self._advance_to(self.now())

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

    # --- fills -----------------------------------------------------------------------------

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
            rest = (remaining / price).quantize(_QTY_STEP, rounding=ROUND_DOWN)
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
            else (Decimal(order["reserved"]) * after / remaining).quantize(_QTY_STEP, ROUND_HALF_UP)
        )
        self._conn.execute(
            "UPDATE orders SET status = 'partially_filled', filled_qty = ?, filled_avg_price = ?, "
            "updated_at = ?, reserved = ? WHERE id = ?",
            (dec_str(total), dec_str(vwap), stamp, dec_str(reserved), order["id"]),
        )

    # --- orders ----------------------------------------------------------------------------

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
                req.qty if req.qty is not None else (value / ref).quantize(_QTY_STEP, rounding=ROUND_DOWN)
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

    def reset(self, cash: Decimal, now: dt.datetime | None = None) -> None:
        """A fresh account (new id) with ``cash``: orders, fills and positions are dropped."""
        if not cash.is_finite() or not 0 <= cash <= MAX_CASH:
            raise ValueError(f"cash must be a finite amount from 0 to {MAX_CASH}, got {cash}")
        if now is not None:
            check_simulated_time(now)
        with self.transaction():
            generation = int(self._meta("generation") or "1") + 1
            for table in ("fills", "orders", "positions"):
                self._conn.execute(f"DELETE FROM {table}")
            if now is not None:
                target = now.astimezone(dt.UTC)
                self._write_clock(target, target, self._clock_row()["mode"])
            self._new_account(cash, generation)

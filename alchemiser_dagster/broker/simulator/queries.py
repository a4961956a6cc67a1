"""Read-only views of the simulator state (the SQL the engine and the views share).

Split from :mod:`.engine` so the engine module holds only state transitions. Callers hold
the engine lock (the HTTP layer does) or accept a snapshot read.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

__all__ = ["OPEN_STATUSES", "StateQueries", "dec", "dec_str"]

#: Statuses of orders that may still fill (and so reserve cash or shares).
OPEN_STATUSES = ("accepted", "pending_new", "new", "partially_filled")


def dec(text: str | None) -> Decimal:
    """Stored decimal text -> Decimal (NULL -> 0)."""
    return Decimal(text) if text is not None else Decimal(0)


def dec_str(value: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros (``1E+2`` -> ``100``)."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "") else text


def _row(value: object) -> sqlite3.Row | None:
    assert value is None or isinstance(value, sqlite3.Row)
    return value


def _rows(values: list[object]) -> list[sqlite3.Row]:
    return [r for r in values if isinstance(r, sqlite3.Row)]


class StateQueries:
    """SELECTs over the state database (mixed into :class:`~.engine.SimEngine`)."""

    _conn: sqlite3.Connection

    def _one(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Row | None:
        return _row(self._conn.execute(sql, params).fetchone())

    def _all(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return _rows(self._conn.execute(sql, params).fetchall())

    def account(self) -> sqlite3.Row:
        row = self._one("SELECT * FROM account")
        assert row is not None
        return row

    def asset(self, symbol: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM assets WHERE symbol = ?", (symbol.upper(),))

    def positions(self) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM positions ORDER BY symbol")

    def position(self, symbol: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM positions WHERE symbol = ?", (symbol,))

    def order(self, order_id: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM orders WHERE id = ?", (order_id,))

    def order_by_client_id(self, client_order_id: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))

    def orders(self, statuses: tuple[str, ...] | None = None) -> list[sqlite3.Row]:
        if statuses is None:
            return self._all("SELECT * FROM orders ORDER BY seq")
        marks = ",".join("?" * len(statuses))
        return self._all(f"SELECT * FROM orders WHERE status IN ({marks}) ORDER BY seq", statuses)

    def fills(self) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM fills ORDER BY seq")

    def order_fills(self, order_id: str) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM fills WHERE order_id = ? ORDER BY seq", (order_id,))

    def _open_reserved(self, side: str, symbol: str | None = None) -> Decimal:
        marks = ",".join("?" * len(OPEN_STATUSES))
        sql = f"SELECT reserved FROM orders WHERE side = ? AND status IN ({marks})"
        params: tuple[object, ...] = (side, *OPEN_STATUSES)
        if symbol is not None:
            sql, params = sql + " AND symbol = ?", (*params, symbol)
        return sum((Decimal(r["reserved"]) for r in self._all(sql, params)), Decimal(0))

    def held_for_orders(self, symbol: str) -> Decimal:
        """Shares of ``symbol`` that open sell orders hold."""
        return self._open_reserved("sell", symbol)

    def buying_power(self) -> Decimal:
        """Cash minus what open buy orders reserve (a cash account: no margin)."""
        return dec(self.account()["cash"]) - self._open_reserved("buy")

"""The simulator's deterministic core: one cash account in SQLite, state under one lock.

No HTTP here. Every public method runs under one lock and one SQLite transaction, and
returns only after the commit, so the HTTP layer can never answer for state that was not
persisted. `SimEngine` is built in layers, each a module: reads (:mod:`.queries`), the
clock (:mod:`.clock`), fill rules and the replay of simulated time (:mod:`.fill_replay`),
orders (:mod:`.orders`); this module holds the plumbing, the account and its reset.

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
from decimal import Decimal
from pathlib import Path

from alchemiser_dagster.broker.simulator import store
from alchemiser_dagster.broker.simulator.assets import ASSET_NAMESPACE, asset_info
from alchemiser_dagster.broker.simulator.faults import FaultBook
from alchemiser_dagster.broker.simulator.fills import FILL_MODES
from alchemiser_dagster.broker.simulator.orders import OrderDesk
from alchemiser_dagster.broker.simulator.prices import PriceBook
from alchemiser_dagster.broker.simulator.queries import OPEN_STATUSES, dec_str
from alchemiser_dagster.broker.simulator.timeutil import check_simulated_time, fmt_utc

__all__ = ["FILL_MODES", "OPEN_STATUSES", "SimEngine", "dec_str"]

#: Largest cash a reset accepts (a trillion dollars: room for any test, no overflowing sums).
MAX_CASH = Decimal("1e12")


class SimEngine(OrderDesk):
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

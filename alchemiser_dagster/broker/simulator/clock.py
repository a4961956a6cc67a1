"""The simulator's clock: frozen unless told to move, or running with the wall clock.

It only moves forward; moving it (``set_clock``) or reading the state in ``wall`` mode
(``advance``, at the start of every API request) replays the elapsed stretch of simulated
time (see :mod:`.fill_replay`), so state never lags the clock it is read at.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from collections.abc import Callable

from alchemiser_dagster.broker.simulator.queries import StateQueries
from alchemiser_dagster.broker.simulator.timeutil import check_simulated_time, fmt_utc, parse_ts


class SimClock(StateQueries):
    """The clock row of the state database (a layer of :class:`~.engine.SimEngine`)."""

    lock: threading.RLock
    transaction: Callable[[], contextlib.AbstractContextManager[sqlite3.Connection]]  # SimEngine
    _advance_to: Callable[[dt.datetime], None]  # FillReplay

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

    def advance(self) -> None:
        """Replay simulated time up to :meth:`now` (called at the start of every API request)."""
        with self.transaction():
            self._advance_to(self.now())

"""SQLite persistence for the simulator (one file, ``<state_dir>/sim.sqlite3``).

WAL with ``synchronous=FULL`` so that a committed order survives a crash of the process:
the HTTP layer writes a response only after the engine committed, which is what makes a
"commit, then lose the response" fault meaningful later on. Decimals are stored as TEXT
(exact), timestamps as fixed-width UTC ``...Z`` text (sortable).

``client_order_id`` is UNIQUE in the schema itself, so uniqueness holds even if a future
code path forgets the explicit check.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alchemiser_dagster.broker.simulator.fills import FILL_MODES

__all__ = ["SCHEMA", "connect"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS account (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL,
    account_number TEXT NOT NULL,
    cash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS assets (
    symbol TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    exchange TEXT NOT NULL,
    tradable INTEGER NOT NULL,
    fractionable INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    side TEXT NOT NULL,
    type TEXT NOT NULL,
    time_in_force TEXT NOT NULL,
    qty TEXT,
    notional TEXT,
    limit_price TEXT,
    status TEXT NOT NULL,
    filled_qty TEXT NOT NULL,
    filled_avg_price TEXT,
    reserved TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    filled_at TEXT,
    canceled_at TEXT,
    expired_at TEXT,
    expires_at TEXT
);
CREATE INDEX IF NOT EXISTS orders_status ON orders (status);
CREATE INDEX IF NOT EXISTS orders_created ON orders (created_at);
CREATE TABLE IF NOT EXISTS fills (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL REFERENCES orders (id),
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty TEXT NOT NULL,
    price TEXT NOT NULL,
    time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS positions (
    symbol TEXT PRIMARY KEY,
    qty TEXT NOT NULL,
    cost_basis TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fill_rules (
    symbol TEXT PRIMARY KEY,
    mode TEXT NOT NULL
        CHECK (mode IN ('spread_crossing', 'immediate', 'partial', 'paper_like', 'never', 'reject')),
    fraction TEXT
);
CREATE TABLE IF NOT EXISTS fault_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    times INTEGER,
    skip INTEGER NOT NULL DEFAULT 0,
    params TEXT NOT NULL DEFAULT '{}',
    probability REAL NOT NULL DEFAULT 1,
    seen INTEGER NOT NULL DEFAULT 0,
    applied INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS clock (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    now TEXT NOT NULL,
    last_advanced TEXT NOT NULL,
    mode TEXT NOT NULL DEFAULT 'frozen',
    wall_anchor TEXT
);
"""


def connect(state_dir: Path) -> sqlite3.Connection:
    """Open (creating if needed) the state database; the engine serializes access with a lock."""
    state_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        state_dir / "sim.sqlite3", check_same_thread=False, isolation_level=None, timeout=30.0
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(SCHEMA)
    _migrate(conn)
    return conn


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row["name"]) for row in conn.execute(f"PRAGMA table_info({table})")}


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a state dir written by an older version up to :data:`SCHEMA` (idempotent).

    ``CREATE TABLE IF NOT EXISTS`` leaves existing tables alone, so these changes need help
    (besides ``fault_rules.probability``, added when missing):
    an older ``fill_rules`` CHECK does not admit every mode of :data:`.fills.FILL_MODES`
    (SQLite cannot alter a CHECK: the table is rebuilt, rules and fractions kept), and
    the ``fraction`` column of the first version is added when missing. Runs in one
    IMMEDIATE transaction that re-reads the schema, so two processes opening the same old
    state migrate it once.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'fill_rules'"
        ).fetchone()
        if row is not None and any(f"'{mode}'" not in str(row["sql"]) for mode in FILL_MODES):
            modes = ", ".join(f"'{mode}'" for mode in FILL_MODES)
            conn.execute(
                "CREATE TABLE fill_rules_migrated (symbol TEXT PRIMARY KEY, "
                f"mode TEXT NOT NULL CHECK (mode IN ({modes})), fraction TEXT)"
            )
            # Before 'spread_crossing' existed, 'immediate' was its name: keep what the rule did.
            renamed = "'spread_crossing'" not in str(row["sql"])
            mode = "CASE mode WHEN 'immediate' THEN 'spread_crossing' ELSE mode END" if renamed else "mode"
            fraction = "fraction" if "fraction" in _columns(conn, "fill_rules") else "NULL"
            conn.execute(
                "INSERT INTO fill_rules_migrated (symbol, mode, fraction) "
                f"SELECT symbol, {mode}, {fraction} FROM fill_rules"
            )
            conn.execute("DROP TABLE fill_rules")
            conn.execute("ALTER TABLE fill_rules_migrated RENAME TO fill_rules")
        if "fraction" not in _columns(conn, "fill_rules"):
            conn.execute("ALTER TABLE fill_rules ADD COLUMN fraction TEXT")
        if "probability" not in _columns(conn, "fault_rules"):
            conn.execute("ALTER TABLE fault_rules ADD COLUMN probability REAL NOT NULL DEFAULT 1")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")

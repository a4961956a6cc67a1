"""Broker keys never leave the environment: a run with recognisable keys, then a search of
everything the run left behind for them.

The daily job runs in ``paper`` mode against the local stand-in (reached through
``broker_url``), which only answers requests carrying exactly these keys, on a persistent
Dagster instance in ``tmp_path`` so event logs, run records and compute logs are on disk.
The keys, and their base64 / url-encoded / hex forms, must then appear in none of: the
run's event records (metadata included), its run record, config and snapshots, any file of
the instance (compute logs, sqlite storages), any stored asset or control document, the
captured stdout/stderr and log records. The search looks inside sqlite rows (also
zlib-compressed blobs) and parquet tables, so compression does not hide a key; a test
plants keys to show it can find them.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import logging
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster._serdes import serialize_value

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.pipeline.failures import failure_reasons
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "strategies" / "allocations.prod.json"
D = dt.date(2024, 6, 28)  # a session; the stand-in's clock is 15:45 New York, market open

API_KEY = "AKSECRETKEYID9876"
SECRET_KEY = "SECRETVALUE-5f0c1e2d-DO-NOT-LEAK"
SECRETS = {"ALPACA_API_KEY": API_KEY, "ALPACA_SECRET_KEY": SECRET_KEY}

SQLITE_MAGIC = b"SQLite format 3\x00"
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"


# --- the search -------------------------------------------------------------------------


def secret_forms(secret: str) -> dict[bytes, str]:
    """Byte patterns that betray `secret`, each with a label naming the encoding.

    Base64 depends on where the secret starts inside the encoded text (``key:secret`` in a
    Basic auth header, say), so for each of the three alignments only the characters made
    of the secret's bits alone are kept: they appear in any base64 text containing it.
    """
    raw = secret.encode()
    forms: dict[bytes, str] = {}

    def add(pattern: bytes, label: str) -> None:
        forms.setdefault(pattern, label)

    add(raw, "raw")
    add(quote(secret, safe="").encode(), "url-encoded")
    add(quote_plus(secret).encode(), "url-encoded (form)")
    add(raw.hex().encode(), "hex")
    add(raw.hex().upper().encode(), "hex (upper case)")
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + raw)
        first = -(-8 * shift // 6)  # the first character holding only secret bits
        end = 8 * (shift + len(raw)) // 6  # one past the last such character
        core = encoded[first:end]
        add(core, f"base64 (alignment {shift})")
        add(core.translate(bytes.maketrans(b"+/", b"-_")), f"base64url (alignment {shift})")
    return forms


def search(data: bytes | str, secrets: dict[str, str] = SECRETS) -> list[str]:
    """Which secrets (by variable name) appear in `data`, and in which form."""
    blob = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    found = []
    for name, secret in secrets.items():
        for pattern, label in secret_forms(secret).items():
            if pattern in blob:
                found.append(f"{name} ({label})")
    return found


def _decompressed(value: bytes) -> bytes | None:
    for decompress in (zlib.decompress, gzip.decompress):
        try:
            return decompress(value)
        except (zlib.error, OSError, EOFError):
            continue
    return None


def _sqlite_views(path: Path) -> Iterator[tuple[str, bytes]]:
    """Every cell of every table (rows may straddle pages in the raw file), blobs unzipped."""
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as connection:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row_number, row in enumerate(connection.execute(f'SELECT * FROM "{table}"')):
                for column, value in enumerate(row):
                    where = f"table {table} row {row_number} column {column}"
                    if isinstance(value, str):
                        yield where, value.encode("utf-8", "backslashreplace")
                    elif isinstance(value, bytes):
                        yield where, value
                        unzipped = _decompressed(value)
                        if unzipped is not None:
                            yield f"{where} (decompressed)", unzipped


def _parquet_views(path: Path) -> Iterator[tuple[str, bytes]]:
    """The decoded table and schema metadata (column chunks are compressed on disk)."""
    table = pq.read_table(path)
    for key, value in (table.schema.metadata or {}).items():
        yield f"schema metadata {key!r}", key + b"=" + value
    yield "rows", repr(table.to_pylist()).encode("utf-8", "backslashreplace")
    yield "schema", str(table.schema).encode("utf-8", "backslashreplace")


def file_views(path: Path) -> Iterator[tuple[str, bytes]]:
    """The file's bytes, plus the decoded content of sqlite, parquet and gzip/zlib files."""
    data = path.read_bytes()
    yield "bytes", data
    if data.startswith(SQLITE_MAGIC):
        yield from _sqlite_views(path)
    elif data.startswith(PARQUET_MAGIC):
        yield from _parquet_views(path)
    elif data.startswith(GZIP_MAGIC) or data[:1] == b"\x78":
        unzipped = _decompressed(data)
        if unzipped is not None:
            yield "decompressed", unzipped


def scan_tree(root: Path, skip: tuple[Path, ...] = ()) -> list[str]:
    """Every place under `root` (outside `skip`) where a secret appears."""
    leaks = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(path.is_relative_to(s) for s in skip):
            continue
        for where, data in file_views(path):
            leaks += [f"{path} [{where}]: {hit}" for hit in search(data)]
    return leaks


def test_the_search_finds_planted_keys(tmp_path: Path) -> None:
    """The search can fail: each way a key could be stored is found, a clean tree is not."""
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "log.txt").write_text("ALPACA_API_KEY is read from the environment\n")
    assert scan_tree(clean) == []

    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "compute.err").write_text(f"connecting with {API_KEY}\n")
    basic = base64.b64encode(f"user:{SECRET_KEY}".encode()).decode()
    (planted / "headers.json").write_text(f'{{"Authorization": "Basic {basic}"}}')
    (planted / "url.txt").write_text("https://x/?k=" + quote("x" + SECRET_KEY + "&/"))
    with sqlite3.connect(planted / "runs.db") as db:
        db.execute("CREATE TABLE snapshots (body BLOB)")
        db.execute("INSERT INTO snapshots VALUES (?)", (zlib.compress(f"[{SECRET_KEY}]".encode() * 50),))
    pq.write_table(
        pa.Table.from_pandas(pd.DataFrame({"note": [f"key {API_KEY}"] * 200})),
        planted / "ledger.parquet",
        compression="snappy",
    )
    (planted / "blob.gz").write_bytes(gzip.compress(f"secret={SECRET_KEY}".encode() * 50))

    leaks = scan_tree(planted)
    for name in ("compute.err", "headers.json", "url.txt", "runs.db", "ledger.parquet", "blob.gz"):
        assert any(f"{name} [" in leak for leak in leaks), (name, leaks)
    assert any("runs.db [table snapshots row 0 column 0 (decompressed)]" in leak for leak in leaks), leaks
    assert any("ledger.parquet [rows]" in leak for leak in leaks), leaks
    assert any("ALPACA_SECRET_KEY (base64" in leak for leak in leaks), leaks
    assert search(f"x{API_KEY}y".encode()) == ["ALPACA_API_KEY (raw)"]
    assert search(base64.b64encode(f"ab{API_KEY}".encode())) == ["ALPACA_API_KEY (base64 (alignment 2))"]


# --- the run ----------------------------------------------------------------------------


def run_and_collect_leaks(
    tmp_path: Path,
    server: SimulatorServer,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> tuple[dg.ExecuteInProcessResult, dict[str, list[str]]]:
    """Run the daily job in paper mode on a persistent instance; every leak, by surface."""
    data = tmp_path / "data"  # the storage base and, beside it, control/
    settings = Settings(
        mode="paper",
        broker_url=server.base_url,
        config=CONFIG,
        storage=str(data / "storage"),
    )
    home = tmp_path / "dagster"
    home.mkdir()
    leaks: dict[str, list[str]] = {}
    caplog.set_level(logging.DEBUG)  # a library logging request headers at DEBUG would show
    with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
        job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
        result = job.execute_in_process(partition_key=D.isoformat(), instance=instance, raise_on_error=False)

        records = instance.all_logs(result.run_id)
        assert records, "the run left no event records to search"
        leaks["event log"] = [
            f"event {i} {record.dagster_event_type or 'log message'} (step {record.step_key}): {hit}"
            for i, record in enumerate(records)
            for hit in search(serialize_value(record) + "\n" + repr(record))
        ]

        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.job_snapshot_id and run.execution_plan_snapshot_id
        surfaces = {
            "run record": serialize_value(run) + "\n" + repr(run),
            "run config": repr(run.run_config) + repr(result.dagster_run.run_config),
            "run tags": repr(run.tags),
            "job snapshot": serialize_value(instance.get_job_snapshot(run.job_snapshot_id)),
            "execution plan snapshot": serialize_value(
                instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
            ),
        }
        leaks["run record"] = [
            f"{surface}: {hit}" for surface, text in surfaces.items() for hit in search(text)
        ]
        leaks["in-process events"] = [
            f"{event.event_type_value} (step {event.step_key}): {hit}"
            for event in result.all_events
            for hit in search(serialize_value(event) + repr(event))
        ]

    compute_logs = [p for p in home.rglob("compute_logs/*") if p.suffix in {".out", ".err"}]
    assert sum(p.stat().st_size for p in compute_logs) > 0, f"no compute logs captured under {home}"
    leaks["instance files (event/run storage, compute logs)"] = scan_tree(home)

    stored = [p for p in (data / "storage").rglob("*") if p.suffix in {".json", ".parquet"}]
    assert stored or not result.success, f"no stored assets under {data / 'storage'}"
    leaks["stored assets and control documents"] = scan_tree(data)
    leaks["anything else under tmp_path"] = scan_tree(tmp_path, skip=(home, data, Path(server.state_dir)))

    captured = capfd.readouterr()
    assert "RUN_" in captured.err + captured.out + caplog.text, "the run's console log was not captured"
    leaks["captured stdout"] = [f"stdout: {hit}" for hit in search(captured.out)]
    leaks["captured stderr"] = [f"stderr: {hit}" for hit in search(captured.err)]
    leaks["log records"] = [
        f"{r.name} {r.levelname}: {hit}"
        for r in caplog.records
        for hit in search(r.getMessage() + repr(r.args))
    ]
    return result, {surface: found for surface, found in leaks.items() if found}


def describe(leaks: dict[str, list[str]]) -> str:
    lines = [f"broker keys leaked into {len(leaks)} surface(s):"]
    for surface, found in leaks.items():
        lines.append(f"  {surface}:")
        lines += [f"    {hit}" for hit in found[:20]]
        if len(found) > 20:
            lines.append(f"    ... and {len(found) - 20} more")
    return "\n".join(lines)


@pytest.fixture
def keys_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def stand_in(tmp_path: Path, keys_in_env: None) -> Iterator[SimulatorServer]:
    """'Alpaca paper' that answers only requests carrying exactly the recognisable keys."""
    server = SimulatorServer(
        tmp_path / "broker", now=session_time(D), api_key=API_KEY, secret_key=SECRET_KEY
    ).start()
    yield server
    server.stop()


@pytest.fixture
def rejecting_stand_in(tmp_path: Path, keys_in_env: None) -> Iterator[SimulatorServer]:
    """A broker that rejects the keys: the run fails, and its error reports are searched too."""
    server = SimulatorServer(
        tmp_path / "broker", now=session_time(D), api_key="AKOTHER", secret_key="other-secret"
    ).start()
    yield server
    server.stop()


def test_keys_appear_in_no_log_metadata_or_stored_asset(
    tmp_path: Path,
    stand_in: SimulatorServer,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The stand-in enforces the keys, so orders placed prove the run really used them.
    with pytest.raises(Exception, match="unauthorized"):
        AlpacaBroker("AKWRONG", "wrong-secret", base_url=stand_in.base_url).get_account()

    result, leaks = run_and_collect_leaks(tmp_path, stand_in, capfd, caplog)

    assert result.success, failure_reasons(result.all_events)
    placed = result.asset_value("execution_result").orders_placed
    assert placed > 0
    orders = AlpacaBroker(API_KEY, SECRET_KEY, base_url=stand_in.base_url).get_orders(status="all")
    assert len(orders) == placed
    assert not leaks, describe(leaks)


def test_rejected_keys_appear_in_no_error_report(
    tmp_path: Path,
    rejecting_stand_in: SimulatorServer,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    result, leaks = run_and_collect_leaks(tmp_path, rejecting_stand_in, capfd, caplog)

    assert not result.success
    reasons = failure_reasons(result.all_events)
    assert reasons, "the run failed without a failure reason to search"
    assert not leaks, describe(leaks)

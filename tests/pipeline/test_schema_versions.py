"""Stored versions are checked on read: newer refused, older migrated or refused, naming file and version."""

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from upath import UPath

from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.domain.risk.killswitch import KillSwitchFlip, KillSwitchLog
from alchemiser_dagster.pipeline import io_manager
from alchemiser_dagster.pipeline.io_manager import PARQUET_KEY, ModelIOManager, StoredVersion

MODEL = "alchemiser_dagster.domain.risk.killswitch:KillSwitchLog"
LOG = KillSwitchLog(
    flips=(
        KillSwitchFlip(state="HALTED", at=dt.datetime(2024, 6, 28, 15, tzinfo=dt.UTC), who="ops", why="t"),
    )
)


def stored_model(tmp_path: Path, *, envelope_version: object = 1, record_version: object = 1) -> Path:
    value: dict[str, Any] = LOG.model_dump(mode="json")
    value["schema_version"] = record_version
    path = tmp_path / "value.json"
    envelope = {"schema_version": envelope_version, "model": MODEL, "value": value}
    path.write_text(json.dumps(envelope))
    return path


def read(tmp_path: Path, path: Path) -> object:
    return ModelIOManager(base=str(tmp_path)).read_version(StoredVersion(UPath(path), None, None))[0]


def test_the_current_version_reads_back(tmp_path: Path) -> None:
    assert read(tmp_path, stored_model(tmp_path)) == LOG


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        (
            {"record_version": 2},
            r"KillSwitchLog has schema_version 2, written by a newer release; this one reads up to 1",
        ),
        (
            {"record_version": 0},
            r"KillSwitchLog has schema_version 0, older than 1, and no migration reads it",
        ),
        ({"record_version": "1"}, r"KillSwitchLog has no valid schema_version \(found '1'\)"),
        ({"envelope_version": 3}, r"the envelope has schema_version 3, written by a newer release"),
        ({"envelope_version": None}, r"the envelope has no valid schema_version \(found None\)"),
    ],
)
def test_a_version_this_release_cannot_read_is_refused_naming_file_and_version(
    tmp_path: Path, versions: dict[str, object], expected: str
) -> None:
    path = stored_model(tmp_path, **versions)
    with pytest.raises(StorageError, match=rf"{path}: .*{expected}"):
        read(tmp_path, path)


def test_an_older_record_with_a_migration_is_upgraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def rename_reason(value: dict[str, Any]) -> dict[str, Any]:  # version 0 called `why` `reason`
        flips = [{("why" if k == "reason" else k): v for k, v in f.items()} for f in value["flips"]]
        return {**value, "flips": flips}

    monkeypatch.setitem(io_manager.MIGRATIONS, (MODEL, 0), rename_reason)
    path = stored_model(tmp_path, record_version=0)
    envelope = json.loads(path.read_text())
    envelope["value"]["flips"] = [
        {("reason" if k == "why" else k): v for k, v in f.items()} for f in envelope["value"]["flips"]
    ]
    path.write_text(json.dumps(envelope))
    assert read(tmp_path, path) == LOG


def test_a_table_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    table = pa.Table.from_pandas(pd.DataFrame({"a": [1]}), preserve_index=False)
    buffer = io.BytesIO()
    metadata = {**(table.schema.metadata or {}), PARQUET_KEY: json.dumps({"schema_version": 2}).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), buffer)
    path = tmp_path / "value.parquet"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(
        StorageError, match=rf"{path}: the table has schema_version 2, written by a newer release"
    ):
        read(tmp_path, path)

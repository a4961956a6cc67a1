"""Control documents read as versioned records: a version other than the model's is refused by path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from upath import UPath

from alchemiser_dagster.control.documents import read_record
from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.domain.model import Record


class Note(Record):
    schema_version: int = 2
    text: str


def _stored(tmp_path: Path, value: object) -> UPath:
    path = tmp_path / "note.json"
    path.write_text(json.dumps(value))
    return UPath(path)


def test_the_current_version_reads_back(tmp_path: Path) -> None:
    assert read_record(_stored(tmp_path, {"schema_version": 2, "text": "hi"}), Note, "the note") == Note(
        text="hi"
    )


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert read_record(UPath(tmp_path / "absent.json"), Note, "the note") is None


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (3, "the note has schema_version 3, written by a newer release; this one reads up to 2"),
        (1, "the note has schema_version 1, older than 2, and no migration reads it"),
        ("2", "the note has no valid schema_version (found '2')"),
        (True, "the note has no valid schema_version (found True)"),
    ],
)
def test_a_version_this_release_does_not_write_is_refused_naming_the_path(
    tmp_path: Path, version: object, message: str
) -> None:
    path = _stored(tmp_path, {"schema_version": version, "text": "hi"})
    with pytest.raises(StorageError) as error:
        read_record(path, Note, "the note")
    assert str(error.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize(
    ("value", "fault"),
    [([1, 2], "not a JSON object"), ({"schema_version": 2}, "text: Field required")],
)
def test_a_value_that_is_not_the_record_is_corrupted_naming_the_field(
    tmp_path: Path, value: object, fault: str
) -> None:
    path = _stored(tmp_path, value)
    with pytest.raises(StorageError, match="the note is corrupted") as error:
        read_record(path, Note, "the note")
    assert fault in str(error.value)

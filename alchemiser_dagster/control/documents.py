"""Small JSON documents kept beside the storage base, outside any run.

`<storage base>/../control/...` works the same on a local disk and on S3 (through
universal-pathlib, read and written only with `path.open()`; see
`alchemiser_dagster.storage`). Local writes are atomic: a temporary file in the same
folder, fsync, then `os.replace`; remote writes replace the object in one PUT. Remote
reads never answer from a listing cache, so a document written by another process (a
kill-switch flip from the CLI, a journal from an earlier run) is seen by the next read.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import ValidationError
from upath import UPath

from alchemiser_dagster.domain.errors import ConfigError, StorageError
from alchemiser_dagster.domain.model import SCHEMA_VERSION, Record, current_schema_version
from alchemiser_dagster.storage import LOCAL_PROTOCOLS, is_local, read_bytes, storage_path, write_bytes

CONTROL_DIR = "control"

__all__ = [
    "CONTROL_DIR",
    "LOCAL_PROTOCOLS",
    "control_path",
    "is_local",
    "read_document",
    "read_record",
    "write_document",
]


def control_path(storage_base: str, *parts: str) -> UPath:
    base = storage_path(storage_base)
    if base.parent == base:
        raise ConfigError(f"storage base {storage_base!r} has no parent folder to hold {CONTROL_DIR}/")
    return base.parent.joinpath(CONTROL_DIR, *parts)


def read_document(path: UPath) -> bytes | None:
    """The file's bytes, or None when it does not exist (StorageError when unreadable)."""
    return read_bytes(storage_path(path))


def write_document(path: UPath, payload: bytes) -> None:
    """Replace the document durably (StorageError when it cannot be written)."""
    write_bytes(storage_path(path), payload, durable=True)


RecordT = TypeVar("RecordT", bound=Record)


def read_record(path: UPath, model_type: type[RecordT], what: str) -> RecordT | None:
    """The record stored at `path`, None when the file does not exist.

    Anything else that is not a record this release wrote (not JSON, a schema_version other
    than the model's, a field that does not fit) is a StorageError naming the path and the
    fields at fault, never a default value.
    """
    payload = read_document(path)
    if payload is None:
        return None
    try:
        value = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StorageError(
            f"{path}: {what} is corrupted (not JSON: {error}); fix or remove it deliberately"
        ) from error
    if not isinstance(value, dict):
        raise StorageError(f"{path}: {what} is corrupted (not a JSON object); fix or remove it deliberately")
    current = model_type.model_fields["schema_version"].default
    # Documents from before records carried a version are at the first one.
    current_schema_version(path, what, value.get("schema_version", SCHEMA_VERSION), current)
    try:
        return model_type.model_validate_json(payload)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'file'}: {e['msg']}" for e in error.errors()
        )
        raise StorageError(
            f"{path}: {what} is corrupted ({problems}); fix or remove it deliberately"
        ) from error

"""Small JSON documents kept beside the storage base, outside any run.

`<storage base>/../control/...` works the same on a local disk and on S3 (through
universal-pathlib, read and written only with `path.open()`; see
`alchemiser_dagster.storage`). Local writes are atomic: a temporary file in the same
folder, fsync, then `os.replace`; remote writes replace the object in one PUT. Remote
reads never answer from a listing cache, so a document written by another process (a
kill-switch flip from the CLI, a journal from an earlier run) is seen by the next read.
"""

from __future__ import annotations

from upath import UPath

from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.storage import LOCAL_PROTOCOLS, is_local, read_bytes, storage_path, write_bytes

CONTROL_DIR = "control"

__all__ = [
    "CONTROL_DIR",
    "LOCAL_PROTOCOLS",
    "control_path",
    "is_local",
    "read_document",
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

"""Small JSON documents kept beside the storage base, outside any run.

`<storage base>/../control/...` works the same on a local disk and on S3 (through
universal-pathlib, read and written only with `path.open()`). Local writes are atomic:
a temporary file in the same folder, fsync, then `os.replace`.
"""

from __future__ import annotations

import contextlib
import os
import uuid

from upath import UPath

from alchemiser_dagster.domain.errors import ConfigError, StorageError

CONTROL_DIR = "control"
LOCAL_PROTOCOLS = frozenset({"", "file", "local"})


def control_path(storage_base: str, *parts: str) -> UPath:
    base = UPath(storage_base)
    if base.parent == base:
        raise ConfigError(f"storage base {storage_base!r} has no parent folder to hold {CONTROL_DIR}/")
    return base.parent.joinpath(CONTROL_DIR, *parts)


def is_local(path: UPath) -> bool:
    return path.protocol in LOCAL_PROTOCOLS


def read_document(path: UPath) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        with path.open("rb") as handle:
            data: bytes = handle.read()
            return data
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StorageError(f"{path}: cannot read ({error})") from error


def write_document(path: UPath, payload: bytes) -> None:
    try:
        if is_local(path):
            _write_local(UPath(path.path), payload)
        else:
            with path.open("wb") as handle:
                handle.write(payload)
    except OSError as error:
        raise StorageError(f"{path}: cannot write ({error})") from error


def _write_local(target: UPath, payload: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary.path, target.path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary.path)

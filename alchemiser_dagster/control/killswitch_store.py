"""The kill switch's persistent log, kept beside the storage base and outside any run.

The file is `<parent of the storage base>/control/killswitch.json`, so the same code
serves a local folder and an fsspec URL (`s3://bucket/prefix/storage` ->
`s3://bucket/prefix/control/killswitch.json`). It is read and written only through
`UPath.open()`. Local writes are atomic (a temporary file in the same folder, then
`os.replace`) and serialised with an advisory lock where the OS has one; remote writes
replace the object in one PUT (two simultaneous flips on S3 are not serialised: the
later PUT wins). Every read goes to the store (no listing cache), so a flip made by
another process is in force at the next read.

Failing closed: only a file that has never existed means the switch was never flipped
(ACTIVE). A file that cannot be read or parsed, a folder in its place, a permission
error, or a symlink (at the file or a folder above it) whose target is gone is a
`StorageError` naming the path and why, never a silent ACTIVE.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
from collections.abc import Iterator

from upath import UPath

from alchemiser_dagster.control.documents import CONTROL_DIR, read_record, write_document
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.risk.killswitch import (
    KillState,
    KillSwitchFlip,
    KillSwitchLog,
    parse_state,
)
from alchemiser_dagster.storage import is_local, storage_path

try:  # POSIX only; elsewhere local writes are atomic but not serialised.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

FILE_NAME = "killswitch.json"


def default_who() -> str:
    """The OS user running the command (the audit trail's `who`)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown user"


class KillSwitchStore:
    """Reads and appends to the kill-switch log of one storage base."""

    def __init__(self, storage_base: str) -> None:
        base = storage_path(storage_base)
        if base.parent == base:
            raise ConfigError(
                f"storage base {storage_base!r} has no parent folder to hold {CONTROL_DIR}/{FILE_NAME}"
            )
        self._path = base.parent / CONTROL_DIR / FILE_NAME

    @property
    def location(self) -> str:
        """Where the log lives (a local path or a URL)."""
        return str(self._path)

    @property
    def is_local(self) -> bool:
        return is_local(self._path)

    def read(self) -> KillSwitchLog:
        """The whole log; an empty one (ACTIVE) when the file does not exist yet."""
        log = read_record(self._path, KillSwitchLog, "kill-switch file")
        return KillSwitchLog() if log is None else log

    def current(self) -> KillState:
        """The state in force now (fails closed on an unreadable file: StorageError)."""
        return self.read().current

    def flip(
        self,
        state: str,
        why: str,
        *,
        who: str | None = None,
        now: dt.datetime | None = None,
    ) -> KillSwitchFlip:
        """Append a flip to `state` (ACTIVE/REDUCING/HALTED, any case) and return it."""
        if not why.strip():
            raise ConfigError("a kill-switch flip needs a reason (why must not be empty)")
        at = now if now is not None else dt.datetime.now(dt.UTC)
        if at.tzinfo is None or at.utcoffset() is None:
            raise ConfigError(f"a kill-switch flip time must be timezone-aware, got {at.isoformat()}")
        who = who if who is not None else default_who()
        if not who.strip():
            raise ConfigError("a kill-switch flip needs a non-empty who")
        flip = KillSwitchFlip(state=parse_state(state), at=at, who=who, why=why)
        with self._locked():
            log = self.read().with_flip(flip)
            self._write(log.model_dump_json(indent=2).encode() + b"\n")
        return flip

    # --- writing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise read-append-write between local writers (advisory lock beside the file)."""
        if not self.is_local or fcntl is None:
            yield
            return
        lock_path = self._local_file().with_name(f".{FILE_NAME}.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _local_file(self) -> UPath:
        return UPath(self._path.path)

    def _write(self, payload: bytes) -> None:
        write_document(self._path, payload)

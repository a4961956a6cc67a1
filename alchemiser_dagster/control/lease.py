"""A lease document: one holder at a time, on a local disk or on S3, safe when a holder dies.

Two backends behind one small interface (`Lease`):

- `FileLease` (a local storage base): an exclusive `fcntl.flock` on the lease file, held
  on an open descriptor for as long as the lease is held. The kernel drops the lock when
  the holder's process ends however it ends (SIGKILL included), so a crashed holder never
  blocks anyone and nothing stale is left to judge. The holder's facts are written into
  the file once it is locked, for the waiting runs' messages. The file is never deleted
  (deleting a flock'd file lets two processes lock two different inodes of one path).
- `ObjectLease` (an ``s3://`` storage base): S3 conditional writes through boto3. Taking
  it is a ``PutObject`` with ``If-None-Match: *`` (only one create wins); the holder
  refreshes it (heartbeat) with ``If-Match: <its ETag>``; a waiting run takes it over
  with ``If-Match: <the ETag it judged stale>``, so of two runs taking over the same
  stale lease only one can win. A lease is stale when its holder ran on this host and
  its process is gone, or when the object was last written more than ``stale_seconds``
  ago; both times are S3's own (``Last-Modified`` and the answer's ``Date``), so clocks
  of different hosts never disagree about it. boto3 reads the endpoint and credentials
  from the same standard AWS settings as the storage's s3fs (see `alchemiser_dagster.storage`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import socket
from dataclasses import dataclass
from typing import IO, Any, Protocol

from pydantic import ValidationError
from upath import UPath

from alchemiser_dagster.domain.errors import ConfigError, StorageError
from alchemiser_dagster.domain.model import Record
from alchemiser_dagster.storage import STORE_ERRORS, is_local

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class LeaseHolder(Record):
    """Who holds a lease: the run, where it runs, and since when."""

    run_id: str
    host: str
    pid: int
    acquired_at: dt.datetime
    heartbeat_at: dt.datetime

    @classmethod
    def for_this_process(cls, run_id: str, now: dt.datetime | None = None) -> LeaseHolder:
        at = now or dt.datetime.now(dt.UTC)
        return cls(run_id=run_id, host=socket.gethostname(), pid=os.getpid(), acquired_at=at, heartbeat_at=at)

    def describe(self) -> str:
        return f"run {self.run_id} (host {self.host}, pid {self.pid}, since {self.acquired_at.isoformat()})"


@dataclass(frozen=True)
class Busy:
    """Someone else holds the lease; `holder` is None while it is being written or released."""

    holder: LeaseHolder | None


class Lease(Protocol):
    """One lease document. `try_acquire` returns None when this holder has it, else `Busy`."""

    location: str

    def try_acquire(self, me: LeaseHolder) -> Busy | None: ...

    def heartbeat(self, me: LeaseHolder) -> bool: ...

    def release(self) -> None: ...


def lease_at(path: UPath, stale_seconds: float) -> Lease:
    """The lease backend for where `path` lives (a local file or an S3 object)."""
    if is_local(path):
        return FileLease(UPath(path.path))
    if path.protocol in ("s3", "s3a"):
        return ObjectLease(path, stale_seconds)
    raise ConfigError(
        f"{path}: the execution lock needs a local folder or S3 as storage base (got {path.protocol}://)"
    )


def _parse(payload: bytes) -> LeaseHolder | None:
    """The holder a lease document names; None when it names nobody readable.

    Empty: released (or being written). Unreadable: not a holder any run wrote whole; the
    flock (local) or the conditional takeover (S3) is what decides, never this content.
    """
    try:
        return LeaseHolder.model_validate_json(payload) if payload.strip() else None
    except ValidationError:
        return None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


# --- local: flock ----------------------------------------------------------------------------


class FileLease:
    def __init__(self, path: UPath) -> None:
        if fcntl is None:  # pragma: no cover
            raise ConfigError("the execution lock on a local folder needs fcntl (POSIX)")
        self._path = path
        self.location = str(path)
        self._handle: IO[bytes] | None = None

    def try_acquire(self, me: LeaseHolder) -> Busy | None:
        if self._handle is not None:
            return None  # already ours
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self._path.path, "a+b")  # noqa: SIM115 - held open while the lease is held
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            payload = handle.read()
            handle.close()
            return Busy(_parse(payload))
        except OSError as error:
            handle.close()
            raise StorageError(f"{self.location}: cannot lock ({type(error).__name__}: {error})") from error
        self._write(handle, me)
        self._handle = handle
        return None

    @staticmethod
    def _write(handle: IO[bytes], me: LeaseHolder) -> None:
        handle.seek(0)
        handle.truncate()
        handle.write(me.model_dump_json().encode())
        handle.flush()
        os.fsync(handle.fileno())

    def heartbeat(self, me: LeaseHolder) -> bool:
        return self._handle is not None  # the kernel keeps it while the process lives

    def release(self) -> None:
        if self._handle is None:
            return
        handle, self._handle = self._handle, None
        try:
            handle.seek(0)
            handle.truncate()  # free: nobody's name stays behind
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


# --- S3: conditional writes ------------------------------------------------------------------


class ObjectLease:
    def __init__(self, path: UPath, stale_seconds: float) -> None:
        bucket, _, key = path.path.partition("/")
        if not bucket or not key:
            raise ConfigError(f"{path}: not an object in a bucket")
        self.location = f"s3://{bucket}/{key}"
        self._bucket, self._key = bucket, key
        self._stale = dt.timedelta(seconds=stale_seconds)
        self._etag: str | None = None
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3")
        return self._client

    def _put(self, me: LeaseHolder, **condition: str) -> bool:
        """One conditional PUT; False when the condition failed (someone else's lease)."""
        try:
            answer = self._s3().put_object(
                Bucket=self._bucket, Key=self._key, Body=me.model_dump_json().encode(), **condition
            )
        except STORE_ERRORS as error:
            if _condition_failed(error):
                return False
            raise StorageError(f"{self.location}: cannot write ({type(error).__name__}: {error})") from error
        self._etag = answer["ETag"]
        return True

    def _read(self) -> tuple[LeaseHolder | None, str, dt.timedelta] | None:
        """(holder, ETag, age by S3's clock), or None when there is no lease object."""
        try:
            answer = self._s3().get_object(Bucket=self._bucket, Key=self._key)
            payload = answer["Body"].read()
        except STORE_ERRORS as error:
            if _error_code(error) in ("NoSuchKey", "404"):
                return None
            raise StorageError(f"{self.location}: cannot read ({type(error).__name__}: {error})") from error
        served = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        now = email.utils.parsedate_to_datetime(served) if served else dt.datetime.now(dt.UTC)
        age = now - answer["LastModified"]
        return _parse(payload), answer["ETag"], age

    def try_acquire(self, me: LeaseHolder) -> Busy | None:
        if self._etag is not None:
            return None  # already ours
        if self._put(me, IfNoneMatch="*"):
            return None
        current = self._read()
        if current is None:  # released between the two calls: try again next round
            return Busy(None)
        holder, etag, age = current
        if holder is not None and holder.run_id == me.run_id:
            return None if self._put(me, IfMatch=etag) else Busy(holder)  # ours (a step retried)
        if self._is_stale(holder, age) and self._put(me, IfMatch=etag):
            return None  # taken over; of two runs judging it stale only one PUT matches
        return Busy(holder)

    def _is_stale(self, holder: LeaseHolder | None, age: dt.timedelta) -> bool:
        if holder is None:
            return True  # an empty object: released
        if holder.host == socket.gethostname() and not process_alive(holder.pid):
            return True
        return age > self._stale

    def heartbeat(self, me: LeaseHolder) -> bool:
        if self._etag is None:
            return False
        still_ours = self._put(me, IfMatch=self._etag)
        if not still_ours:
            self._etag = None
        return still_ours

    def release(self) -> None:
        if self._etag is None:
            return
        etag, self._etag = self._etag, None
        current = self._read()
        if current is not None and current[1] == etag:  # still ours: nobody took it over
            try:
                self._s3().delete_object(Bucket=self._bucket, Key=self._key)
            except STORE_ERRORS as error:
                raise StorageError(
                    f"{self.location}: cannot release ({type(error).__name__}: {error})"
                ) from error


def _error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def _condition_failed(error: BaseException) -> bool:
    # 412 PreconditionFailed: the object exists / changed; 409 ConditionalRequestConflict:
    # a concurrent conditional write to the same key is in flight.
    return _error_code(error) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")

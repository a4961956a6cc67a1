"""Where stored files live: a local folder or an object-store URL, through universal-pathlib.

Every file the product keeps (asset values, the daily report, backtests, the control
documents) goes through these helpers, so a storage base may be a local folder or an
fsspec URL such as ``s3://bucket/prefix/storage``. Files are read and written with
``UPath.open()`` only.

Remote paths never answer from fsspec's listing cache: s3fs otherwise remembers a
folder listing for the life of the process, and a long-lived process (the code
server running the sensors, a Dagster run) would then miss a kill-switch flip, a
journal or an alert written by another process, or read a replaced object with its
old size and ETag. Each read goes to the store instead.

S3-compatible endpoints (MinIO, LocalStack, moto): s3fs creates its client through
botocore, so the standard AWS settings apply to it and to boto3 alike, with no
setting of ours: ``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL`` for every service,
or ``endpoint_url`` in an ``~/.aws/config`` profile), the usual credentials
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, a profile or an instance role)
and ``AWS_DEFAULT_REGION``. With a custom endpoint botocore addresses buckets
path-style (``http://host:9000/bucket/key``), which MinIO and LocalStack expect.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

from upath import UPath

from alchemiser_dagster.domain.errors import StorageError

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})
REMOTE_OPTIONS: dict[str, Any] = {"use_listings_cache": False}


def _remote_errors() -> tuple[type[BaseException], ...]:
    """What a remote store raises besides OSError (botocore's errors when s3fs is used)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - s3fs (and so botocore) is a dependency
        return (OSError,)
    return (OSError, BotoCoreError, ClientError)


STORE_ERRORS = _remote_errors()


def is_local(path: UPath) -> bool:
    return path.protocol in LOCAL_PROTOCOLS


def storage_path(base: str | os.PathLike[str] | UPath, *parts: str) -> UPath:
    """`base` (a folder, a URL or a UPath) joined with `parts`; remote paths skip listing caches."""
    path = base if isinstance(base, UPath) else UPath(base)
    if not is_local(path) and any(path.storage_options.get(k) != v for k, v in REMOTE_OPTIONS.items()):
        path = UPath(path, **{**path.storage_options, **REMOTE_OPTIONS})
    return path.joinpath(*parts) if parts else path


def read_bytes(path: UPath) -> bytes | None:
    """The file's bytes, or None when it has never existed; any other failure is a StorageError.

    Only a plain "no such file" means absent. A symlink whose target is gone (a moved or
    unmounted folder), at the name or at any folder above it, fails closed: for the kill
    switch, "absent" means ACTIVE, and an unmounted volume must not read as "never flipped".
    """
    try:
        with path.open("rb") as handle:
            data: bytes = handle.read()
            return data
    except FileNotFoundError as error:
        if is_local(path) and (link := _dangling_link(path.path)) is not None:
            raise StorageError(
                f"{path}: cannot read (symlink {link} points at {os.readlink(link)!r}, which does not exist;"
                " a missing target is not a missing file)"
            ) from error
        return None
    except STORE_ERRORS as error:
        raise StorageError(f"{path}: cannot read ({type(error).__name__}: {error})") from error


def _dangling_link(local_path: str) -> str | None:
    """The first symlink on `local_path` (the name itself, then each folder up) whose target is missing."""
    current = os.path.abspath(local_path)
    while True:
        if os.path.islink(current) and not os.path.exists(current):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def write_bytes(path: UPath, payload: bytes, *, durable: bool = True) -> None:
    """Replace the file with `payload` in one step.

    Locally: a temporary file in the same folder (fsync'd when `durable`), then
    `os.replace`, so a reader never sees half a file. Remotely: one PUT of the whole
    object (object stores have no folders to create; a missing bucket is an error,
    never created on the fly).
    """
    try:
        if is_local(path):
            _write_local(UPath(path.path), payload, durable=durable)
        else:
            with path.open("wb") as handle:
                handle.write(payload)
    except STORE_ERRORS as error:
        raise StorageError(f"{path}: cannot write ({type(error).__name__}: {error})") from error


def _write_local(target: UPath, payload: bytes, *, durable: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(payload)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary.path, target.path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary.path)

"""Retention of stored asset values: which ones `alchemiser storage prune` may delete.

Storage is append-only; nothing deletes by accident. Only the explicit prune command removes
stored values (`<asset path>/<partition>/<stamp>-<run id>.json|.parquet`) written more than
`storage_retention_days` ago, and never the latest value of a partition (what a downstream
step or an operator command reads). Values from earlier versions (one file per partition,
without a stamp), control files and report pages are never touched.
"""

import datetime as dt
from collections import defaultdict

from upath import UPath

from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.pipeline.io_manager import StoredVersion, parse_version
from alchemiser_dagster.storage import STORE_ERRORS, storage_path


def stored_versions(base: str) -> dict[str, list[StoredVersion]]:
    """Every stamped stored value under `base`, by partition folder, oldest first."""
    root = storage_path(base)
    by_folder: dict[str, list[StoredVersion]] = defaultdict(list)
    try:
        files = [p for p in root.rglob("*") if p.is_file()]
    except FileNotFoundError:
        return {}
    except STORE_ERRORS as error:
        raise StorageError(f"{root}: cannot list stored values ({type(error).__name__}: {error})") from error
    for path in files:
        version = parse_version(path)
        if version is not None:
            by_folder[str(path.parent)].append(version)
    return {
        folder: sorted(versions, key=lambda v: (v.written_at, v.run_id))
        for folder, versions in by_folder.items()
    }


def expired(base: str, retention_days: int, now: dt.datetime) -> list[StoredVersion]:
    """The stored values written before `now - retention_days`, except each partition's latest."""
    cutoff = now - dt.timedelta(days=retention_days)
    doomed = []
    for versions in stored_versions(base).values():
        doomed += [v for v in versions[:-1] if v.written_at is not None and v.written_at < cutoff]
    return sorted(doomed, key=lambda v: str(v.path))


def delete(versions: list[StoredVersion]) -> None:
    for version in versions:
        path: UPath = version.path
        try:
            path.unlink()
        except STORE_ERRORS as error:
            raise StorageError(f"{path}: cannot delete ({type(error).__name__}: {error})") from error

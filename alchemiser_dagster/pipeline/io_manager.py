"""One typed IO manager: pydantic models as JSON, DataFrames as parquet, no pickles.

Append-only: every materialization is kept. Layout:
``<base>/<asset key path>/<partition>/<UTC stamp>-<run id>.json`` (or ``.parquet``), so a
rerun of a session adds a value beside the first run's instead of replacing it, and what
the trading run stored stays readable after any later run. "Latest" (what a downstream
step loads) is the value this run wrote, else the newest by stamp. Values stored by
earlier versions at ``<asset key path>/<partition>.json`` are read as the oldest value of
their partition. Nothing here deletes; see `alchemiser storage prune` for retention.

``base`` is a local folder or any fsspec URL (``s3://bucket/prefix``) through
universal-pathlib; files are read and written with ``path.open()`` only (see
`alchemiser_dagster.storage`: local writes are atomic, remote ones one PUT, remote
reads and listings never use a stale cache).

Every stored value carries its identity: ``schema_version``, ``correlation_id`` (the
run id and the partition) and ``causation_id`` (the correlation ids of the upstream
values the step loaded in this run). Models are wrapped in a JSON envelope; frames
keep the same fields in the parquet schema metadata. A missing, corrupted or
unexpected file is a `StorageError` naming the path.

Versions are checked on read, for the envelope and for a stored record's own
``schema_version``: an older one is migrated (`MIGRATIONS`) or refused, a newer one (written
by a later release) is refused; the error names the file and both versions.
"""

import datetime as dt
import importlib
import io
import json
from collections.abc import Callable
from typing import Any, NamedTuple

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, PrivateAttr, ValidationError
from upath import UPath

from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.domain.model import current_schema_version, readable_schema_version
from alchemiser_dagster.storage import STORE_ERRORS, read_bytes, storage_path, write_bytes

ENVELOPE_VERSION = 1
PARQUET_KEY = b"alchemiser"
TRUSTED_PACKAGE = "alchemiser_dagster."
SUFFIXES = (".json", ".parquet")
UNPARTITIONED = "unpartitioned"
# `20261206T221500123456Z`: sorts as it reads, one value per microsecond and run.
STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
STAMP_LENGTH = len("20261206T221500123456Z")


# (model "module:Class", stored schema_version) -> the stored value upgraded by one version.
# Empty while every record is at its first version; a record whose shape changes adds a step.
MIGRATIONS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def current_envelope(path: UPath, what: str, found: object) -> None:
    """An envelope has no migrations: it is at `ENVELOPE_VERSION` or refused."""
    current_schema_version(path, what, found, ENVELOPE_VERSION)


def migrated_value(path: UPath, model: str, value: dict[str, Any], current: int) -> dict[str, Any]:
    """A stored record's value brought up to `current` step by step, or a StorageError."""
    version = readable_schema_version(path, model, value.get("schema_version"), current)
    while version < current:
        step = MIGRATIONS.get((model, version))
        if step is None:
            raise StorageError(
                f"{path}: {model} has schema_version {version}, older than {current},"
                " and no migration reads it"
            )
        value = step(value)
        version += 1
        value["schema_version"] = version
    return value


def correlation_id(run_id: str, partition: str | None) -> str:
    return f"{run_id}:{partition or '-'}"


class StoredVersion(NamedTuple):
    """One stored value of an asset partition: where it is, when and by which run it was written.

    `written_at` and `run_id` are None for a value stored by an earlier version of the
    product (one file per partition), which counts as the partition's oldest value.
    """

    path: UPath
    written_at: dt.datetime | None
    run_id: str | None

    @property
    def is_model(self) -> bool:
        return self.path.name.endswith(".json")


def version_name(written_at: dt.datetime, run_id: str, suffix: str) -> str:
    return f"{written_at.astimezone(dt.UTC).strftime(STAMP_FORMAT)}-{run_id}{suffix}"


def parse_version(path: UPath) -> StoredVersion | None:
    """The version a file name stands for (None for anything else, e.g. a temporary file)."""
    name = path.name
    suffix = next((s for s in SUFFIXES if name.endswith(s)), None)
    if suffix is None or name.startswith(".") or len(name) <= STAMP_LENGTH + len(suffix) + 1:
        return None
    stamp, dash, run_id = name[: -len(suffix)].partition("-")
    if not dash or len(stamp) != STAMP_LENGTH:
        return None
    try:
        written_at = dt.datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return StoredVersion(path, written_at, run_id)


class ModelIOManager(dg.ConfigurableIOManager):
    """Stores asset values under `base`; see the module docstring for the layout."""

    base: str = ".alchemiser/storage"
    _loaded: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    # --- paths ------------------------------------------------------------------------

    def partition_folder(self, asset_path: list[str], partition: str | None) -> UPath:
        return storage_path(self.base, *asset_path, partition or UNPARTITIONED)

    def versions(self, asset_path: list[str], partition: str | None) -> list[StoredVersion]:
        """Every stored value of the partition, oldest first (a legacy single file first of all)."""
        return [*self._legacy_versions(asset_path, partition), *self._stamped_versions(asset_path, partition)]

    def latest(
        self, asset_path: list[str], partition: str | None, run_id: str | None = None
    ) -> StoredVersion | None:
        """What a downstream step loads: the value `run_id` wrote, else the newest."""
        stamped = self._stamped_versions(asset_path, partition)
        own = [v for v in stamped if run_id is not None and v.run_id == run_id]
        chosen = own or stamped or self._legacy_versions(asset_path, partition)
        return chosen[-1] if chosen else None

    def _stamped_versions(self, asset_path: list[str], partition: str | None) -> list[StoredVersion]:
        folder = self.partition_folder(asset_path, partition)
        try:
            entries = list(folder.iterdir())
        except (FileNotFoundError, NotADirectoryError):  # nothing stored for the partition yet
            return []
        except STORE_ERRORS as error:
            raise StorageError(
                f"{folder}: cannot list stored values ({type(error).__name__}: {error})"
            ) from error
        found = [v for v in map(parse_version, entries) if v is not None]
        return sorted(found, key=lambda v: (v.written_at, v.run_id))

    def _legacy_versions(self, asset_path: list[str], partition: str | None) -> list[StoredVersion]:
        """A value stored by an earlier version at `<asset path>/<partition>.json|.parquet`."""
        legacy = []
        for suffix in SUFFIXES:
            path = storage_path(self.base, *asset_path, f"{partition or 'latest'}{suffix}")
            try:
                if path.is_file():
                    legacy.append(StoredVersion(path, None, None))
            except STORE_ERRORS as error:
                raise StorageError(f"{path}: cannot read ({type(error).__name__}: {error})") from error
        return legacy

    @staticmethod
    def _partition(context: dg.InputContext | dg.OutputContext) -> str | None:
        return context.partition_key if context.has_partition_key else None

    # --- write ------------------------------------------------------------------------

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        partition = self._partition(context)
        correlation = correlation_id(context.run_id, partition)
        identity: dict[str, Any] = {
            "schema_version": ENVELOPE_VERSION,
            "correlation_id": correlation,
            "causation_id": self._loaded.pop(context.step_key, []),
            "asset_key": context.asset_key.to_user_string(),
            "partition": partition,
        }
        folder = self.partition_folder(list(context.asset_key.path), partition)
        written_at = dt.datetime.now(dt.UTC)
        if isinstance(obj, BaseModel):
            path = folder / version_name(written_at, context.run_id, ".json")
            envelope = {
                **identity,
                "model": f"{type(obj).__module__}:{type(obj).__qualname__}",
                "value": obj.model_dump(mode="json"),
            }
            self._write(path, json.dumps(envelope, indent=1).encode())
        elif isinstance(obj, pd.DataFrame):
            path = folder / version_name(written_at, context.run_id, ".parquet")
            table = pa.Table.from_pandas(obj, preserve_index=False)
            metadata = {**(table.schema.metadata or {}), PARQUET_KEY: json.dumps(identity).encode()}
            buffer = io.BytesIO()
            pq.write_table(table.replace_schema_metadata(metadata), buffer)
            self._write(path, buffer.getvalue())
        else:
            raise StorageError(
                f"{context.asset_key.to_user_string()}: cannot store a {type(obj).__name__};"
                " assets return pydantic models or DataFrames"
            )
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path)), "correlation_id": correlation})

    @staticmethod
    def _write(path: UPath, payload: bytes) -> None:
        write_bytes(path, payload, durable=False)

    # --- read -------------------------------------------------------------------------

    def load_input(self, context: dg.InputContext) -> Any:
        partition = self._partition(context)
        asset_path = list(context.asset_key.path)
        step = context.step_context
        version = self.latest(asset_path, partition, run_id=step.run_id)
        if version is None:
            raise StorageError(
                f"{context.asset_key.to_user_string()} has no stored value for partition {partition}"
                f" (looked in {self.partition_folder(asset_path, partition)}); materialize it first"
            )
        value, identity = self.read_version(version)
        self._loaded.setdefault(step.step.key, []).append(
            f"{identity.get('asset_key')}@{identity.get('correlation_id')}"
        )
        return value

    def read_version(self, version: StoredVersion) -> tuple[BaseModel | pd.DataFrame, dict[str, Any]]:
        """One stored value with its identity envelope (StorageError when gone or corrupted)."""
        payload = read_bytes(version.path)
        if payload is None:
            raise StorageError(f"{version.path}: the stored value disappeared while it was being read")
        if version.is_model:
            return self._parse_model(version.path, payload)
        return self._parse_frame(version.path, payload)

    def stored_model(self, asset_path: list[str], partition: str) -> BaseModel | None:
        """The latest stored model of a partition (None when absent), e.g. yesterday's signal."""
        version = self._latest_of_kind(asset_path, partition, models=True)
        return None if version is None else self._as_model(self.read_version(version)[0], version)

    def stored_frame(self, asset_path: list[str], partition: str) -> pd.DataFrame | None:
        """The latest stored table of a partition (None when absent), e.g. an earlier ledger."""
        version = self._latest_of_kind(asset_path, partition, models=False)
        return None if version is None else self._as_frame(self.read_version(version)[0], version)

    def stored_models(self, asset_path: list[str], partition: str) -> list[tuple[StoredVersion, BaseModel]]:
        """Every stored model of a partition, oldest first: the whole record of a day."""
        return [
            (v, self._as_model(self.read_version(v)[0], v))
            for v in self.versions(asset_path, partition)
            if v.is_model
        ]

    def stored_frames(
        self, asset_path: list[str], partition: str
    ) -> list[tuple[StoredVersion, pd.DataFrame]]:
        """Every stored table of a partition, oldest first."""
        return [
            (v, self._as_frame(self.read_version(v)[0], v))
            for v in self.versions(asset_path, partition)
            if not v.is_model
        ]

    def _latest_of_kind(self, asset_path: list[str], partition: str, *, models: bool) -> StoredVersion | None:
        kind = [v for v in self.versions(asset_path, partition) if v.is_model == models]
        return kind[-1] if kind else None

    @staticmethod
    def _as_model(value: object, version: StoredVersion) -> BaseModel:
        if not isinstance(value, BaseModel):
            raise StorageError(f"{version.path}: expected a stored model")
        return value

    @staticmethod
    def _as_frame(value: object, version: StoredVersion) -> pd.DataFrame:
        if not isinstance(value, pd.DataFrame):
            raise StorageError(f"{version.path}: expected a stored table")
        return value

    @staticmethod
    def _parse_model(path: UPath, payload: bytes) -> tuple[BaseModel, dict[str, Any]]:
        try:
            envelope = json.loads(payload)
            module_name, _, class_name = envelope["model"].partition(":")
            if not module_name.startswith(TRUSTED_PACKAGE):
                raise StorageError(f"{path}: refusing to load model type {envelope['model']!r}")
            current_envelope(path, "the envelope", envelope.get("schema_version"))
            model_type = getattr(importlib.import_module(module_name), class_name)
            value = envelope["value"]
            field = model_type.model_fields.get("schema_version")
            if field is not None:
                value = migrated_value(path, envelope["model"], value, field.default)
            return model_type.model_validate_json(json.dumps(value)), envelope
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as error:
            raise StorageError(
                f"{path}: stored value is corrupted ({type(error).__name__}: {error})"
            ) from error
        except ValidationError as error:
            raise StorageError(f"{path}: stored value does not match its model: {error}") from error

    @staticmethod
    def _parse_frame(path: UPath, payload: bytes) -> tuple[pd.DataFrame, dict[str, Any]]:
        try:
            table = pq.read_table(io.BytesIO(payload))
            identity = json.loads((table.schema.metadata or {}).get(PARQUET_KEY, b"{}"))
        except (pa.ArrowInvalid, OSError, json.JSONDecodeError) as error:
            raise StorageError(
                f"{path}: stored table is corrupted ({type(error).__name__}: {error})"
            ) from error
        current_envelope(path, "the table", identity.get("schema_version"))
        return table.to_pandas(), identity

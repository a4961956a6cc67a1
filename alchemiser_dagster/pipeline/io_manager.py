"""One typed IO manager: pydantic models as JSON, DataFrames as parquet, no pickles.

Layout: ``<base>/<asset key path>/<partition>.json`` (or ``.parquet``). ``base`` is a
local folder or any fsspec URL (``s3://bucket/prefix``) through universal-pathlib;
files are read and written with ``path.open()`` only (see `alchemiser_dagster.storage`:
local writes are atomic, remote ones one PUT, remote reads never use a stale listing).

Every stored value carries its identity: ``schema_version``, ``correlation_id`` (the
run id and the partition) and ``causation_id`` (the correlation ids of the upstream
values the step loaded in this run). Models are wrapped in a JSON envelope; frames
keep the same fields in the parquet schema metadata. A missing, corrupted or
unexpected file is a `StorageError` naming the path.
"""

import importlib
import io
import json
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, PrivateAttr, ValidationError
from upath import UPath

from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.storage import read_bytes, storage_path, write_bytes

ENVELOPE_VERSION = 1
PARQUET_KEY = b"alchemiser"
TRUSTED_PACKAGE = "alchemiser_dagster."


def correlation_id(run_id: str, partition: str | None) -> str:
    return f"{run_id}:{partition or '-'}"


class ModelIOManager(dg.ConfigurableIOManager):
    """Stores asset values under `base`; see the module docstring for the layout."""

    base: str = ".alchemiser/storage"
    _loaded: dict[str, list[str]] = PrivateAttr(default_factory=dict)

    # --- paths ------------------------------------------------------------------------

    def path_for(self, asset_path: list[str], partition: str | None, suffix: str) -> UPath:
        return storage_path(self.base, *asset_path, f"{partition or 'latest'}{suffix}")

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
        asset_path = list(context.asset_key.path)
        if isinstance(obj, BaseModel):
            path = self.path_for(asset_path, partition, ".json")
            envelope = {
                **identity,
                "model": f"{type(obj).__module__}:{type(obj).__qualname__}",
                "value": obj.model_dump(mode="json"),
            }
            self._write(path, json.dumps(envelope, indent=1).encode())
        elif isinstance(obj, pd.DataFrame):
            path = self.path_for(asset_path, partition, ".parquet")
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
        json_path = self.path_for(asset_path, partition, ".json")
        parquet_path = self.path_for(asset_path, partition, ".parquet")
        value: BaseModel | pd.DataFrame
        # One read per candidate (no exists() first): fewer round trips on an object store.
        if (payload := read_bytes(json_path)) is not None:
            value, identity = self._parse_model(json_path, payload)
        elif (payload := read_bytes(parquet_path)) is not None:
            value, identity = self._parse_frame(parquet_path, payload)
        else:
            raise StorageError(
                f"{context.asset_key.to_user_string()} has no stored value for partition {partition}"
                f" (looked for {json_path} and {parquet_path}); materialize it first"
            )
        self._loaded.setdefault(context.step_context.step.key, []).append(
            f"{identity.get('asset_key')}@{identity.get('correlation_id')}"
        )
        return value

    def stored_model(self, asset_path: list[str], partition: str) -> BaseModel | None:
        """A stored model of another partition (None when absent), e.g. yesterday's signal."""
        path = self.path_for(asset_path, partition, ".json")
        payload = read_bytes(path)
        return None if payload is None else self._parse_model(path, payload)[0]

    def stored_frame(self, asset_path: list[str], partition: str) -> pd.DataFrame | None:
        """A stored table of another partition (None when absent), e.g. an earlier ledger."""
        path = self.path_for(asset_path, partition, ".parquet")
        payload = read_bytes(path)
        return None if payload is None else self._parse_frame(path, payload)[0]

    @staticmethod
    def _parse_model(path: UPath, payload: bytes) -> tuple[BaseModel, dict[str, Any]]:
        try:
            envelope = json.loads(payload)
            module_name, _, class_name = envelope["model"].partition(":")
            if not module_name.startswith(TRUSTED_PACKAGE):
                raise StorageError(f"{path}: refusing to load model type {envelope['model']!r}")
            model_type = getattr(importlib.import_module(module_name), class_name)
            return model_type.model_validate_json(json.dumps(envelope["value"])), envelope
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
        return table.to_pandas(), identity

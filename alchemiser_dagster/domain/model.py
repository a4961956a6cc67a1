"""The one base of domain values: frozen pydantic models, and records that carry a schema version.

Strict by default: a value of the wrong type is refused rather than coerced. Models parsed
from user text (settings, configs) relax `strict` themselves and say why.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict

from alchemiser_dagster.domain.errors import StorageError

__all__ = ["SCHEMA_VERSION", "FrozenModel", "Record", "current_schema_version", "readable_schema_version"]

#: The shape version every stored record is written with. A record whose shape changes
#: overrides its `schema_version` default, and the IO manager learns to migrate the old one.
SCHEMA_VERSION: Final = 1


class FrozenModel(BaseModel):
    """Immutable, strictly typed, unknown fields refused."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Record(FrozenModel):
    """A value that is stored: it names the schema version it was written with (checked on read)."""

    schema_version: int = SCHEMA_VERSION


def readable_schema_version(where: object, what: str, found: object, current: int) -> int:
    """`found` as a version this release can read (equal or older), else a StorageError naming `where`.

    A value written by a newer release is refused rather than read as if it had today's
    shape: its new fields would be dropped or misread without a word.
    """
    if isinstance(found, bool) or not isinstance(found, int):
        raise StorageError(f"{where}: {what} has no valid schema_version (found {found!r})")
    if found > current:
        raise StorageError(
            f"{where}: {what} has schema_version {found}, written by a newer release;"
            f" this one reads up to {current}. Upgrade alchemiser-dagster to read it"
        )
    return found


def current_schema_version(where: object, what: str, found: object, current: int) -> None:
    """`found` must be exactly `current`: for values that have no migrations to bring an older one up."""
    version = readable_schema_version(where, what, found, current)
    if version < current:
        raise StorageError(
            f"{where}: {what} has schema_version {version}, older than {current}, and no migration reads it"
        )

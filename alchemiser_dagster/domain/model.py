"""The one base of domain values: frozen pydantic models, and records that carry a schema version.

Strict by default: a value of the wrong type is refused rather than coerced. Models parsed
from user text (settings, configs) relax `strict` themselves and say why.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict

__all__ = ["SCHEMA_VERSION", "FrozenModel", "Record"]

#: The shape version every stored record is written with. A record whose shape changes
#: overrides its `schema_version` default, and the IO manager learns to migrate the old one.
SCHEMA_VERSION: Final = 1


class FrozenModel(BaseModel):
    """Immutable, strictly typed, unknown fields refused."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Record(FrozenModel):
    """A value that is stored: it names the schema version it was written with (checked on read)."""

    schema_version: int = SCHEMA_VERSION

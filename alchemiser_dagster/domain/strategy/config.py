"""Allocation configs: which symphonies run and what share of the account each gets.

The file format is the one the corpus uses::

    {"files": ["1-KMLM.clj", ...], "allocations": {"1-KMLM.clj": 0.2, ...}}

Shares are read as Decimal straight from the JSON text (no float round trip) and must
sum to exactly 1 within `SHARE_TOLERANCE`; a config that does not is rejected, never
renormalized. Strategy paths are relative to the config file.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Strict, ValidationError, field_validator, model_validator

from alchemiser_dagster.domain.errors import ConfigError

SHARE_TOLERANCE = Decimal("1e-9")


class AllocationConfig(BaseModel):
    """A validated allocation config; `base_dir` is where its strategy files live."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    files: tuple[str, ...]
    allocations: dict[str, Annotated[Decimal, Strict()]]
    base_dir: Path = Path()

    @field_validator("allocations")
    @classmethod
    def _shares_are_fractions(cls, allocations: dict[str, Decimal]) -> dict[str, Decimal]:
        for name, share in allocations.items():
            if not share.is_finite() or share < 0 or share > 1:
                raise ValueError(f"share of {name} must be between 0 and 1, got {share}")
        return allocations

    @model_validator(mode="after")
    def _files_match_shares(self) -> AllocationConfig:
        if not self.files:
            raise ValueError("files must list at least one strategy")
        duplicates = sorted({f for f in self.files if self.files.count(f) > 1})
        if duplicates:
            raise ValueError(f"files lists {duplicates} more than once")
        missing = [f for f in self.files if f not in self.allocations]
        extra = [f for f in self.allocations if f not in self.files]
        if missing or extra:
            raise ValueError(
                f"allocations must give a share for exactly the listed files"
                f" (no share: {missing}, not listed: {extra})"
            )
        total = sum(self.allocations.values(), Decimal(0))
        if abs(total - 1) > SHARE_TOLERANCE:
            raise ValueError(f"allocations must sum to 1, they sum to {total}")
        return self

    def strategy_path(self, name: str) -> Path:
        return self.base_dir / name


def load_allocation_config(path: str | Path) -> AllocationConfig:
    """Read and validate a config; every problem is a `ConfigError` naming the file."""
    config_path = Path(path)
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as error:
        raise ConfigError(f"{config_path}: cannot read allocation config: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{config_path}: not valid UTF-8 at byte {error.start}") from error
    except json.JSONDecodeError as error:
        raise ConfigError(f"{config_path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: expected a JSON object with 'files' and 'allocations'")
    allocations = raw.get("allocations")
    if isinstance(allocations, dict):
        raw["allocations"] = {
            key: Decimal(value) if isinstance(value, int) else value for key, value in allocations.items()
        }
    try:
        config = AllocationConfig.model_validate({**raw, "base_dir": config_path.parent})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{config_path}: {problems}") from error
    absent = [f for f in config.files if not config.strategy_path(f).is_file()]
    if absent:
        raise ConfigError(f"{config_path}: strategy files not found next to it: {absent}")
    return config

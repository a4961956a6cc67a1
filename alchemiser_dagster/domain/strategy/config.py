"""Allocation configs: which symphonies run and what share of the account each gets.

The file format is the one the corpus uses::

    {"files": ["1-KMLM.clj", ...], "allocations": {"1-KMLM.clj": 0.2, ...}}

Shares are JSON numbers, read as Decimal straight from the JSON text (no float round
trip; `true` or `"0.2"` is refused), and must sum to exactly 1 within `SHARE_TOLERANCE`;
a config that does not is rejected, never renormalized. A key given twice in one JSON
object is refused (JSON's "last one wins" would silently drop a share).

Strategy paths (`.clj`, `.edn` or Composer `.json`; the suffix is not checked here) are
relative to the config file and must stay inside its folder once `..` and symlinks are
resolved: a config names its own strategies, never files elsewhere on the machine (and
an error never shows a byte of such a file). The same file under two spellings
(`a.clj`, `./a.clj`, a symlink to it) is listed twice and refused.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Annotated, Any

from pydantic import ConfigDict, Strict, ValidationError, field_validator, model_validator

from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.model import FrozenModel

SHARE_TOLERANCE = Decimal("1e-9")


class AllocationConfig(FrozenModel):
    """A validated allocation config; `base_dir` is where its strategy files live."""

    model_config = ConfigDict(strict=False)  # parsed from user text: coercion wanted

    files: tuple[str, ...]
    allocations: dict[str, Annotated[Decimal, Strict()]]
    base_dir: Path = Path()

    @field_validator("allocations", mode="before")
    @classmethod
    def _shares_are_numbers(cls, allocations: object) -> object:
        if isinstance(allocations, dict):
            for name, share in allocations.items():
                if not isinstance(share, Decimal):  # bools and strings are not shares
                    raise ValueError(f"share of {name} must be a JSON number, got {_json_kind(share)}")
                if not share.is_finite():  # a bare NaN / Infinity
                    raise ValueError(f"share of {name} must be a finite number between 0 and 1, got {share}")
        return allocations

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
        raw = json.loads(
            config_path.read_text(encoding="utf-8"),
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=Decimal,  # NaN / Infinity (not JSON, Python reads them): refused below
            object_pairs_hook=_JsonObject.from_pairs,
        )
    except OSError as error:
        raise ConfigError(f"{config_path}: cannot read allocation config: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{config_path}: not valid UTF-8 at byte {error.start}") from error
    except json.JSONDecodeError as error:
        raise ConfigError(f"{config_path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}") from error
    if duplicates := _duplicate_keys(raw, "config"):
        raise ConfigError(
            f"{config_path}: keys given more than once (the last would win): {'; '.join(duplicates)}"
        )
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: expected a JSON object with 'files' and 'allocations'")
    try:
        config = AllocationConfig.model_validate({**raw, "base_dir": config_path.parent})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{config_path}: {problems}") from error
    _check_strategy_paths(config_path, config)
    return config


def _check_strategy_paths(config_path: Path, config: AllocationConfig) -> None:
    """Each strategy file is inside the config's folder, exists, and is listed once."""
    folder = config.base_dir.resolve()
    outside = []
    absent = []
    seen: dict[Path, str] = {}
    twice = []
    for name in config.files:
        if PurePath(name).is_absolute():
            outside.append(f"{name!r} (an absolute path)")
            continue
        resolved = config.strategy_path(name).resolve()
        if not resolved.is_relative_to(folder):
            outside.append(f"{name!r} (resolves to {resolved})")
        elif not resolved.is_file():
            absent.append(name)
        elif resolved in seen:
            twice.append(f"{seen[resolved]!r} and {name!r} are the same file")
        else:
            seen[resolved] = name
    if outside:
        raise ConfigError(
            f"{config_path}: strategy files must be inside the config's folder {folder}: {', '.join(outside)}"
        )
    if absent:
        raise ConfigError(f"{config_path}: strategy files not found next to it: {absent}")
    if twice:
        raise ConfigError(f"{config_path}: files lists a strategy twice: {'; '.join(twice)}")


class _JsonObject(dict[str, Any]):
    """A parsed JSON object that remembers the keys it was given more than once."""

    duplicates: tuple[str, ...] = ()

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _JsonObject:
        obj = cls(pairs)
        if len(obj) != len(pairs):
            keys = [key for key, _ in pairs]
            obj.duplicates = tuple(sorted({key for key in keys if keys.count(key) > 1}))
        return obj


def _duplicate_keys(value: object, where: str) -> list[str]:
    """Every key given twice anywhere in the document, with the JSON path of its object."""
    found: list[str] = []
    if isinstance(value, _JsonObject):
        found += [f"{where}: {key!r}" for key in value.duplicates]
        for key, item in value.items():
            found += _duplicate_keys(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _duplicate_keys(item, f"{where}[{index}]")
    return found


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"a {type(value).__name__}"

"""Load a symphony file, whatever its form, into the frozen AST.

`load_symphony` is the one entry point for files (CLI, allocation configs, the daily
graph's signals, the backtest): it reads symphony text (`.clj`, `.edn`, ...) with
`reader.py` + `text_compiler.py` and Composer score JSON (`.json`) with
`score_json.py`. Both build the same AST under the same static rules (`rules.py`),
checked in every branch before any data is read.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alchemiser_dagster.domain.errors import DslParseError
from alchemiser_dagster.domain.strategy.ast import Symphony
from alchemiser_dagster.domain.strategy.reader import deep_recursion, read_form
from alchemiser_dagster.domain.strategy.rules import MAX_SYMPHONY_BYTES
from alchemiser_dagster.domain.strategy.score_json import parse_score_json
from alchemiser_dagster.domain.strategy.text_compiler import (
    BOOLEANS,
    COMPARISONS,
    NODE_OPERATORS,
    TextCompiler,
)

__all__ = [
    "BOOLEANS",
    "COMPARISONS",
    "NODE_OPERATORS",
    "deep_recursion",
    "load_symphony",
    "parse_score_json",
    "parse_symphony",
]

TEXT_SUFFIXES = frozenset({".clj", ".edn"})


def load_symphony(path: str | Path) -> Symphony:
    """Read, parse and validate a symphony file; errors name the file by its base name.

    `.json` files (and any other file whose text starts with `{`) are Composer score
    JSON; everything else is symphony text. Symphonies are immutable, so a file is
    parsed once per content version (path, modification time and size) and shared by
    every step that reads it.
    """
    file_path = Path(path).resolve()
    stat = file_path.stat()
    return _load_cached(file_path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _load_cached(file_path: Path, mtime_ns: int, size: int) -> Symphony:
    if size > MAX_SYMPHONY_BYTES:
        raise _too_big(file_path.name, size)
    raw = file_path.read_bytes()
    if len(raw) > MAX_SYMPHONY_BYTES:
        raise _too_big(file_path.name, len(raw))
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        before = raw[: error.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        raise DslParseError(
            f"the file is not valid UTF-8 (byte 0x{raw[error.start]:02x})",
            source=file_path.name,
            line=line,
            column=column,
        ) from error
    suffix = file_path.suffix.lower()
    if suffix == ".json" or (suffix not in TEXT_SUFFIXES and text.lstrip().startswith("{")):
        return parse_score_json(text, source=file_path.name)
    return parse_symphony(text, source=file_path.name)


def _too_big(source: str, size: int) -> DslParseError:
    return DslParseError(
        f"the file is {size:,} bytes; a symphony may be at most {MAX_SYMPHONY_BYTES:,} bytes",
        source=source,
        line=1,
        column=1,
    )


def parse_symphony(text: str, source: str = "<string>") -> Symphony:
    """Parse and validate symphony text (spec §1 and the text forms of §9)."""
    if len(text) > MAX_SYMPHONY_BYTES:
        raise _too_big(source, len(text))
    form, src = read_form(text, source)
    with deep_recursion():
        return TextCompiler(src).symphony(form)

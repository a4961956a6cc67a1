"""Where the append-only IO manager keeps an asset partition's values, for tests that read files."""

from pathlib import Path


def stored_values(base: Path, *asset_path: str, partition: str, suffix: str = ".json") -> list[Path]:
    """Every stored value of the partition, oldest first (`<partition>/<stamp>-<run id><suffix>`)."""
    folder = base.joinpath(*asset_path, partition)
    return sorted(p for p in folder.glob(f"*{suffix}") if not p.name.startswith("."))


def latest_stored(base: Path, *asset_path: str, partition: str, suffix: str = ".json") -> Path:
    values = stored_values(base, *asset_path, partition=partition, suffix=suffix)
    assert values, f"nothing stored under {base.joinpath(*asset_path, partition)}"
    return values[-1]

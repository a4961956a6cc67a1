"""`alchemiser storage prune`: retention is a setting, applied only by the explicit command."""

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from alchemiser_dagster.cli.storage import storage
from alchemiser_dagster.pipeline.io_manager import ModelIOManager, version_name

NOW = dt.datetime.now(dt.UTC)


def stored(base: Path, asset: str, partition: str, days_ago: float, run: str, suffix: str = ".json") -> Path:
    path = base / asset / partition / version_name(NOW - dt.timedelta(days=days_ago), run, suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALCHEMISER_SETTINGS_FILE", raising=False)
    monkeypatch.setenv("ALCHEMISER_STORAGE", str(tmp_path / "storage"))
    return tmp_path / "storage"


def test_prune_deletes_old_values_but_never_a_partitions_latest(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_first = stored(base, "execution_result", "2026-01-05", 40, "run-a")
    old_second = stored(base, "execution_result", "2026-01-05", 39, "run-b")
    recent = stored(base, "execution_result", "2026-01-05", 2, "run-c")
    only_old = stored(base, "fill_ledger", "2026-01-05", 40, "run-a", ".parquet")  # latest of its partition
    old_then_latest = [
        stored(base, "acct/fill_ledger", "2026-01-06", d, r) for d, r in ((50, "x"), (45, "y"))
    ]
    legacy = base / "rebalance_plan" / "2025-12-01.json"  # an earlier version's value: no stamp
    legacy.parent.mkdir(parents=True)
    legacy.write_text("{}")
    control = base / "control" / "executions" / "2026-01-05-PA1.json"
    control.parent.mkdir(parents=True)
    control.write_text("{}")
    everything = sorted(p for p in base.rglob("*") if p.is_file())
    runner = CliRunner()

    # No setting: everything is kept.
    kept = runner.invoke(storage, ["prune"])
    assert kept.exit_code == 0, kept.output
    assert "nothing to prune" in kept.output
    assert sorted(p for p in base.rglob("*") if p.is_file()) == everything

    monkeypatch.setenv("ALCHEMISER_STORAGE_RETENTION_DAYS", "30")
    dry = runner.invoke(storage, ["prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert sorted(p for p in base.rglob("*") if p.is_file()) == everything
    doomed = {old_first, old_second, old_then_latest[0]}
    assert {Path(line.removeprefix("would delete ")) for line in dry.output.splitlines()[:-1]} == doomed
    assert "would delete 3 stored value(s) older than 30 day(s)" in dry.output

    pruned = runner.invoke(storage, ["prune"])
    assert pruned.exit_code == 0, pruned.output
    assert sorted(p for p in base.rglob("*") if p.is_file()) == sorted(set(everything) - doomed)
    assert recent.is_file() and only_old.is_file() and old_then_latest[1].is_file()
    assert legacy.is_file() and control.is_file()
    # What the graph reads is unchanged: the latest of each partition.
    io = ModelIOManager(base=str(base))
    assert [v.path for v in io.versions(["execution_result"], "2026-01-05")] == [recent]


def test_a_bad_retention_setting_is_refused(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALCHEMISER_STORAGE_RETENTION_DAYS", "0")
    stored(base, "execution_result", "2026-01-05", 40, "run-a")
    result = CliRunner().invoke(storage, ["prune"])
    assert result.exit_code != 0 and "storage_retention_days" in str(result.exception)
    assert len(list(base.rglob("*.json"))) == 1

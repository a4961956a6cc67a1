"""`alchemiser accounts pools`: each account's pool exists before the first run, and an
operator's own limit is never overwritten."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from alchemiser_dagster.cli import cli


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "dagster_home"
    folder.mkdir()
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    for name in list(os.environ):
        if name.startswith("ALCHEMISER_"):
            monkeypatch.delenv(name)
    (tmp_path / "allocations.json").write_text("{}")
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[[accounts]]\nname = "alice"\nmode = "embedded"\nconfig = "allocations.json"\n\n'
        '[[accounts]]\nname = "bob"\nmode = "embedded"\nconfig = "allocations.json"\n'
    )
    monkeypatch.setenv("ALCHEMISER_ACCOUNTS_FILE", str(accounts))
    return folder


def test_pools_are_created_once_and_an_existing_limit_is_kept(home: Path) -> None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.set_concurrency_slots("broker-bob", 3)

    result = CliRunner().invoke(cli, ["accounts", "pools"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["broker-alice: created, limit 1", "broker-bob: exists, limit 3"]

    again = CliRunner().invoke(cli, ["accounts", "pools"])
    assert again.output.splitlines() == ["broker-alice: exists, limit 1", "broker-bob: exists, limit 3"]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.event_log_storage.get_concurrency_info("broker-alice").slot_count == 1
        assert instance.event_log_storage.get_concurrency_info("broker-bob").slot_count == 3

"""Every asset, check, job, schedule and sensor key, compared with a stored snapshot.

Two code locations are covered: the default one (`alchemiser_dagster.definitions`) and one
account's (`alchemiser_dagster.accounts_definitions`, keys under `<account>/`). A refactor
of the wiring must leave both files unchanged; a deliberate change to the graph updates
them, and the diff shows exactly which keys came and went. To regenerate after such a
change:

    UPDATE_DEFINITION_SNAPSHOTS=1 .venv/bin/pytest tests/pipeline/test_definition_keys.py

then review and commit the changed files under tests/pipeline/snapshots/.
"""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("UPDATE_DEFINITION_SNAPSHOTS") == "1"
ACCOUNT = "alice"


def definition_keys(defs: dg.Definitions) -> dict[str, list[str]]:
    """The keys of everything the location serves, sorted, as strings Dagster's UI shows."""
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    return {
        "assets": sorted(key.to_user_string() for key in graph.get_all_asset_keys()),
        "asset_checks": sorted(
            f"{key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys
        ),
        "jobs": sorted(repository.job_names),
        "schedules": sorted(s.name for s in repository.schedule_defs),
        "sensors": sorted(s.name for s in repository.sensor_defs),
    }


def compare_with_snapshot(name: str, keys: dict[str, list[str]]) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(keys, indent=2) + "\n"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
        pytest.skip(f"wrote {path.relative_to(ROOT)}; review and commit it")
    assert path.is_file(), f"no snapshot {path}: run with UPDATE_DEFINITION_SNAPSHOTS=1 to create it"
    stored = json.loads(path.read_text())
    assert keys == stored, f"keys differ from {path.relative_to(ROOT)} (see the module docstring)"


@pytest.fixture
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Only the settings this test sets: no ALCHEMISER_* from the caller, no ./alchemiser.toml."""
    for name in list(os.environ):
        if name.startswith("ALCHEMISER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALCHEMISER_MODE", "embedded")
    monkeypatch.setenv("ALCHEMISER_CONFIG", str(ROOT / "strategies" / "allocations.prod.json"))
    monkeypatch.setenv("ALCHEMISER_STORAGE", str(tmp_path / "storage"))
    monkeypatch.setenv("ALCHEMISER_SIM_STATE", str(tmp_path / "sim"))
    return tmp_path


def test_default_location_keys_match_the_snapshot(isolated_settings: Path) -> None:
    from alchemiser_dagster.definitions import build_definitions

    keys = definition_keys(build_definitions())
    assert keys["assets"] and keys["asset_checks"] and keys["jobs"] and keys["schedules"] and keys["sensors"]
    compare_with_snapshot("definition_keys_default", keys)


def test_account_location_keys_match_the_snapshot(
    isolated_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alchemiser_dagster.accounts_definitions import definitions_for

    accounts = isolated_settings / "accounts.toml"
    accounts.write_text(
        f'[[accounts]]\nname = "{ACCOUNT}"\nmode = "embedded"\n'
        f'config = "{ROOT / "strategies" / "allocations.prod.json"}"\n'
    )
    monkeypatch.setenv("ALCHEMISER_ACCOUNTS_FILE", str(accounts))
    keys = definition_keys(definitions_for(ACCOUNT))
    assert all(key.startswith(f"{ACCOUNT}/") for key in keys["assets"] + keys["asset_checks"])
    compare_with_snapshot("definition_keys_account", keys)

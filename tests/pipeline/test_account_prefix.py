"""An account's graph: every key under `<account>/`, and the history its assets read back
(yesterday's sleeve book, the equity curve) and the report they publish under it too."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg

from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings
from tests.stored import latest_stored

ROOT = Path(__file__).resolve().parents[2]
D1, D2 = dt.date(2024, 6, 27), dt.date(2024, 6, 28)


def settings(tmp_path: Path, day: dt.date) -> Settings:
    return Settings(
        config=ROOT / "strategies" / "allocations.prod.json",
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
        sim_date=day,
        account="alice",
    )


def test_every_key_and_check_input_is_under_the_account(tmp_path: Path) -> None:
    defs = build_definitions(settings(tmp_path, D1))
    graph = defs.resolve_asset_graph()
    assert graph.get_all_asset_keys() and all(k.path[0] == "alice" for k in graph.get_all_asset_keys())
    checks = list(graph.asset_check_keys)
    assert len(checks) > 10 and all(c.asset_key.path[0] == "alice" for c in checks)
    for check in defs.asset_checks or []:
        assert isinstance(check, dg.AssetChecksDefinition)
        assert all(key.path[0] == "alice" for key in check.keys_by_input_name.values()), check.check_keys


def test_an_accounts_run_reads_its_own_history(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    with dg.instance_for_test() as instance:
        for day in (D1, D2):
            job = build_definitions(settings(tmp_path, day)).resolve_job_def(DAILY_JOB_NAME)
            assert job.execute_in_process(partition_key=day.isoformat(), instance=instance).success
    sleeves = json.loads(latest_stored(storage, "alice", "sleeves", partition=D2.isoformat()).read_text())
    assert sleeves["value"]["origin"] == f"carried from {D1}"
    assert (storage / "alice" / "daily_report" / f"{D2}.html").is_file()
    assert not (storage / "sleeves").exists() and not (storage / "daily_report").exists()

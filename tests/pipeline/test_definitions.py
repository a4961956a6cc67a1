"""The code location loads: `dg dev`, `dagster dev` and the webserver start from `defs`
(a lazy `@dg.definitions` function, called here as Dagster's loader calls it)."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from alchemiser_dagster.definitions import defs as load_defs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return load_defs()


def test_definitions_load(defs: dg.Definitions) -> None:
    assert isinstance(defs, dg.Definitions)
    defs.get_repository_def()  # resolves every asset, job and resource; raises if inconsistent


def test_dagster_definitions_validate_passes(tmp_path: Path) -> None:
    """The same check the Dagster CLI runs before deploying a code location."""
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful for code location alchemiser" in result.stdout + result.stderr


def test_daily_job_covers_the_whole_graph(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def("daily_rebalance_job")
    keys = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert keys >= {
        "market_bars",
        "sleeves",
        "target_allocation",
        "account_snapshot",
        "allocation_comparison",
        "rebalance_plan",
        "execution_result",
        "reconciliation",
        "daily_report",
    }
    assert {k for k in keys if k.startswith("signals/")} == {
        "signals/s1_kmlm",
        "signals/s2_nuclear",
        "signals/s5_coin",
        "signals/s6_tqqq_flt",
    }
    assert defs.resolve_schedule_def("daily_rebalance_schedule").cron_schedule == "45 12,15 * * 1-5"

"""The CLI's launch path: the origin it records is the workspace's, and it reads only its own run's values."""

from importlib.resources import files
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.workspace.load import location_origins_from_yaml_paths

from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.domain.report import Delivery
from alchemiser_dagster.pipeline.io_manager import ModelIOManager
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.pipeline.launch import LOCATION_NAME, code_location, stored_model

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_records_the_origin_of_the_workspace_location() -> None:
    """The UI lists a job's runs by the origin's location and repository: the CLI's must be
    the location `alchemiser ui` and deploy/prod load from workspace.yaml (served from the
    project folder, where `working_directory: .` points; the executable is each process's)."""
    template = files("alchemiser_dagster") / "project_template" / "workspace.yaml"
    assert template.read_text() == (ROOT / "workspace.yaml").read_text()  # `alchemiser init`'s too
    (served,) = location_origins_from_yaml_paths([str(ROOT / "workspace.yaml")])
    location = code_location(ROOT)
    assert location.origin.location_name == served.location_name == LOCATION_NAME
    ours, theirs = location.origin.loadable_target_origin, served.loadable_target_origin  # type: ignore[attr-defined]
    assert (ours.module_name, ours.attribute) == (theirs.module_name, theirs.attribute)
    assert Path(ours.working_directory) == (ROOT / theirs.working_directory).resolve()
    origin = location.job_origin(DAILY_JOB_NAME)
    assert origin.repository_origin.get_label() == f"__repository__@{LOCATION_NAME}"
    assert location.repository.get_reconstructable_job(DAILY_JOB_NAME).get_definition().name == DAILY_JOB_NAME


SENT = Delivery(status="sent", detail="to the operator")


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["2026-12-04"]))
def answer() -> Delivery:
    return SENT


def test_stored_model_reads_the_runs_own_value_and_names_what_is_missing(tmp_path: Path) -> None:
    storage = ModelIOManager(base=str(tmp_path))
    first = dg.materialize([answer], partition_key="2026-12-04", resources={"io_manager": storage})
    second = dg.materialize([answer], partition_key="2026-12-04", resources={"io_manager": storage})
    assert stored_model(storage, "answer", "2026-12-04", first.run_id) == SENT
    assert stored_model(storage, "answer", "2026-12-04", second.run_id) == SENT
    with pytest.raises(
        StorageError, match=r"answer: run not-a-run stored no value for 2026-12-04 \(looked in "
    ):
        stored_model(storage, "answer", "2026-12-04", "not-a-run")

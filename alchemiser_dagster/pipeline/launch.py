"""Start a run of the daily job as the UI would, and execute it in this process.

`JobDefinition.execute_in_process` makes a run without a code-location origin, and the UI
finds a job's runs (its Runs tab, "Latest run", the overview timeline) by the
`.dagster/repository` tag that Dagster derives from the origin, so such runs are missing
there. Run-status sensors of the location skip them too. This module creates the run the
way the UI's launch does (`create_valid_pipeline_run` in dagster-graphql): it records the
location's origin as the workspace file would build it, the job's run tags plus the
partition and partition-set tags, and the job and plan snapshots. `execute_run` then runs
it here on the job's in-process executor. The caller waits for it, as before, and the
execution lock behaves the same way.

No public Dagster API creates a run with a remote origin outside a workspace, so this
uses the pieces a code server uses (`get_loadable_targets`, `CodePointer.from_module`,
`ReconstructableRepository`). Starting the workspace's gRPC code server instead would
load the definitions a second time, in a second process, for every CLI run.
"""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.code_pointer import CodePointer
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.execution.api import execute_run
from dagster._core.execution.job_execution_result import JobExecutionResult
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.remote_representation.external_data import partition_set_snap_name_for_job_name
from dagster._core.storage.tags import PARTITION_NAME_TAG, PARTITION_SET_TAG
from dagster._core.workspace.load import location_origin_from_module_name
from dagster._grpc.utils import get_loadable_targets
from pydantic import BaseModel

from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.pipeline.io_manager import ModelIOManager

# The code location of the project's workspace.yaml (`alchemiser ui`, deploy/prod): the UI
# lists a job's runs by this name, so the two must agree (tests/pipeline/test_launch.py).
LOCATION_NAME = "alchemiser"
DEFINITIONS_MODULE = "alchemiser_dagster.definitions"


@dataclass(frozen=True)
class CodeLocation:
    """The workspace's origin of a location, and the repository it loads in this process."""

    origin: ManagedGrpcPythonEnvCodeLocationOrigin
    repository: ReconstructableRepository

    def job_origin(self, job_name: str) -> RemoteJobOrigin:
        repository_name = self.repository.get_definition().name
        return RemoteJobOrigin(RemoteRepositoryOrigin(self.origin, repository_name), job_name)


def code_location(
    working_directory: Path, module_name: str = DEFINITIONS_MODULE, location_name: str = LOCATION_NAME
) -> CodeLocation:
    """The location of a workspace entry `python_module: {module_name, location_name, working_directory}`."""
    origin = location_origin_from_module_name(
        module_name, attribute=None, working_directory=str(working_directory), location_name=location_name
    )
    target = origin.loadable_target_origin
    (loadable,) = get_loadable_targets(
        python_file=None,
        module_name=module_name,
        package_name=None,
        autoload_defs_module_name=None,
        working_directory=target.working_directory,
        attribute=None,
        resolve_lazy_defs=True,
    )
    pointer = CodePointer.from_module(module_name, loadable.attribute, target.working_directory)
    return CodeLocation(origin, ReconstructableRepository(pointer, executable_path=sys.executable))


def launch_tags(job_def: dg.JobDefinition, partition: str) -> dict[str, str]:
    """The tags the UI's partition dialog gives a run, but `dagster/from_ui` (this is not the UI)."""
    return {
        **job_def.run_tags,
        PARTITION_NAME_TAG: partition,
        PARTITION_SET_TAG: partition_set_snap_name_for_job_name(job_def.name),
    }


def execute_partition_run(
    location: CodeLocation,
    instance: dg.DagsterInstance,
    job_name: str,
    partition: str,
    run_config: dict[str, Any],
) -> JobExecutionResult:
    """One run of `job_name` for `partition`, tagged and originated like a UI launch, executed here.

    Its events are in the result; its outputs are where the IO manager stored them (see
    `stored_model`): opening the result would set the resources up a second time.
    """
    job = location.repository.get_reconstructable_job(job_name)
    job_def = job.get_definition()
    run = instance.create_run_for_job(
        job_def,
        run_config=run_config,
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags=launch_tags(job_def, partition),
        remote_job_origin=location.job_origin(job_name),
        job_code_origin=job.get_python_origin(),
    )
    return execute_run(job, run, instance, raise_on_error=False)


def stored_model(storage: ModelIOManager, asset_name: str, partition: str, run_id: str) -> BaseModel:
    """The value `run_id` stored for one asset partition (never another run's)."""
    version = storage.latest([asset_name], partition, run_id=run_id)
    if version is None or version.run_id != run_id:
        raise StorageError(
            f"{asset_name}: run {run_id} stored no value for {partition}"
            f" (looked in {storage.partition_folder([asset_name], partition)})"
        )
    value = storage.read_version(version)[0]
    if not isinstance(value, BaseModel):
        raise StorageError(f"{version.path}: a table, where {asset_name} stores a model")
    return value

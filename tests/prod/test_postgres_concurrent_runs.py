"""Two `alchemiser run` processes of one session on the PostgreSQL-backed production instance.

The execution lock lives in the storage base, not in Dagster's storage, so it must hold
whatever instance the runs share: here deploy/prod/dagster.yaml on a throwaway PostgreSQL
server (tests/prod/conftest.py). `alchemiser run` executes its run in its own process
(no queue, no daemon), and the `broker` pool has granularity `run` (enforced by the queue
only), so nothing in Dagster holds the second run back: only the lock does. The storage
base is a local folder (an OS file lock) or a bucket on the S3 stand-in (a conditional-write
lease). The case and its checks are reliability/concurrent_runs.py's; the runs are then
read back from PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pytest
import s3fs

from alchemiser_dagster.domain.execution.outcome import ORDERS_TAG, OUTCOME_TAG
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from reliability.concurrent_runs import SESSION, Case, run_case
from tests.prod.conftest import loaded
from tests.prod.test_postgres_instance import assert_run_in_postgres, count

if TYPE_CHECKING:
    from tests.prod.conftest import PostgresServer, S3Server

TWO_TOGETHER = Case(2, 0.0, "embedded")


@pytest.mark.parametrize("storage_kind", ["local", "s3"])
def test_two_runs_of_one_session_on_the_postgres_instance_execute_once(
    storage_kind: str,
    prod_home: Path,
    tmp_path: Path,
    postgres_server: PostgresServer,
    postgres_db: str,
    s3_server: S3Server,
) -> None:
    # Dagster creates its tables on first load: done here, not by two runs racing to.
    with loaded(prod_home):
        pass
    workdir = tmp_path / "case"
    workdir.mkdir()
    storage = None  # workdir/storage
    if storage_kind == "s3":
        bucket = postgres_db.replace("_", "-")[:63]  # the database's name is unique per test
        s3_server.client().create_bucket(Bucket=bucket)
        storage = f"s3://{bucket}/alchemiser/storage"
    # prod_home pointed AWS_ENDPOINT_URL_S3 at the stand-in: no cached client of another
    # endpoint, and none kept for later tests.
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        result = run_case(workdir, TWO_TOGETHER, dagster_home=prod_home, storage=storage)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    if storage_kind == "s3":  # the journal and the lock were objects in the bucket, not files
        listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix="alchemiser/control/executions/")
        assert {Path(o["Key"]).suffix for o in listed.get("Contents", [])} == {".json"}  # lock released
        assert not (workdir / "storage").exists() and not (workdir / "control").exists()

    # The documented behaviour: the second run waits for the lock, then adopts what the
    # first placed; both end well and exactly one placed orders.
    assert result.exit_codes == [0, 0], result.problems
    assert result.placing_runs == 1, result.problems
    # Among the problems: an order of ours the stored result omits, a ledger line the
    # broker's fills do not match (`alchemiser ledger --json`), a run that did not succeed.
    assert result.problems == []
    assert result.verdict.duplicates == [], result.verdict  # no client_order_id twice, no overfill
    assert result.verdict.lost_fills == [], result.verdict
    assert result.verdict.off_target == [], result.verdict

    with loaded(prod_home) as instance:
        runs = instance.get_runs(
            dg.RunsFilter(job_name=DAILY_JOB_NAME, tags={"dagster/partition": SESSION.isoformat()})
        )
    assert len(runs) == 2, [r.run_id for r in runs]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [r.status for r in runs]
    outcomes = sorted((r.tags.get(OUTCOME_TAG), r.tags.get(ORDERS_TAG)) for r in runs)
    (adopted, adopted_orders), (traded, traded_orders) = outcomes
    assert (adopted, adopted_orders) == ("ADOPTED", "0"), outcomes
    assert traded == "TRADED" and traded_orders is not None and int(traded_orders) > 0, outcomes
    # Read with a plain connection: the rows are in PostgreSQL, not in some local file.
    assert count(postgres_server, postgres_db, "SELECT count(*) FROM runs") == 2
    for run in runs:
        assert_run_in_postgres(postgres_server, postgres_db, run.run_id)

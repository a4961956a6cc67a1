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

# Paper mode (`alchemiser sim serve`, a wall clock): the execution walks real seconds, so two
# runs started together are inside it at the same time; only the lock keeps one out.
TWO_TOGETHER = Case(2, 0.0, "paper", step_seconds=3.0)
WAITS = "waits up to"  # what a run waiting for the execution lock logs (pipeline/assets/execution.py)


def execution_step(instance: dg.DagsterInstance, run_id: str) -> tuple[float, float]:
    """When the run's execution_result step started and succeeded (epoch seconds)."""
    events = instance.all_logs(
        run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    )
    times = {e.dagster_event_type: e.timestamp for e in events if e.step_key == "execution_result"}
    return times[dg.DagsterEventType.STEP_START], times[dg.DagsterEventType.STEP_SUCCESS]


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
        adopter, trader = sorted(runs, key=lambda r: r.tags.get(OUTCOME_TAG, ""))
        outcomes = [(r.tags.get(OUTCOME_TAG), r.tags.get(ORDERS_TAG)) for r in (adopter, trader)]
        assert outcomes[0] == ("ADOPTED", "0"), outcomes
        assert outcomes[1][0] == "TRADED" and int(outcomes[1][1] or 0) > 0, outcomes
        trader_step = execution_step(instance, trader.run_id)
        adopter_step = execution_step(instance, adopter.run_id)
        waits = [e.user_message for e in instance.all_logs(adopter.run_id) if WAITS in e.user_message]
    # The trader holds the lock from early in its execution step until its run ends: an
    # adopter that entered its own execution step before that step ended met the lock
    # and said so, naming the holder. (Started together, the two steps overlap: in the
    # runs seen so far they began well under a second apart and lasted about 10 s.)
    if adopter_step[0] < trader_step[1]:
        assert any(trader.run_id in message for message in waits), (trader_step, adopter_step, waits)
    # Read with a plain connection: the rows are in PostgreSQL, not in some local file.
    assert count(postgres_server, postgres_db, "SELECT count(*) FROM runs") == 2
    for run in runs:
        assert_run_in_postgres(postgres_server, postgres_db, run.run_id)

"""Step retries on the daily graph, real alpaca-py against the stand-in with injected faults.

A retryable broker error (`BrokerUnavailable`) is retried by Dagster and the run succeeds;
an order reject is never retried; a retried execution adopts the order its first attempt
placed instead of placing it again. Attempts are read from the run's event log.
"""

import datetime as dt
from pathlib import Path

import dagster as dg

from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.control.execution_journal import ExecutionJournal
from alchemiser_dagster.control.execution_lock import session_lock
from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.pipeline.retries import BROKER_RETRY_POLICY
from alchemiser_dagster.settings import Settings
from reliability.invariants import check

ROOT = Path(__file__).resolve().parents[2]
SESSION = dt.date(2024, 6, 28)
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def run_day(workdir: Path) -> tuple[dg.ExecuteInProcessResult, list[dg.DagsterEvent]]:
    settings = Settings(
        config=ROOT / "strategies" / "allocations.prod.json",
        storage=str(workdir / "storage"),
        sim_state=workdir / "sim",
        sim_date=SESSION,
        broker_timeout_seconds=30.0,  # no timeout fault here: a loaded machine must not make one
    )
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            partition_key=SESSION.isoformat(), instance=instance, raise_on_error=False, run_config=QUIET
        )
        return result, list(result.all_events)


def faults_after(workdir: Path) -> list[dict[str, object]]:
    with SimulatorServer(workdir / "sim") as server:
        return server.faults()


def steps(events: list[dg.DagsterEvent], kind: str) -> list[str]:
    return [e.step_key or "" for e in events if e.event_type_value == kind]


def retried_because(events: list[dg.DagsterEvent]) -> list[tuple[str, str]]:
    """(step, the error's class) of every retry the run asked for."""
    out = []
    for event in events:
        if event.is_step_up_for_retry:
            error = event.step_retry_data.error
            cause = error.cause if error is not None else None
            out.append((event.step_key or "", cause.cls_name if cause is not None else ""))
    return out


def test_a_broker_outage_on_the_snapshot_is_retried_and_the_run_succeeds(tmp_path: Path) -> None:
    with SimulatorServer(tmp_path / "sim", now=session_time(SESSION)) as server:
        server.add_fault("GET", "/v2/account", "status", status=503, times=1)
    result, events = run_day(tmp_path)
    assert result.success
    assert retried_because(events) == [("account_snapshot", "BrokerUnavailable")]
    assert steps(events, "STEP_START").count("account_snapshot") == 1
    assert steps(events, "STEP_RESTARTED") == ["account_snapshot"]
    assert result.asset_value("execution_result").status == "SUCCESS"
    (rule,) = faults_after(tmp_path)
    assert rule["applied"] == 1  # the first attempt really met the outage


def test_an_outage_that_outlasts_the_policy_fails_the_run_naming_the_broker_error(tmp_path: Path) -> None:
    with SimulatorServer(tmp_path / "sim", now=session_time(SESSION)) as server:
        server.add_fault("GET", "/v2/positions", "status", status=500, times=None)
    result, events = run_day(tmp_path)
    assert not result.success
    snapshot_retries = [s for s, _ in retried_because(events) if s == "account_snapshot"]
    assert len(snapshot_retries) == BROKER_RETRY_POLICY.max_retries  # bounded
    (failure,) = [e for e in events if e.is_step_failure]
    assert failure.step_key == "account_snapshot"
    error = failure.step_failure_data.error
    assert error is not None and error.cause is not None
    assert error.cause.cls_name == "BrokerUnavailable"
    assert "execution_result" not in steps(events, "STEP_START")


def test_a_rejected_order_is_recorded_once_and_never_retried(tmp_path: Path) -> None:
    with SimulatorServer(tmp_path / "sim", now=session_time(SESSION)) as server:
        server.add_fault(
            "POST", "/v2/orders", "status", status=403, code=40310000, message="insufficient buying power",
            times=None,
        )  # fmt: skip
    result, events = run_day(tmp_path)
    assert retried_because(events) == []
    assert steps(events, "STEP_START").count("execution_result") == 1
    execution: ExecutionResult = result.asset_value("execution_result")
    assert execution.status == "FAILED" and execution.orders_placed == 0
    assert execution.outcomes and all(
        o.error_code == 40310000 and "insufficient buying power" in (o.error or "")
        for o in execution.outcomes
    )
    (rule,) = faults_after(tmp_path)
    # One submit per walk step of each item, from one attempt of the step: every one refused.
    assert rule["applied"] == rule["seen"] and 0 < int(str(rule["seen"])) <= 4 * len(execution.outcomes)


def test_a_retried_execution_adopts_the_order_its_first_attempt_placed(tmp_path: Path) -> None:
    # The first submit lands but its answer is lost, and so is the lookup by client id: the
    # step fails with BrokerUnavailable after the order was stored. The retry must find it.
    with SimulatorServer(tmp_path / "sim", now=session_time(SESSION)) as server:
        server.add_fault("POST", "/v2/orders", "commit_then_fail", then="drop", times=1)
        server.add_fault("GET", "/v2/orders:by_client_order_id", "drop", times=1)
    result, events = run_day(tmp_path)
    assert result.success
    assert retried_because(events) == [("execution_result", "BrokerUnavailable")]
    execution: ExecutionResult = result.asset_value("execution_result")
    assert execution.status == "SUCCESS" and execution.orders_adopted >= 1
    verdict = check(tmp_path, SESSION.isoformat())
    assert verdict.holds, verdict
    # The run kept its execution lock across the attempts and released it at its end.
    account = result.asset_value("rebalance_plan").account_number
    journal = ExecutionJournal(str(tmp_path / "storage"))
    after = session_lock(journal, SESSION, account, wait_seconds=0, stale_seconds=600)
    after.acquire("the-next-run")  # raises ExecutionLocked if the retried run still held it
    after.release()

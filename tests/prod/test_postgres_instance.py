"""deploy/prod/dagster.yaml on a real PostgreSQL server and an S3 stand-in.

The file is copied unchanged into a temporary DAGSTER_HOME and every address and secret
comes from the environment, as in production. The instance it describes must store runs,
events and schedules in PostgreSQL, queue runs with one run per broker account, monitor
runs, ship compute logs to S3 and keep telemetry off; the real daily job then runs on it
and its run, events, pool slots and logs are read back from the servers themselves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.test_utils import create_run_for_test
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from tests.prod.conftest import loaded

if TYPE_CHECKING:
    from tests.prod.conftest import PostgresServer, S3Server

ROOT = Path(__file__).resolve().parents[2]
PROD_YAML = ROOT / "deploy" / "prod" / "dagster.yaml"
D = dt.date(2024, 6, 28)  # a session; the stand-in's clock is 15:45 New York, market open
ACCOUNT_TAGS = ("alchemiser/account",)


def count(server: PostgresServer, db: str, sql: str, *args: object) -> int:
    with contextlib.closing(server.connect(db, user=server.role)) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
        assert row is not None
        return int(row[0])


def assert_run_in_postgres(server: PostgresServer, db: str, run_id: str) -> None:
    """The run's rows are in the PostgreSQL database, read with a plain connection."""
    assert (
        count(server, db, "SELECT count(*) FROM runs WHERE run_id = %s AND status = 'SUCCESS'", run_id) == 1
    )
    events = count(server, db, "SELECT count(*) FROM event_logs WHERE run_id = %s", run_id)
    assert events >= 50, events
    materialized = count(
        server, db,
        "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
        run_id,
    )  # fmt: skip
    assert materialized >= 10, materialized
    assert count(server, db, "SELECT count(*) FROM asset_keys") >= 10


def assert_compute_logs_in_s3(
    instance: dg.DagsterInstance, logs: list[dg.EventLogEntry], s3_server: S3Server, prefix: str
) -> None:
    """execute_in_process captures the whole process's stdout/stderr under one log key and
    uploads it when the run ends (partial uploads every `upload_interval` before that): the
    objects are in the bucket, and `instance`'s compute log manager reads them back."""
    captured = [e.dagster_event for e in logs if e.dagster_event_type == dg.DagsterEventType.LOGS_CAPTURED]
    assert len(captured) == 1 and captured[0] is not None
    run_id = logs[0].run_id
    manager = instance.compute_log_manager
    assert isinstance(manager, S3ComputeLogManager)
    log_key = manager.build_log_key_for_run(run_id, captured[0].logs_captured_data.file_key)
    try:
        listed = s3_server.client().list_objects_v2(
            Bucket=s3_server.bucket, Prefix=f"{prefix}/storage/{run_id}/"
        )
        keys = {obj["Key"] for obj in listed.get("Contents", [])}
        stem = f"{prefix}/storage/{'/'.join(log_key)}"
        # Complete logs, plus `.partial` ones when the run outlasted the upload interval.
        assert {f"{stem}.err", f"{stem}.out"} <= keys, keys
        assert all(key.startswith(stem) for key in keys), keys
        # Drop the local staging copy: what is read back now can only come from the bucket.
        manager.local_manager.delete_logs(log_key=log_key)
        assert manager.is_capture_complete(log_key)
        data = manager.get_log_data(log_key)
        assert data.stderr is not None
        assert b"execution_result" in data.stderr and run_id.encode() in data.stderr
    finally:
        # The manager stages logs under /tmp (its default local_dir): leave nothing there.
        manager.local_manager.delete_logs(prefix=[run_id])


def test_prod_yaml_builds_the_production_instance(prod_home: Path) -> None:
    with dg.DagsterInstance.get() as instance:
        assert instance.root_directory == str(prod_home)
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert instance.event_log_storage.supports_global_concurrency_limits

        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        concurrency = instance.get_concurrency_config()
        assert concurrency.run_queue_config is not None
        limits = concurrency.run_queue_config.tag_concurrency_limits
        assert sorted(limits, key=lambda x: x["key"]) == sorted(
            ({"key": key, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} for key in ACCOUNT_TAGS),
            key=lambda x: x["key"],
        )
        assert concurrency.pool_config.default_pool_limit == 1
        assert concurrency.pool_config.pool_granularity is not None
        assert concurrency.pool_config.pool_granularity.value == "run"
        assert instance.global_op_concurrency_default_limit == 1

        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_runtime_seconds == 3600
        assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
        assert not instance.telemetry_enabled
        assert instance.managed_python_loggers == ["alchemiser"]
        handlers = instance.get_python_log_dagster_handler_config()["handlers"]
        assert handlers["run_json"]["class"] == "alchemiser_dagster.pipeline.run_log.RunLogHandler"


def test_prod_yaml_has_no_literal_secrets_or_addresses() -> None:
    """Every connection setting of storage and compute logs is an `env:` reference."""
    import yaml

    config = yaml.safe_load(PROD_YAML.read_text())
    db = config["storage"]["postgres"]["postgres_db"]
    secrets = {"hostname", "port", "username", "password", "db_name"}
    assert set(db) == {*secrets, "scheme"}
    assert all(set(db[key]) == {"env"} for key in secrets), db
    logs = config["compute_logs"]["config"]
    assert set(logs["bucket"]) == {"env"} and set(logs["prefix"]) == {"env"}


def test_account_tags_allow_one_queued_run_per_account(prod_home: Path) -> None:
    """The daemon's own dequeue pass over runs stored in PostgreSQL honours the limits."""
    from dagster._core.remote_origin import (
        RegisteredCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    origin = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            RegisteredCodeLocationOrigin("alchemiser"), "__repository__"
        ),
        job_name="daily_rebalance_job",
    )

    def tags(account: str, *keys: str) -> dict[str, str]:
        return dict.fromkeys(keys or ACCOUNT_TAGS, account)

    def run(status: DagsterRunStatus, run_tags: dict[str, str]) -> str:
        return create_run_for_test(
            instance, job_name=origin.job_name, status=status, tags=run_tags, remote_job_origin=origin
        ).run_id

    with loaded(prod_home) as instance:
        run(DagsterRunStatus.STARTED, tags("A"))
        queued = {
            name: run(DagsterRunStatus.QUEUED, run_tags)
            for name, run_tags in [
                ("A again", tags("A")),
                ("B first", tags("B")),
                ("B second", tags("B")),
                ("C", tags("C")),
                ("no account", {}),
            ]
        }
        with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon:
            dequeued = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)
    names = {run_id: name for name, run_id in queued.items()}
    assert sorted(names[run.run_id] for run in dequeued) == ["B first", "C", "no account"]


def test_daily_job_runs_on_postgres_with_compute_logs_in_s3(
    prod_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_server: PostgresServer,
    postgres_db: str,
    s3_server: S3Server,
) -> None:
    monkeypatch.setenv("ALCHEMISER_MODE", "embedded")
    monkeypatch.setenv("ALCHEMISER_STORAGE", str(tmp_path / "storage"))
    monkeypatch.setenv("ALCHEMISER_SIM_STATE", str(tmp_path / "sim"))
    monkeypatch.setenv("ALCHEMISER_SIM_DATE", D.isoformat())
    monkeypatch.setenv("ALCHEMISER_CONFIG", str(ROOT / "strategies" / "allocations.prod.json"))
    from alchemiser_dagster.definitions import build_definitions
    from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME

    job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
    with loaded(prod_home) as instance:
        result = job.execute_in_process(partition_key=D.isoformat(), instance=instance)
        assert result.success
        run_id = result.run_id
        assert result.asset_value("execution_result").status == "SUCCESS"
        # The run records the pools its broker steps use: with granularity `run`, the queue
        # holds any other run of that pool while this one is in progress (tested with the
        # daemon in test_accounts_backfill.py).
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.run_op_concurrency is not None
        assert set(run.run_op_concurrency.all_pools or []) == {"broker"}

    assert_run_in_postgres(postgres_server, postgres_db, run_id)

    # A second instance loading the same file (a webserver, the daemon) sees the run.
    with loaded(prod_home) as other:
        record = other.get_run_by_id(run_id)
        assert record is not None and record.status == DagsterRunStatus.SUCCESS
        assert record.tags["dagster/partition"] == D.isoformat()
        assert other.get_latest_materialization_event(dg.AssetKey("daily_report")) is not None
        logs = other.all_logs(run_id)
        assert any(e.dagster_event_type == dg.DagsterEventType.RUN_SUCCESS for e in logs)
        assert_compute_logs_in_s3(other, logs, s3_server, f"compute-logs/{postgres_db}")

    # The python_logs block of the file installed the structured run log handler.
    run_log = tmp_path / "logs" / D.isoformat() / f"{run_id}.jsonl"
    entries = [json.loads(line) for line in run_log.read_text().splitlines()]
    assert any(e["event"] == "PIPELINE_SUCCESS" for e in entries)


def test_dagster_daemon_runs_every_required_daemon_on_the_prod_instance(
    prod_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dagster-daemon run` with this DAGSTER_HOME: all of its daemons, run monitoring and
    the run queue included, heartbeat into PostgreSQL."""
    monkeypatch.setenv("ALCHEMISER_MODE", "embedded")
    monkeypatch.setenv("ALCHEMISER_STORAGE", str(tmp_path / "storage"))
    monkeypatch.setenv("ALCHEMISER_SIM_STATE", str(tmp_path / "sim"))
    monkeypatch.setenv("ALCHEMISER_CONFIG", str(ROOT / "strategies" / "allocations.prod.json"))
    daemon_bin = Path(sys.executable).with_name("dagster-daemon")
    log = (tmp_path / "daemon.log").open("wb")
    process = subprocess.Popen(
        [str(daemon_bin), "run", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        with loaded(prod_home) as instance:
            required = set(instance.get_required_daemon_types())
            assert {"MONITORING", "QUEUED_RUN_COORDINATOR", "SCHEDULER", "SENSOR"} <= required
            deadline = time.monotonic() + 90
            beating: set[str] = set()
            while time.monotonic() < deadline and process.poll() is None:
                beating = set(instance.get_daemon_heartbeats())
                if required <= beating:
                    break
                time.sleep(1)
        assert process.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
        assert required <= beating, (required - beating, (tmp_path / "daemon.log").read_text()[-3000:])
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def test_compute_log_manager_round_trip_through_s3(prod_home: Path, s3_server: S3Server) -> None:
    """Write a log through the configured manager and read it back from the bucket alone."""
    from dagster._core.storage.compute_log_manager import ComputeIOType

    log_key = [f"round-trip-{uuid.uuid4().hex}", "compute_logs", "step"]
    with loaded(prod_home) as instance:
        manager = instance.compute_log_manager
        assert isinstance(manager, S3ComputeLogManager)
        try:
            with manager.capture_logs(log_key):
                print("hello from a step", flush=True)
            # Gone locally: what is read back can only come from the bucket.
            manager.local_manager.delete_logs(log_key=log_key)
            assert manager.is_capture_complete(log_key)
            data = manager.get_log_data(log_key)
            assert data.stdout is not None and b"hello from a step" in data.stdout
        finally:
            manager.local_manager.delete_logs(prefix=log_key[:1])
    body = (
        s3_server.client()
        .get_object(Bucket=s3_server.bucket, Key=manager._s3_key(log_key, ComputeIOType.STDOUT))["Body"]
        .read()
    )
    assert b"hello from a step" in body

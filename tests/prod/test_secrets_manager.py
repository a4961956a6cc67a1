"""Broker keys from AWS Secrets Manager (moto's server on loopback), resolved when the run
starts: the daily graph trades in paper mode with them, and they appear in no run config,
event or stored asset; a missing secret or field fails the run before any broker call."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import pytest
from moto.server import ThreadedMotoServer

from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.pipeline.failures import failure_reasons
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.secrets import resolve_secret
from alchemiser_dagster.settings import Settings
from tests.prod.conftest import ROOT, free_port

D = dt.date(2024, 6, 28)
API_KEY = "AKSECRETSMANAGER0001"
SECRET_KEY = "sm-secret-do-not-leak-2f9c"


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # moto keeps one state per process (other tests' buckets included): names of our own.
    name = f"alchemiser/paper-{uuid.uuid4().hex[:8]}"
    boto3.client("secretsmanager").create_secret(
        Name=name, SecretString=json.dumps({"api_key": API_KEY, "secret_key": SECRET_KEY})
    )
    boto3.client("secretsmanager").create_secret(Name=f"{name}-plain", SecretString=" plain-value \n")
    try:
        yield name
    finally:
        server.stop()


def test_references_resolve_from_secrets_manager(secrets_manager: str) -> None:
    assert resolve_secret(f"aws-sm:{secrets_manager}#api_key", "api_key_secret") == API_KEY
    assert resolve_secret(f"aws-sm:{secrets_manager}-plain", "x") == "plain-value"
    with pytest.raises(
        ConfigError,
        match=r"api_key_secret = 'aws-sm:nope#k': AWS Secrets Manager answered ResourceNotFoundException",
    ):
        resolve_secret("aws-sm:nope#k", "api_key_secret")
    with pytest.raises(ConfigError, match="is not a JSON object with 'missing'") as raised:
        resolve_secret(f"aws-sm:{secrets_manager}#missing", "secret_key_secret")
    assert SECRET_KEY not in str(raised.value) and API_KEY not in str(raised.value)


def test_the_daily_graph_trades_with_keys_from_secrets_manager(tmp_path: Path, secrets_manager: str) -> None:
    broker = SimulatorServer(
        tmp_path / "paper", now=session_time(D), api_key=API_KEY, secret_key=SECRET_KEY
    ).start()
    try:
        settings = Settings(
            mode="paper",
            broker_url=broker.base_url,
            api_key_secret=f"aws-sm:{secrets_manager}#api_key",
            secret_key_secret=f"aws-sm:{secrets_manager}#secret_key",
            config=ROOT / "strategies" / "allocations.prod.json",
            storage=str(tmp_path / "storage"),
        )
        job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
        with dg.instance_for_test() as instance:
            result = job.execute_in_process(partition_key=D.isoformat(), instance=instance)
            assert result.success
            assert result.asset_value("execution_result").status == "SUCCESS"
            run = instance.get_run_by_id(result.run_id)
            assert run is not None
            config_text = json.dumps(run.run_config, default=str)
            events_text = "\n".join(str(e) for e in instance.all_logs(result.run_id))
        for text in (config_text, events_text):
            assert API_KEY not in text and SECRET_KEY not in text
        assert f"aws-sm:{secrets_manager}#api_key" in json.dumps(
            build_definitions(settings).resources["broker"].model_dump()  # type: ignore[union-attr]
        )
        stored = "".join(p.read_text(errors="replace") for p in (tmp_path / "storage").rglob("*.json"))
        assert stored and API_KEY not in stored and SECRET_KEY not in stored

        wrong = settings.model_copy(update={"secret_key_secret": f"aws-sm:{secrets_manager}#absent"})
        job = build_definitions(wrong).resolve_job_def(DAILY_JOB_NAME)
        with dg.instance_for_test() as instance:
            failed = job.execute_in_process(
                partition_key=D.isoformat(), instance=instance, raise_on_error=False
            )
        assert not failed.success
        reasons = failure_reasons(failed.all_events)
        assert reasons and reasons[0][0] == "resources" and "secret_key_secret" in reasons[0][1], reasons
    finally:
        broker.stop()

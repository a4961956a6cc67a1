"""Five accounts on the stand-in, launched as one backfill through the queued run coordinator
on PostgreSQL: one run per account and session, never two runs of one account at once,
every account's result its own.

The real pieces: `dg dev` (webserver + daemon: backfills, the run queue, run
monitoring) on the production dagster.yaml, one code location per account from
`alchemiser accounts workspace`, each account's pool created by `alchemiser accounts pools`, the backfill launched through the webserver's GraphQL API
(what the UI's "Launch backfill" sends), runs in subprocesses of the code servers.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.cli.accounts import workspace_yaml
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.portfolio.models import RebalancePlan, TargetAllocation
from alchemiser_dagster.pipeline.io_manager import ModelIOManager
from tests.prod.conftest import ROOT, free_port, loaded

ACCOUNTS = ["ann", "ben", "cat", "dan", "eve"]
SESSIONS = [dt.date(2024, 6, 27), dt.date(2024, 6, 28)]  # the stand-ins' clock: 2024-06-28 15:45
LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on PartitionSetNotFoundError { message }
  }
}"""
STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) { __typename ... on PartitionBackfill { status } }
}"""
LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def graphql(port: int, query: str, variables: dict[str, object] | None = None) -> dict[str, object]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer
    return answer["data"]  # type: ignore[no-any-return]


def write_accounts(folder: Path) -> Path:
    """Five embedded accounts; two with their own planning settings, so each result is its own."""
    blocks = []
    for name in ACCOUNTS:
        block = [
            "[[accounts]]",
            f'name = "{name}"',
            'mode = "embedded"',
            f'config = "{ROOT / "strategies" / "allocations.prod.json"}"',
        ]
        if name == "dan":
            block.append('planning = { cash_reserve_pct = "0.10" }')  # keeps 10 % in cash
        if name == "eve":
            block.append('planning = { min_trade_usd = "20000" }')  # buys only its large targets
        blocks.append("\n".join(block))
    path = folder / "accounts.toml"
    path.write_text("\n\n".join(blocks) + "\n")
    return path


def wait_for_locations(port: int, process: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dg dev exited early:\n{log.read_text()[-4000:]}")
        try:
            entries = graphql(port, LOCATIONS)["workspaceOrError"]["locationEntries"]  # type: ignore[index]
        except OSError:
            time.sleep(2)
            continue
        loaded_names = {e["name"] for e in entries if e["loadStatus"] == "LOADED"}
        errors = [
            e
            for e in entries
            if e["locationOrLoadError"] and e["locationOrLoadError"]["__typename"] == "PythonError"
        ]
        assert not errors, errors
        if loaded_names >= set(ACCOUNTS):
            return
        time.sleep(2)
    pytest.fail(f"code locations did not load:\n{log.read_text()[-4000:]}")


def failed_steps(home: Path, backfill_id: str) -> list[str]:
    """Each failed run of the backfill with its step failures, for the assertion message."""
    from dagster import DagsterEventType

    lines = []
    with loaded(home) as instance:
        for record in instance.get_run_records(RunsFilter(tags={"dagster/backfill": backfill_id})):
            run = record.dagster_run
            if run.status == DagsterRunStatus.SUCCESS:
                continue
            lines.append(f"{run.run_id} {run.tags.get('dagster/partition')} {run.status}")
            for kind in (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE):
                for entry in instance.all_logs(run.run_id, of_type=kind):
                    lines.append(f"  {entry.step_key}: {entry.user_message[:1000]}")
                    error = entry.dagster_event.event_specific_data  # type: ignore[union-attr]
                    cause = getattr(error, "error", None)
                    while cause is not None:
                        lines.append(f"    {cause.message[:2000]}")
                        cause = cause.cause
    return lines


def daily_asset_keys(name: str) -> list[list[str]]:
    from alchemiser_dagster.accounts_definitions import definitions_for

    job = definitions_for(name).resolve_job_def("daily_rebalance_job")
    return [list(key.path) for key in job.asset_layer.executable_asset_keys]


def test_five_accounts_in_one_backfill(  # noqa: PLR0915
    prod_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = write_accounts(tmp_path)
    env = {
        "ALCHEMISER_ACCOUNTS_FILE": str(accounts),
        "ALCHEMISER_STORAGE": str(tmp_path / "storage"),
        "ALCHEMISER_SIM_STATE": str(tmp_path / "sim"),
        "ALCHEMISER_SIM_DATE": SESSIONS[-1].isoformat(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "workspace.yaml").write_text(workspace_yaml(ACCOUNTS, str(ROOT)))
    # The deploy step that creates each account's pool before the first run (see the command).
    alchemiser = Path(sys.executable).parent / "alchemiser"
    pools = subprocess.run(
        [str(alchemiser), "accounts", "pools"], capture_output=True, text=True, check=False
    )
    assert pools.returncode == 0, pools.stderr
    assert pools.stdout.splitlines() == [f"broker-{name}: created, limit 1" for name in ACCOUNTS]
    selection = [{"path": path} for name in ACCOUNTS for path in daily_asset_keys(name)]

    port = free_port()
    log = tmp_path / "dg-dev.log"
    dg = Path(sys.executable).parent / "dg"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(dg), "dev", "-w", str(tmp_path / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            cwd=ROOT, env={**os.environ}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    started = time.monotonic()
    try:
        wait_for_locations(port, process, log, time.monotonic() + 300)
        loaded_at = time.monotonic()
        launched = graphql(
            port,
            LAUNCH,
            {"params": {"assetSelection": selection, "partitionNames": [d.isoformat() for d in SESSIONS]}},
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched  # type: ignore[index]
        backfill_id = launched["backfillId"]  # type: ignore[index]
        status = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            status = graphql(port, STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]  # type: ignore[index]
            if status not in ("REQUESTED", "CANCELING"):
                break
            time.sleep(5)
        wall = time.monotonic() - started
        if status != "COMPLETED_SUCCESS":
            pytest.fail(
                "\n".join(
                    [f"backfill {status}", *failed_steps(prod_home, backfill_id), log.read_text()[-3000:]]
                )
            )
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    with loaded(prod_home) as instance:
        records = instance.get_run_records(RunsFilter(tags={"dagster/backfill": backfill_id}))
    runs_by_account: dict[str, list[tuple[float, float, str]]] = {}
    for record in records:
        run = record.dagster_run
        assert run.status == DagsterRunStatus.SUCCESS, run.run_id
        location = run.remote_job_origin.location_name  # type: ignore[union-attr]
        assert record.start_time is not None and record.end_time is not None
        runs_by_account.setdefault(location, []).append(
            (record.start_time, record.end_time, run.tags["dagster/partition"])
        )
    # One run per account and session, each in its own account's code location.
    assert {name: sorted(p for _, _, p in runs) for name, runs in runs_by_account.items()} == {
        name: [d.isoformat() for d in SESSIONS] for name in ACCOUNTS
    }
    # Never two runs of one account at once (the pool broker-<account>, granularity run).
    for name, runs in runs_by_account.items():
        first, second = sorted(runs)
        assert first[1] <= second[0], f"{name}: runs overlap {runs}"
    # Accounts did run side by side: some runs of different accounts overlapped in time.
    spans = sorted((s, e) for runs in runs_by_account.values() for s, e, _ in runs)
    assert any(b[0] < a[1] for a, b in itertools.pairwise(spans)), "accounts ran one after another"

    storage = ModelIOManager(base=str(tmp_path / "storage"))
    cash_share: dict[str, Decimal] = {}
    plans: dict[str, list[tuple[str, str, Decimal]]] = {}
    for name in ACCOUNTS:
        day, past = SESSIONS[-1].isoformat(), SESSIONS[0].isoformat()
        target = storage.stored_model([name, "target_allocation"], day)
        past_execution = storage.stored_model([name, "execution_result"], past)
        assert isinstance(target, TargetAllocation) and isinstance(past_execution, ExecutionResult)
        assert past_execution.status == "PLAN_ONLY", name  # a past session places nothing
        execution = storage.stored_model([name, "execution_result"], day)
        plan = storage.stored_model([name, "rebalance_plan"], day)
        assert isinstance(plan, RebalancePlan)
        with SimulatorServer(tmp_path / "sim" / name) as server:
            broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
            orders = broker.get_orders(status="all")
            account = broker.get_account()
        assert isinstance(execution, ExecutionResult) and execution.status == "SUCCESS", name
        assert {o.symbol for o in orders if o.filled_qty > 0} == {i.symbol for i in plan.items}
        assert all(o.client_order_id.startswith(f"alch-{day.replace('-', '')}-") for o in orders)
        if name == "eve":
            assert plan.items and all(i.est_value >= 20000 for i in plan.items), plan.items
            assert len(plan.items) < len(target.weights), "eve's small targets stay unbought"
        cash_share[name] = account.cash / account.equity
        plans[name] = [(i.symbol, i.side, i.qty) for i in plan.items]
    # Same settings, same bars: the same plan. dan's 10 % reserve keeps about 9 points more cash.
    assert plans["ann"] == plans["ben"] == plans["cat"] and plans["ann"] != plans["dan"]
    assert cash_share["dan"] - cash_share["ann"] > Decimal("0.08"), cash_share
    print(
        f"five-account backfill: {len(records)} runs in {wall - (loaded_at - started):.0f} s"
        f" (plus {loaded_at - started:.0f} s for dg dev to load the five code locations)"
    )

"""`ledger_matches_broker` checks every order of ours for the session, not only this run's.

Another run (one the execution lock did not cover, a manual order with our prefix) may have
placed an order for the same session; the check reads the broker's orders by client-id
prefix, so a fill the ledger lacks fails it even though the run's own result never saw it.
"""

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.domain.broker import OrderInfo, OrderRequest
from alchemiser_dagster.domain.execution.ids import session_prefix
from alchemiser_dagster.domain.execution.ledger import build_ledger
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.pipeline.checks import build_ledger_check
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.pipeline.resources import broker_resource
from alchemiser_dagster.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
D = dt.date(2024, 6, 28)


def place_as_another_run(state: Path, client_order_id: str) -> OrderInfo:
    """One filled order of ours for session D that the daily run did not place."""
    with SimulatorServer(state) as server:
        server.set_fill_rule(None, "immediate", client_order_id=client_order_id)
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        broker.submit_order(
            OrderRequest(client_order_id=client_order_id, symbol="TLT", side="buy", qty=Decimal(2))
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            (order,) = [o for o in broker.get_orders(status="all") if o.client_order_id == client_order_id]
            if order.status == "filled":
                return order
            server.set_clock(server.now() + dt.timedelta(seconds=1))
        raise AssertionError(f"{client_order_id} did not fill: {order.status}")


def evaluate(ledger: pd.DataFrame, execution: ExecutionResult) -> dg.AssetCheckResult:
    """The check's own definition, invoked directly with the run's broker resource."""
    check = build_ledger_check()
    result = check(fill_ledger=ledger, execution_result=execution, broker=broker_resource(load_settings()))
    assert isinstance(result, dg.AssetCheckResult)
    return result


def test_the_ledger_check_sees_an_order_of_ours_that_another_run_placed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALCHEMISER_MODE", "embedded")
    monkeypatch.setenv("ALCHEMISER_STORAGE", str(tmp_path / "storage"))
    monkeypatch.setenv("ALCHEMISER_SIM_STATE", str(tmp_path / "sim"))
    monkeypatch.setenv("ALCHEMISER_SIM_DATE", D.isoformat())
    monkeypatch.setenv("ALCHEMISER_CONFIG", str(ROOT / "strategies" / "allocations.prod.json"))
    from alchemiser_dagster.definitions import build_definitions

    job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
    with dg.instance_for_test() as instance:
        run = job.execute_in_process(partition_key=D.isoformat(), instance=instance)
    assert run.success
    ledger: pd.DataFrame = run.asset_value("fill_ledger")
    execution: ExecutionResult = run.asset_value("execution_result")
    [in_the_run] = [e for e in run.get_asset_check_evaluations() if e.check_name == "ledger_matches_broker"]
    assert in_the_run.passed
    assert evaluate(ledger, execution).passed  # the same evaluation outside the run, before the other order

    other = place_as_another_run(tmp_path / "sim", f"{session_prefix(D)}0ther000-TLT-b0")
    assert other.client_order_id not in {o.client_order_id for o in execution.orders}

    missing = evaluate(ledger, execution)
    assert not missing.passed
    assert missing.description == (
        f"{other.client_order_id}: the broker filled 2 TLT, missing from the ledger"
    )
    assert missing.metadata["orders_checked"].value == len(execution.orders) + 1

    # A ledger that records the other run's fill (as that run's own ledger row would) passes.
    with_it = execution.model_copy(update={"orders": (*execution.orders, other)})
    complete = build_ledger(with_it, run.asset_value("target_allocation"))
    assert evaluate(complete, execution).passed

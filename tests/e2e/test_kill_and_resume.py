"""A run killed with SIGKILL in the middle of the walk; the rerun finishes it without a duplicate."""

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from tests.stored import latest_stored

ROOT = Path(__file__).resolve().parents[2]
D = dt.date(2024, 6, 28)


def test_killed_mid_walk_then_rerun_adopts_and_finishes_without_duplicates(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ALCHEMISER_SIM_STATE": str(tmp_path / "sim"),
        "ALCHEMISER_STORAGE": str(tmp_path / "storage"),
        "ALCHEMISER_SIM_DATE": D.isoformat(),
        "ALCHEMISER_CONFIG": str(ROOT / "strategies" / "allocations.prod.json"),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    # The walk's first order lookup (after the step-1 limit orders are out) hangs for 30 s:
    # that is where the run is killed. The fault is persisted and applies once.
    with SimulatorServer(tmp_path / "sim", now=session_time(D)) as server:
        server.add_fault("GET", "/v2/orders:by_client_order_id", "delay", seconds=30, times=1)
    command = [sys.executable, "-m", "alchemiser_dagster.cli", "run", "--date", D.isoformat(), "--json"]
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    database = tmp_path / "sim" / "sim.sqlite3"
    placed = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if database.exists():
            with sqlite3.connect(database) as conn:
                placed = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        if placed:
            time.sleep(1.0)  # the remaining step-1 submits land, then the run sits in the delayed lookup
            break
        time.sleep(0.05)
    assert child.poll() is None, "the run ended before it could be killed"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    with sqlite3.connect(database) as conn:
        before = conn.execute("SELECT client_order_id, status FROM orders").fetchall()
    assert before and all(coid.endswith("1") for coid, _ in before), before  # killed during step 1

    rerun = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert '"status": "SUCCESS"' in rerun.stdout
    assert "finishing plan" in rerun.stdout  # the journaled plan, not a fresh one

    with SimulatorServer(tmp_path / "sim") as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        orders = broker.get_orders(status="all")
    ids = [o.client_order_id for o in orders]
    assert len(ids) == len(set(ids))
    assert {coid for coid, _ in before} <= set(ids)  # the killed run's orders were adopted, not replaced
    by_item: dict[tuple[str, str], list] = defaultdict(list)
    for order in orders:
        by_item[(order.symbol, order.side)].append(order)
    journal = next((tmp_path / "control" / "executions").glob(f"{D}-*.json")).read_text()
    from alchemiser_dagster.domain.portfolio.models import RebalancePlan

    plan = RebalancePlan.model_validate_json(journal)
    assert {(i.symbol, i.side) for i in plan.items} == set(by_item)
    for item in plan.items:
        item_orders = by_item[(item.symbol, item.side)]
        assert sum((o.filled_qty for o in item_orders), Decimal(0)) == item.qty
        assert sum(1 for o in item_orders if o.status == "filled") == 1
        assert len(item_orders) <= 4
    # The ledger the rerun stored equals the stand-in's own fills of our orders, to the cent.
    import pandas as pd

    from alchemiser_dagster.domain.execution.ledger import ledger_mismatches

    ledger = pd.read_parquet(
        latest_stored(tmp_path / "storage", "fill_ledger", partition=str(D), suffix=".parquet")
    )
    assert len(ledger) == len(plan.items)
    assert ledger_mismatches(ledger, orders) == []

"""`alchemiser run` tells a script what happened: exit 1 and one line when trades or the run failed."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time

ROOT = Path(__file__).resolve().parents[2]
D = dt.date(2024, 6, 28)


def run(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ALCHEMISER_MODE": "embedded",
        "ALCHEMISER_SIM_STATE": str(tmp_path / "sim"),
        "ALCHEMISER_STORAGE": str(tmp_path / "storage"),
        "ALCHEMISER_SIM_DATE": D.isoformat(),
        "ALCHEMISER_CONFIG": str(ROOT / "strategies" / "allocations.prod.json"),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(ROOT),
        **settings,
    }
    command = [sys.executable, "-m", "alchemiser_dagster.cli", "run", "--date", D.isoformat()]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_an_execution_where_nothing_filled_exits_1_saying_why_in_one_line(tmp_path: Path) -> None:
    with SimulatorServer(tmp_path / "sim", now=session_time(D)) as server:  # every order refused
        server.add_fault(
            "POST", "/v2/orders", "status", status=403, code=40310000, message="insufficient buying power",
            times=None,
        )  # fmt: skip
    done = run(tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Session 2024-06-28: FAILED" in done.stdout  # the summary is still printed
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"execution FAILED for {D}: none of ") and last.endswith("items filled")
    assert "Traceback" not in done.stderr


def test_an_execution_where_one_item_never_filled_exits_1_saying_partial_in_one_line(tmp_path: Path) -> None:
    with SimulatorServer(tmp_path / "sim", now=session_time(D)) as server:  # TLT's orders stay open
        server.set_fill_rule("TLT", "never")
    done = run(tmp_path, ALCHEMISER_EXECUTION__MAX_POLLS="10")  # give up on TLT after 10 polls
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Session 2024-06-28: PARTIAL" in done.stdout  # the summary is still printed
    assert (
        done.stderr.strip().splitlines()[-1] == f"execution PARTIAL for {D}: 5 of 6 items filled completely"
    )
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr
    with SimulatorServer(tmp_path / "sim") as server:  # the other five items filled at the broker
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        orders = broker.get_orders(status="all")
        held = {p.symbol for p in broker.get_positions()}
    assert {o.symbol for o in orders} == {"TLT", "SQQQ", "CONL", "EXC", "OKLO", "BWXT"}
    assert all(o.filled_qty == 0 and o.status == "canceled" for o in orders if o.symbol == "TLT")
    assert held == {"SQQQ", "CONL", "EXC", "OKLO", "BWXT"}


def test_a_failed_run_prints_its_reason_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    done = run(tmp_path, ALCHEMISER_RISK__MAX_ORDER_USD="1")  # a blocking pre-trade check fails
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith("Run ") and f"for {D} failed: " in lines[0]
    assert "order_notional_within_limit" in lines[0]


HOLD_THE_LOCK = """
import datetime as dt, sys, time
from alchemiser_dagster.control.execution_journal import ExecutionJournal
from alchemiser_dagster.control.execution_lock import session_lock
from alchemiser_dagster.broker.simulator.server import SimulatorServer
with SimulatorServer(sys.argv[2]) as server:
    from alchemiser_dagster.broker.alpaca import AlpacaBroker
    number = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url).get_account().account_number
lock = session_lock(ExecutionJournal(sys.argv[1]), dt.date(2024, 6, 28), number, wait_seconds=0, stale_seconds=600)
lock.acquire("the-other-run")
print("held", flush=True)
time.sleep(600)
"""


def test_a_run_that_cannot_get_the_execution_lock_stops_naming_the_run_that_holds_it(tmp_path: Path) -> None:
    with SimulatorServer(tmp_path / "sim", now=session_time(D)):
        pass
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, str(tmp_path / "storage"), str(tmp_path / "sim")],
        env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        done = run(tmp_path, ALCHEMISER_EXECUTION__LOCK_WAIT_SECONDS="2")
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1
    assert "waits up to 2 s for the execution lock of 2024-06-28, held by run the-other-run" in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "execution_result" in last and "ExecutionLocked" in last and "run the-other-run" in last
    with SimulatorServer(tmp_path / "sim") as server:  # nothing was placed
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        assert broker.get_orders(status="all") == []

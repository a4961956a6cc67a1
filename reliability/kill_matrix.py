"""SIGKILL a real daily run at every asset boundary and in the middle of the walk; rerun.

Each case starts `alchemiser run` as a subprocess on a fresh stand-in account, kills it
with SIGKILL the moment the chosen asset's stored file appears (or, for the walk, while
a persisted stand-in delay holds the first order lookup), reruns the day to completion
and checks the invariants.

Run: `python -m reliability.kill_matrix [--quick]`.
"""

import argparse
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.pipeline.io_manager import ModelIOManager
from reliability.invariants import Verdict, check

ROOT = Path(__file__).resolve().parent.parent
SESSION = dt.date(2024, 6, 28)
MID_WALK = "middle of the walk"
# The graph's assets in run order; a case kills the run as soon as the asset is stored.
BOUNDARIES = (
    "market_bars",
    "signals/s1_kmlm",
    "sleeves",
    "target_allocation",
    "account_snapshot",
    "allocation_comparison",
    "rebalance_plan",
    "execution_result",
    "fill_ledger",
    "reconciliation",
)
QUICK = ("rebalance_plan", MID_WALK)


@dataclass(frozen=True)
class KillResult:
    boundary: str
    killed: bool
    rerun_ok: bool
    verdict: Verdict

    @property
    def survived(self) -> bool:
        return self.rerun_ok and self.verdict.holds


def _stored(workdir: Path, asset: str) -> bool:
    """The asset has a value stored for the session (append-only: one file per run)."""
    storage = ModelIOManager(base=str(workdir / "storage"))
    return bool(storage.versions(asset.split("/"), SESSION.isoformat()))


def run_case(workdir: Path, boundary: str) -> KillResult:
    env = {
        **os.environ,
        "ALCHEMISER_SIM_STATE": str(workdir / "sim"),
        "ALCHEMISER_STORAGE": str(workdir / "storage"),
        "ALCHEMISER_SIM_DATE": SESSION.isoformat(),
        "ALCHEMISER_CONFIG": str(ROOT / "strategies" / "allocations.prod.json"),
        "DAGSTER_HOME": str(workdir / "home"),
    }
    with SimulatorServer(workdir / "sim", now=session_time(SESSION)) as server:
        if boundary == MID_WALK:  # hold the walk right after its first limit orders
            server.add_fault("GET", "/v2/orders:by_client_order_id", "delay", seconds=30, times=1)
    command = [sys.executable, "-m", "alchemiser_dagster.cli", "run", "--date", SESSION.isoformat(), "--json"]
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = _kill_at(child, workdir, boundary)
    rerun = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return KillResult(boundary, killed, rerun.returncode == 0, check(workdir, SESSION.isoformat()))


def _kill_at(child: subprocess.Popen[bytes], workdir: Path, boundary: str) -> bool:
    deadline = time.monotonic() + 180
    database = workdir / "sim" / "sim.sqlite3"
    while time.monotonic() < deadline and child.poll() is None:
        if boundary == MID_WALK:
            with sqlite3.connect(database) as conn:
                if conn.execute("SELECT count(*) FROM orders").fetchone()[0]:
                    time.sleep(0.5)
                    break
        elif _stored(workdir, boundary):
            break
        time.sleep(0.01)
    if child.poll() is not None:
        return False  # it finished first: the case still checks the rerun and the invariants
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    boundaries = QUICK if args.quick else (*BOUNDARIES, MID_WALK)
    results = []
    for boundary in boundaries:
        with tempfile.TemporaryDirectory() as scratch:
            results.append(run_case(Path(scratch), boundary))
    survived = sum(r.survived for r in results)
    duplicates = sum(len(r.verdict.duplicates) for r in results)
    lost = sum(len(r.verdict.lost_fills) for r in results)
    print(f"{'case':<28} {'runs':>5} {'survived':>9} {'duplicate orders':>17} {'lost fills':>11}")
    print(f"{'SIGKILL at asset boundary':<28} {len(results):>5} {survived:>9} {duplicates:>17} {lost:>11}")
    for result in results:
        state = "killed" if result.killed else "finished before the kill"
        print(f"  {result.boundary:<26} {state:<26} survived={result.survived} {result.verdict}")


if __name__ == "__main__":
    main()

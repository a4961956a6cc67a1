"""The fault matrix: every fault kind at every broker call site of a daily run, then a rerun.

Each case gets a fresh stand-in account, a persisted fault rule that fires once at its
call site, a daily run (which may fail: that is what faults do) and a rerun with the
fault spent. The case survives when the rerun succeeds and the invariants hold: no
duplicate order, no lost fill, final weights on target.

Run: `python -m reliability.fault_matrix [--quick]`.
"""

import argparse
import datetime as dt
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings
from reliability.invariants import Verdict, check

ROOT = Path(__file__).resolve().parent.parent
SESSION = dt.date(2024, 6, 28)
# Short enough for a timeout case to stay cheap, long enough that a loaded 2-core machine
# (the suite beside a test run) never turns an ordinary answer into a timeout: at 1 s one
# case in 121 failed that way.
BROKER_TIMEOUT_SECONDS = 3.0

# Every endpoint a daily run calls (method, path as the stand-in's fault rules match it).
CALL_SITES: tuple[tuple[str, str], ...] = (
    ("GET", "/v2/clock"),
    ("GET", "/v2/account"),
    ("GET", "/v2/positions"),
    ("GET", "/v2/orders"),
    ("GET", "/v2/assets/*"),
    ("GET", "/v2/stocks/bars"),
    ("GET", "/v2/stocks/quotes/latest"),
    ("GET", "/v2/stocks/trades/latest"),
    ("POST", "/v2/orders"),
    ("GET", "/v2/orders:by_client_order_id"),
    ("DELETE", "/v2/orders/*"),
)
FAULTS: dict[str, dict[str, Any]] = {
    "5xx": {"kind": "status", "status": 500},
    "429 Retry-After": {"kind": "status", "status": 429, "retry_after": 1},
    "502 HTML": {"kind": "html", "status": 502},
    "timeout": {"kind": "delay", "seconds": BROKER_TIMEOUT_SECONDS * 2.5},
    "connection reset": {"kind": "drop"},
    "commit then 504": {"kind": "commit_then_fail", "then": "504"},
    "commit then drop": {"kind": "commit_then_fail", "then": "drop"},
    "garbage body": {"kind": "garbage"},
    "business reject": {"kind": "status", "status": 403, "code": 40310000, "message": "insufficient qty"},
    "market closed": {"kind": "market_closed"},
    "stale quotes": {"kind": "stale_quotes"},
}
QUICK: tuple[tuple[str, tuple[str, str]], ...] = (
    ("commit then 504", ("POST", "/v2/orders")),
    ("429 Retry-After", ("GET", "/v2/stocks/quotes/latest")),
    ("connection reset", ("GET", "/v2/orders:by_client_order_id")),
)


@dataclass(frozen=True)
class CaseResult:
    fault: str
    site: tuple[str, str]
    first_run_ok: bool
    rerun_ok: bool
    verdict: Verdict
    seconds: float

    @property
    def survived(self) -> bool:
        return self.rerun_ok and self.verdict.holds


def _settings_for(workdir: Path) -> Settings:
    return Settings(
        config=ROOT / "strategies" / "allocations.prod.json",
        storage=str(workdir / "storage"),
        sim_state=workdir / "sim",
        sim_date=SESSION,
        broker_timeout_seconds=BROKER_TIMEOUT_SECONDS,
    )


def _run(settings: Settings) -> bool:
    return _run_with_status(settings)[0]


def _run_with_status(settings: Settings) -> tuple[bool, str | None]:
    """(the Dagster run succeeded, the execution's status when execution_result materialized)."""
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            partition_key=SESSION.isoformat(), instance=instance, raise_on_error=False, run_config=quiet
        )
        executed = any(
            e.materialization.asset_key.path[-1] == "execution_result"
            for e in result.get_asset_materialization_events()
        )
        status = result.asset_value("execution_result").status if executed else None
    return result.success, status


def run_case(workdir: Path, fault: str, site: tuple[str, str]) -> CaseResult:
    started = time.perf_counter()
    with SimulatorServer(workdir / "sim", now=session_time(SESSION)) as server:
        server.add_fault(site[0], site[1], times=1, **FAULTS[fault])
    settings = _settings_for(workdir)
    first = _run(settings)
    rerun = _run(settings)
    return CaseResult(
        fault, site, first, rerun, check(workdir, SESSION.isoformat()), time.perf_counter() - started
    )


def run_matrix(cases: list[tuple[str, tuple[str, str]]]) -> list[CaseResult]:
    results = []
    for fault, site in cases:
        with tempfile.TemporaryDirectory() as scratch:
            result = run_case(Path(scratch), fault, site)
        results.append(result)
        if not result.survived:
            # Said at once: the matrix takes most of an hour.
            print(f"fault matrix: {fault} at {' '.join(site)}: {result.verdict}", file=sys.stderr, flush=True)
    return results


def table(results: list[CaseResult]) -> list[tuple[str, int, int, int, int]]:
    """Rows: case, runs, survived, duplicate orders, lost fills."""
    rows: dict[str, list[CaseResult]] = defaultdict(list)
    for result in results:
        rows[f"fault: {result.fault}"].append(result)
    return [
        (
            name,
            len(group),
            sum(r.survived for r in group),
            sum(len(r.verdict.duplicates) for r in group),
            sum(len(r.verdict.lost_fills) for r in group),
        )
        for name, group in rows.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three representative cases only")
    args = parser.parse_args()
    cases = list(QUICK) if args.quick else [(f, s) for f in FAULTS for s in CALL_SITES]
    results = run_matrix(cases)
    print(f"{'case':<28} {'runs':>5} {'survived':>9} {'duplicate orders':>17} {'lost fills':>11}")
    for name, runs, survived, duplicates, lost in table(results):
        print(f"{name:<28} {runs:>5} {survived:>9} {duplicates:>17} {lost:>11}")
    for result in results:
        if not result.survived:
            where = " ".join(result.site)
            print(f"FAILED {result.fault} at {where}: rerun ok={result.rerun_ok} {result.verdict}")


if __name__ == "__main__":
    main()

"""Several `alchemiser run` processes for the same session at once; one execution must win.

Each case starts two or three real `alchemiser run` subprocesses for one session on one
account (started together, or a few seconds apart), either on the embedded stand-in
(every run starts its own stand-in on the shared state) or in paper mode against one
`alchemiser sim serve` process. Every run must end well (exit 0), exactly one of them may
place orders (the others wait for the execution lock and adopt what it placed), the
stored execution result must know every order of ours the broker holds, and the usual
invariants hold: no duplicate order, no lost fill, final weights on target.

Run: `python -m reliability.concurrent_runs [--quick]`.
"""

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import dagster as dg

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.domain.execution.ids import session_prefix
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.pipeline.io_manager import ModelIOManager
from reliability.invariants import Verdict, check

ROOT = Path(__file__).resolve().parent.parent
SESSION = dt.date(2024, 6, 28)
RUN_TIMEOUT_SECONDS = 600
BrokerKind = Literal["embedded", "paper"]


@dataclass(frozen=True)
class Case:
    runs: int
    stagger_seconds: float
    broker: BrokerKind
    # Paper mode's wait between re-quotes: a longer walk keeps an execution going longer,
    # so runs that reach it a few seconds apart still overlap there.
    step_seconds: float = 1.0

    @property
    def name(self) -> str:
        start = "together" if self.stagger_seconds == 0 else f"{self.stagger_seconds:g} s apart"
        steps = "" if self.step_seconds == 1.0 else f", {self.step_seconds:g} s steps"
        return f"{self.runs} runs {start}, {self.broker}{steps}"


CASES = (
    Case(2, 0.0, "embedded"),
    Case(3, 0.0, "embedded"),
    Case(2, 5.0, "embedded"),
    Case(3, 3.0, "embedded"),
    Case(2, 0.0, "paper"),
    Case(2, 12.0, "paper"),
    Case(3, 4.0, "paper"),
)
QUICK = (Case(2, 0.0, "embedded"), Case(3, 0.0, "embedded"), Case(2, 0.0, "paper"))


@dataclass
class ConcurrentResult:
    case: Case
    exit_codes: list[int]
    placing_runs: int
    problems: list[str] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    seconds: float = 0.0

    @property
    def survived(self) -> bool:
        return not self.problems and self.verdict.holds


def _prepare_instance(home: Path) -> None:
    """Create the shared Dagster instance once: processes racing to create its sqlite
    storages trip over Dagster's own schema migration (not what these cases test)."""
    if home.exists():
        return
    home.mkdir(parents=True)
    (home / "dagster.yaml").symlink_to(ROOT / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)):
        pass


def _base_env(workdir: Path, dagster_home: Path | None, storage: str) -> dict[str, str]:
    if dagster_home is None:
        dagster_home = workdir / "home"
        _prepare_instance(dagster_home)
    return {
        **os.environ,
        "ALCHEMISER_STORAGE": storage,
        "ALCHEMISER_CONFIG": str(ROOT / "strategies" / "allocations.prod.json"),
        # One instance for every run, as a CLI run beside a scheduled one would share it.
        "DAGSTER_HOME": str(dagster_home),
        "PYTHONPATH": str(ROOT),
        # Two or three runs (and their stand-ins) start at once: on a loaded 2-core machine a
        # bar-history answer can outlast the default 10 s, and a timeout is not what is tested.
        "ALCHEMISER_BROKER_TIMEOUT_SECONDS": "60",
    }


def _embedded_env(workdir: Path, dagster_home: Path | None, storage: str) -> dict[str, str]:
    with SimulatorServer(workdir / "sim", now=session_time(SESSION)):
        pass  # the fresh account exists before the runs race to open it
    return {
        **_base_env(workdir, dagster_home, storage),
        "ALCHEMISER_MODE": "embedded",
        "ALCHEMISER_SIM_STATE": str(workdir / "sim"),
        "ALCHEMISER_SIM_DATE": SESSION.isoformat(),
    }


def _serve(workdir: Path, dagster_home: Path | None, storage: str) -> tuple[subprocess.Popen[str], str]:
    """`alchemiser sim serve` on a free port with a wall clock; returns it and its URL."""
    command = [
        sys.executable, "-m", "alchemiser_dagster.cli", "sim", "serve", "--port", "0",
        "--state", str(workdir / "sim"), "--date", SESSION.isoformat(), "--clock", "wall",
    ]  # fmt: skip
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env=_base_env(workdir, dagster_home, storage),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdout is not None
    first = server.stdout.readline()
    marker = "listening on "
    if marker not in first:
        server.kill()
        raise RuntimeError(f"`alchemiser sim serve` did not start: {first!r}")
    return server, first.split(marker, 1)[1].strip()


def _stop(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _paper_env(
    workdir: Path, url: str, dagster_home: Path | None, storage: str, step_seconds: float
) -> dict[str, str]:
    return {
        **_base_env(workdir, dagster_home, storage),
        "ALCHEMISER_MODE": "paper",
        "ALCHEMISER_BROKER_URL": url,
        "ALPACA_API_KEY": "sim-key",
        "ALPACA_SECRET_KEY": "sim-secret",
        # Real waits in paper mode: short steps keep a case within a minute.
        "ALCHEMISER_EXECUTION__STEP_SECONDS": f"{step_seconds:g}",
        "ALCHEMISER_EXECUTION__POLL_SECONDS": "0.5",
    }


def _start_runs(case: Case, env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    command = [sys.executable, "-m", "alchemiser_dagster.cli", "run", "--date", SESSION.isoformat(), "--json"]
    children = []
    for number in range(case.runs):
        if number and case.stagger_seconds:
            time.sleep(case.stagger_seconds)
        children.append(
            subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    finished = []
    for child in children:
        try:
            out, err = child.communicate(timeout=RUN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
        finished.append(subprocess.CompletedProcess(command, child.returncode, out, err))
    return finished


def run_case(
    workdir: Path, case: Case, dagster_home: Path | None = None, storage: str | None = None
) -> ConcurrentResult:
    """Run `case` in `workdir` (stand-in state, storage) and check what it left.

    The runs share one Dagster instance: a fresh sqlite one under `workdir`, or the existing
    `dagster_home` (created beforehand, e.g. a PostgreSQL-backed instance; the variables its
    dagster.yaml reads must be in this process's environment). They store into
    `workdir/storage`, or into `storage` (an s3:// URL: the AWS variables that reach it must
    be in this process's environment too).
    """
    started = time.perf_counter()
    storage = storage or str(workdir / "storage")
    if case.broker == "embedded":
        env = _embedded_env(workdir, dagster_home, storage)
        done = _start_runs(case, env)
    else:
        server, url = _serve(workdir, dagster_home, storage)
        env = _paper_env(workdir, url, dagster_home, storage, case.step_seconds)
        try:
            done = _start_runs(case, env)
        finally:
            _stop(server)
    results = [_execution_of(run) for run in done]
    placing = sum(1 for r in results if r is not None and r.get("orders_placed", 0) > 0)
    outcome = ConcurrentResult(case, [r.returncode for r in done], placing)
    for number, run in enumerate(done, start=1):
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
            outcome.problems.append(f"run {number} exited {run.returncode}: {last}")
    for number, result in enumerate(results, start=1):
        if result is not None and result.get("status") != "SUCCESS":
            outcome.problems.append(f"run {number} ended {result.get('status')}: {result.get('reason')}")
    if placing != 1:
        outcome.problems.append(f"{placing} runs placed orders; exactly one execution may")
    outcome.problems += _unknown_to_the_stored_result(workdir, storage)
    outcome.problems += _ledger_differs_from_the_broker(workdir, env)
    outcome.verdict = check(workdir, SESSION.isoformat(), storage)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _execution_of(run: subprocess.CompletedProcess[str]) -> dict[str, Any] | None:
    if run.returncode != 0:
        return None
    try:
        payload = json.loads(run.stdout)
    except json.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def _unknown_to_the_stored_result(workdir: Path, storage: str) -> list[str]:
    """Orders of ours the broker holds for the session that the stored execution_result omits."""
    stored = ModelIOManager(base=storage).stored_model(["execution_result"], SESSION.isoformat())
    if not isinstance(stored, ExecutionResult):
        return ["no execution_result stored for the session"]
    known = {o.client_order_id for o in stored.orders}
    with SimulatorServer(workdir / "sim") as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        ours = [
            o
            for o in broker.get_orders(status="all")
            if o.client_order_id.startswith(session_prefix(SESSION))
        ]
    return [
        f"{o.client_order_id}: the broker filled {o.filled_qty} {o.symbol},"
        " unknown to the stored execution_result"
        for o in ours
        if o.client_order_id not in known and o.filled_qty > 0
    ]


def _ledger_differs_from_the_broker(workdir: Path, env: dict[str, str]) -> list[str]:
    """`alchemiser ledger --json` (the stored ledger) against the broker's fills of our orders."""
    command = [
        sys.executable,
        "-m",
        "alchemiser_dagster.cli",
        "ledger",
        "--date",
        SESSION.isoformat(),
        "--json",
    ]
    shown = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if shown.returncode != 0:
        return [f"alchemiser ledger exited {shown.returncode}: {shown.stderr.strip()[-300:]}"]
    ledger = {
        (f["client_order_id"], f["symbol"], f["side"], Decimal(f["qty"]), Decimal(f["price"]))
        for f in json.loads(shown.stdout)
    }
    with SimulatorServer(workdir / "sim") as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        fills = {
            (o.client_order_id, o.symbol, o.side, o.filled_qty, o.filled_avg_price)
            for o in broker.get_orders(status="all")
            if o.client_order_id.startswith(session_prefix(SESSION)) and o.filled_qty > 0
        }
    return [f"ledger shows {f}, the broker does not" for f in sorted(ledger - fills, key=str)] + [
        f"the broker filled {f}, the ledger omits it" for f in sorted(fills - ledger, key=str)
    ]


def run_cases(cases: tuple[Case, ...]) -> list[ConcurrentResult]:
    results = []
    for case in cases:
        with tempfile.TemporaryDirectory() as scratch:
            result = run_case(Path(scratch), case)
        results.append(result)
        if not result.survived:
            print(
                f"concurrent runs: {case.name}: {result.problems} {result.verdict}",
                file=sys.stderr,
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the fast slice's three cases only")
    args = parser.parse_args()
    results = run_cases(QUICK if args.quick else CASES)
    header = f"{'case':<34} {'survived':>9} {'placing runs':>13} {'duplicate orders':>17} {'lost fills':>11}"
    print(f"{header} {'s':>5}")
    for r in results:
        print(
            f"{r.case.name:<34} {r.survived!s:>9} {r.placing_runs:>13} {len(r.verdict.duplicates):>17}"
            f" {len(r.verdict.lost_fills):>11} {r.seconds:>5.0f}"
        )
        for problem in r.problems:
            print(f"  {problem}")
    sys.exit(0 if all(r.survived for r in results) else 1)


if __name__ == "__main__":
    main()

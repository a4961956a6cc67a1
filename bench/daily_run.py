"""Daily-run benchmark: the real daily job beside a no-op job of the same asset shape.

Run: `python bench/daily_run.py [--repeats 3]`. A first, uncounted round warms the
process (imports, the NYSE calendar, the stand-in's generated data) and is printed
separately. Both jobs run in this one process, on
the in-process executor and a throwaway Dagster instance; the no-op job has the same
assets, dependencies, partitions and checks, with bodies that do nothing, so the
ratio says what our work costs on top of Dagster's own per-step overhead. The real run
is the embedded default: a fresh stand-in account, generated data, orders placed.

Goals on the 2-core reference machine: ratio <= 2, peak RSS < 1 GiB.
"""

import argparse
import datetime as dt
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alchemiser_dagster.domain.calendar import latest_session_on_or_before  # noqa: E402
from alchemiser_dagster.domain.constants import NEW_YORK  # noqa: E402
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME  # noqa: E402
from alchemiser_dagster.pipeline.partitions import nyse_sessions  # noqa: E402


def noop_twin(defs: dg.Definitions) -> dg.JobDefinition:
    """A job with the real graph's asset keys, edges and checks, doing nothing in them."""
    graph = defs.resolve_asset_graph()
    assets = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)

        @dg.asset(key=key, deps=list(node.parent_keys), partitions_def=nyse_sessions, name=None)
        def _noop() -> None:
            return None

        assets.append(_noop)
    checks = []
    for check_key in graph.asset_check_keys:

        @dg.asset_check(asset=check_key.asset_key, name=check_key.name)
        def _pass() -> dg.AssetCheckResult:
            return dg.AssetCheckResult(passed=True)

        checks.append(_pass)
    twin = dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[dg.define_asset_job("noop_job", executor_def=dg.in_process_executor)],
    )
    return twin.resolve_job_def("noop_job")


def timed(job: dg.JobDefinition, partition: str, instance: dg.DagsterInstance) -> float:
    started = time.perf_counter()
    result = job.execute_in_process(partition_key=partition, instance=instance)
    elapsed = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"{job.name} failed for {partition}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    partition = latest_session_on_or_before(dt.datetime.now(NEW_YORK).date()).isoformat()

    full_times, noop_times = [], []
    with tempfile.TemporaryDirectory() as scratch, dg.instance_for_test() as instance:
        os.environ["ALCHEMISER_STORAGE"] = str(Path(scratch) / "storage")
        from alchemiser_dagster.definitions import build_definitions

        cold: tuple[float, float] | None = None
        for repeat in range(args.repeats + 1):
            # A fresh stand-in account each round, so every full run places its orders.
            os.environ["ALCHEMISER_SIM_STATE"] = str(Path(scratch) / f"sim-{repeat}")
            defs = build_definitions()
            noop = timed(noop_twin(defs), partition, instance)
            full = timed(defs.resolve_job_def(DAILY_JOB_NAME), partition, instance)
            if cold is None:  # the first round pays imports, the calendar and the stand-in's data
                cold = (full, noop)
                continue
            noop_times.append(noop)
            full_times.append(full)

    full, noop = statistics.median(full_times), statistics.median(noop_times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"partition {partition}, {args.repeats} repeats (medians), embedded default, allocations.prod.json")
    assert cold is not None
    print(f"cold first round (not in the medians): full {cold[0]:.2f} s, no-op {cold[1]:.2f} s")
    print(f"full daily run : {full:6.2f} s   ({', '.join(f'{t:.2f}' for t in full_times)})")
    print(f"no-op same shape: {noop:6.2f} s   ({', '.join(f'{t:.2f}' for t in noop_times)})")
    print(f"ratio          : {full / noop:6.2f}   (goal <= 2)")
    print(f"peak RSS       : {peak:6.0f} MiB (goal < 1024 MiB)")


if __name__ == "__main__":
    main()

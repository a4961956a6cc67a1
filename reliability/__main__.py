"""`python -m reliability`: the whole reliability suite and its one table.

Parts: the fault matrix (every fault at every broker call site, then a rerun), SIGKILL at
every asset boundary and mid-walk, concurrent runs of one session (two and three runs,
together and staggered, embedded and paper against `sim serve`), random fault schedules
(hypothesis), and a fuzz of the DSL parser. Each row: case, runs, survived, duplicate
orders, lost fills. Exit 1 when any case did not survive.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from reliability import concurrent_runs, dsl_fuzz, fault_matrix, fault_schedules, kill_matrix
from reliability.invariants import Verdict

Row = tuple[str, int, int, int, int]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--schedules", type=int, default=200, help="random fault schedules (hypothesis examples)"
    )
    parser.add_argument("--fuzz", type=int, default=100_000, help="DSL fuzz inputs")
    args = parser.parse_args()
    started = time.perf_counter()
    rows: list[Row] = []
    failures: list[str] = []

    def progress(part: str, new_rows: list[Row]) -> None:
        # Each part takes minutes to an hour: say what it found as it finishes, so an
        # interrupted suite still leaves its figures.
        for name, runs, survived, duplicates, lost in new_rows:
            print(
                f"[{time.perf_counter() - started:6.0f} s] {part}: {name}: {survived}/{runs} survived,"
                f" {duplicates} duplicate orders, {lost} lost fills",
                file=sys.stderr,
                flush=True,
            )

    cases = [(f, s) for f in fault_matrix.FAULTS for s in fault_matrix.CALL_SITES]
    matrix = fault_matrix.run_matrix(cases)
    rows += fault_matrix.table(matrix)
    progress("fault matrix", fault_matrix.table(matrix))
    failures += [f"{r.fault} at {' '.join(r.site)}: {r.verdict}" for r in matrix if not r.survived]

    kills = []
    for boundary in (*kill_matrix.BOUNDARIES, kill_matrix.MID_WALK):
        with tempfile.TemporaryDirectory() as scratch:
            kills.append(kill_matrix.run_case(Path(scratch), boundary))
    rows.append(_row("SIGKILL at boundaries/walk", [(k.survived, k.verdict) for k in kills]))
    failures += [f"SIGKILL at {k.boundary}: {k.verdict}" for k in kills if not k.survived]
    progress("kill matrix", rows[-1:])

    concurrent = concurrent_runs.run_cases(concurrent_runs.CASES)
    rows.append(_row("concurrent runs of a session", [(c.survived, c.verdict) for c in concurrent]))
    failures += [f"concurrent {c.case.name}: {c.problems} {c.verdict}" for c in concurrent if not c.survived]
    progress("concurrent runs", rows[-1:])

    schedules = fault_schedules.explore(args.schedules)
    rows.append(_row("random fault schedules", [(ok and v.holds, v) for _, ok, v in schedules]))
    failures += [f"schedule {s}: {v}" for s, ok, v in schedules if not (ok and v.holds)]
    progress("fault schedules", rows[-1:])

    fuzz = dsl_fuzz.fuzz(args.fuzz, seed=0)
    rows.append(("DSL parser fuzz", fuzz.inputs, fuzz.inputs - len(fuzz.crashes), 0, 0))
    failures += [f"DSL fuzz crash: {crash}" for crash in fuzz.crashes[:20]]

    print(f"{'case':<30} {'runs':>7} {'survived':>9} {'duplicate orders':>17} {'lost fills':>11}")
    for name, runs, survived, duplicates, lost in rows:
        print(f"{name:<30} {runs:>7} {survived:>9} {duplicates:>17} {lost:>11}")
    for failure in failures:
        print(f"FAILED {failure}")
    print(f"({time.perf_counter() - started:.0f} s)")
    sys.exit(1 if failures else 0)


def _row(name: str, results: list[tuple[bool, Verdict]]) -> Row:
    return (
        name,
        len(results),
        sum(ok for ok, _ in results),
        sum(len(v.duplicates) for _, v in results),
        sum(len(v.lost_fills) for _, v in results),
    )


if __name__ == "__main__":
    main()

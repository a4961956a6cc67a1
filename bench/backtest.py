"""Backtest benchmark: wall time and peak RSS of five years of daily sessions.

Run: `python bench/backtest.py [--start 2020-01-02 --end 2024-12-31]`. Each allocation
config runs in its own child process, so its peak RSS is its own; the bars (synthetic,
seed 7, from 2016: four years of warm-up, enough for 7-Phoenix.clj's 500-session
windows inside its group return streams) are generated once and read from
parquet, as `alchemiser backtest --bars` does. Times cover the backtest itself (reading
the bars, evaluating every symphony for every session, planning and filling), not the
writing of the report.

Goals on the 2-core reference machine: allocations.prod.json under 10 s and 2 GiB;
allocations.dev.json (with 3-Starburst.clj and 7-Phoenix.clj) under 60 s.
"""

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alchemiser_dagster.demo.synth import generate_bars  # noqa: E402
from alchemiser_dagster.domain.backtest.engine import BacktestSettings, run_backtest  # noqa: E402
from alchemiser_dagster.domain.marketdata.bars import read_bars, write_bars  # noqa: E402
from alchemiser_dagster.domain.strategy.config import load_allocation_config  # noqa: E402

DATA = ROOT / "bench" / "out" / "backtest-bars.parquet"
DATA_START = dt.date(2016, 1, 4)
DATA_END = dt.date(2024, 12, 31)
GOALS = {"allocations.prod.json": (10.0, 2048.0), "allocations.dev.json": (60.0, None)}


def config_dir() -> Path:
    shared = ROOT.parent / "shared" / "strategies"
    return shared if (shared / "allocations.dev.json").is_file() else ROOT / "strategies"


def ensure_data() -> Path:
    if not DATA.exists():
        write_bars(generate_bars(start=DATA_START, end=DATA_END, seed=7), DATA)
    return DATA


def child(config: Path, start: dt.date, end: dt.date) -> None:
    """One backtest; prints a JSON line with its seconds and peak RSS."""
    started = time.perf_counter()
    bars = read_bars(ensure_data())
    result = run_backtest(load_allocation_config(config), bars, start, end, BacktestSettings())
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    p = result.performance
    print(
        json.dumps(
            {"seconds": seconds, "peak_rss_mib": peak, "sessions": p.sessions, "cagr": p.cagr,
             "trades": len(result.trades)}
        )
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2020, 1, 2))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=DATA_END)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.start, args.end)
        return
    ensure_data()
    failed = False
    print(f"{'config':<24} {'sessions':>8} {'trades':>7} {'seconds':>8} {'peak RSS':>10}  goal")
    for name, (seconds_goal, rss_goal) in GOALS.items():
        config = config_dir() / name
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(config),
                "--start",
                str(args.start),
                "--end",
                str(args.end),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        met = row["seconds"] < seconds_goal and (rss_goal is None or row["peak_rss_mib"] < rss_goal)
        failed |= not met
        goal = f"< {seconds_goal:.0f} s" + (f", < {rss_goal / 1024:.0f} GiB" if rss_goal else "")
        print(
            f"{name:<24} {row['sessions']:>8} {row['trades']:>7} {row['seconds']:>7.2f}s"
            f" {row['peak_rss_mib']:>7.0f} MiB  {goal}: {'met' if met else 'MISSED'}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

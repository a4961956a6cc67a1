"""DSL benchmark: seconds and peak RSS to evaluate each corpus file over 250 sessions.

Run: `python bench/dsl.py [--corpus DIR] [--sessions 250]`. Each file is evaluated in
its own child process so its peak RSS is its own (data loading included). It also
times one session of `allocations.prod.json` after the data is loaded, cold (parse and
indicator series included) and warm.

It also times the score-JSON path: parsing the largest Composer score JSON of
`composer/` and its text equivalent (the canonical text `strategy convert` writes, and the
corpus's own `canonical/` file), converting it each way, and evaluating the JSON-loaded and
the text-loaded symphony over the same sessions; their weights must be identical.

It also times the `alchemiser` command as a whole process (best of `--repeats`, wall and
CPU seconds: CPU time hardly grows when other processes load the machine): `--help`, a
one-session `strategy eval` and a `plan`; the start-up of that `strategy eval` in stages
(importing the CLI and the engine, parsing, the NYSE session table from its per-day
cache and, for comparison, built, reading only the symphony's symbols, evaluating, and a
full read of every symbol for comparison; best of 5 each); and one
`strategy eval` call over the whole `composer/` folder (every file on one reading of the
bars). `--cli-only` prints only these figures.

Goals on the 2-core reference machine: the whole corpus over 250 sessions < 30 s; one
session of allocations.prod.json < 1 s after the data is loaded; the JSON and text forms of
one symphony evaluate equally fast (within noise); `alchemiser --help` < 0.5 s; a one-session
`strategy eval` and a `plan` < 1.5 s as whole processes.
"""

import argparse
import datetime as dt
import gc
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alchemiser_dagster.demo.synth import generate_bars  # noqa: E402
from alchemiser_dagster.domain.errors import StrategyError  # noqa: E402
from alchemiser_dagster.domain.marketdata.bars import read_bars, write_bars  # noqa: E402
from alchemiser_dagster.domain.strategy.allocation import evaluate_allocation  # noqa: E402
from alchemiser_dagster.domain.strategy.compiler import load_symphony, parse_symphony  # noqa: E402
from alchemiser_dagster.domain.strategy.config import load_allocation_config  # noqa: E402
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator  # noqa: E402
from alchemiser_dagster.domain.strategy.history import MarketHistory  # noqa: E402
from alchemiser_dagster.domain.strategy.score_json import parse_score_json  # noqa: E402
from alchemiser_dagster.domain.strategy.score_writer import to_score_json_text  # noqa: E402
from alchemiser_dagster.domain.strategy.writer import strategy_key, to_clj  # noqa: E402

DATA = ROOT / "bench" / "out" / "bars.parquet"
COMPOSER_DATA = ROOT / "bench" / "out" / "composer_bars.parquet"
DATA_START = dt.date(2019, 1, 2)
DATA_END = dt.date(2025, 12, 31)


def default_corpus() -> Path:
    env = os.environ.get("ALCHEMISER_CORPUS")
    if env:
        return Path(env)
    shared = ROOT.parent / "shared" / "strategies"
    return shared if shared.is_dir() else ROOT / "strategies"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def ensure_data() -> Path:
    if not DATA.exists():
        write_bars(generate_bars(start=DATA_START, end=DATA_END), DATA)
    return DATA


def one_file(path: Path, sessions: int) -> dict[str, float | str | int]:
    history = MarketHistory.from_bars(read_bars(ensure_data()), source=str(DATA))
    loaded_rss = current_rss_mib()
    started = time.perf_counter()
    symphony = load_symphony(path)
    parsed = time.perf_counter()
    SymphonyEvaluator(symphony, history).evaluate_range(history.sessions[-sessions:])
    done = time.perf_counter()
    return {
        "file": str(path),
        "nodes": symphony.node_count,
        "parse_s": parsed - started,
        "eval_s": done - parsed,
        "peak_rss_mib": peak_rss_mib(),
        "eval_rss_mib": current_rss_mib() - loaded_rss,
    }


def prod_session(config_path: Path) -> dict[str, float]:
    history = MarketHistory.from_bars(read_bars(ensure_data()), source=str(DATA))
    config = load_allocation_config(config_path)
    day = history.sessions[-1]
    started = time.perf_counter()
    evaluate_allocation(config, history, day, trace=True)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    evaluate_allocation(config, history, day, trace=True)
    warm = time.perf_counter() - started
    return {"cold_s": cold, "warm_s": warm, "peak_rss_mib": peak_rss_mib()}


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """The least CPU time of `repeats` runs: other load on a shared machine inflates wall
    time but hardly the process's own CPU time."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return min(times)


def json_sample(path: Path, sessions: int) -> dict[str, float | str | int]:
    """Parse and evaluate one score JSON and its text forms; weights must agree exactly."""
    json_text = path.read_text(encoding="utf-8")
    from_json = parse_score_json(json_text, source=path.name)
    ours = to_clj(from_json)
    shipped_path = path.parent / "canonical" / f"{path.stem}.clj"
    shipped = shipped_path.read_text(encoding="utf-8") if shipped_path.exists() else ours
    from_text = parse_symphony(ours, source=f"{path.stem}.clj")
    if strategy_key(from_text) != strategy_key(from_json):
        raise SystemExit(f"{path.name}: its canonical text is not the same strategy")
    bars = generate_bars(sorted(from_json.symbols), start=DATA_START, end=DATA_END)
    days = MarketHistory.from_bars(bars, source="synthetic").sessions[-sessions:]
    evaluated: dict[str, dict[dt.date, dict[str, float]]] = {}
    eval_s = {"json": math.inf, "text": math.inf}
    # Alternating runs, each on a fresh history: the history caches indicator series, so a
    # second evaluation on the same one would skip the work the first one paid for.
    for form, symphony in [("json", from_json), ("text", from_text)] * 3:
        history = MarketHistory.from_bars(bars, source="synthetic")
        gc.collect()  # the previous run's garbage is not this run's cost
        started = time.process_time()
        weights = SymphonyEvaluator(symphony, history).evaluate_range(days)
        eval_s[form] = min(eval_s[form], time.process_time() - started)
        evaluated[form] = weights
    if evaluated["json"] != evaluated["text"]:
        raise SystemExit(f"{path.name}: the JSON and text forms allocate differently")
    return {
        "file": path.name,
        "json_bytes": len(json_text.encode()),
        "text_bytes": len(ours.encode()),
        "shipped_bytes": len(shipped.encode()),
        "nodes": from_json.node_count,
        "parse_json_s": best_of(5, lambda: parse_score_json(json_text, source=path.name)),
        "parse_text_s": best_of(5, lambda: parse_symphony(ours, source="ours.clj")),
        "parse_shipped_s": best_of(5, lambda: parse_symphony(shipped, source=shipped_path.name)),
        "to_clj_s": best_of(5, lambda: to_clj(from_json)),
        "to_json_s": best_of(5, lambda: to_score_json_text(from_text)),
        "eval_json_s": eval_s["json"],
        "eval_text_s": eval_s["text"],
        "sessions": len(days),
    }


def largest_json(corpus: Path) -> Path | None:
    samples = sorted((corpus / "composer").glob("*.json"), key=lambda p: (-p.stat().st_size, p.name))
    return samples[0] if samples else None


# Times `strategy eval`'s start-up in stages, in a fresh interpreter (the bench itself has
# already imported the engine), as the command does it: parse, then read only the
# symphony's symbols (the whole file is checked column-wise, its rows of other symbols are
# never converted). argv: symphony, bars. Prints [stage, wall s, CPU s] per stage; the last
# stage, a full read of every symbol, is for comparison and not part of the call.
STARTUP_PROBE = """
import json, sys, time
marks = [("start", time.perf_counter(), time.process_time())]
def mark(name): marks.append((name, time.perf_counter(), time.process_time()))
import alchemiser_dagster.cli
mark("import the CLI (root group)")
import alchemiser_dagster.cli.strategy
from alchemiser_dagster.domain import calendar
from alchemiser_dagster.domain.marketdata.bars import close_matrix, read_bars
from alchemiser_dagster.domain.marketdata.symbol_bars import read_symbol_bars
from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory
mark("import the engine (strategy group)")
symphony = load_symphony(sys.argv[1])
mark("parse the symphony")
cached = calendar._cache_path().is_file()
calendar.session_days()
mark("NYSE session table (" + ("cached" if cached else "built") + ")")
found = read_symbol_bars(sys.argv[2], symphony.symbols)
history = MarketHistory(*close_matrix(found.bars, sessions=found.sessions))
mark(f"read the bars ({len(history.symbols)} symbols of the file)")
SymphonyEvaluator(symphony, history).evaluate_range(history.sessions[-1:])
mark("evaluate one session")
MarketHistory.from_bars(read_bars(sys.argv[2]), source=sys.argv[2])
mark("for comparison: read every symbol")
print(json.dumps([[n, w - pw, c - pc] for (_, pw, pc), (n, w, c) in zip(marks, marks[1:])]))
"""


def cli_process(args: list[str], repeats: int) -> tuple[float, float, int]:
    """Best wall and CPU seconds of `repeats` runs of `alchemiser ARGS`, and the exit status."""
    wall = cpu = math.inf
    status = 0
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "alchemiser_dagster.cli", *args],
            check=False,
            capture_output=True,
            text=True,
            env=env,
        )
        wall = min(wall, time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = min(cpu, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        status = done.returncode
        if status not in (0, 2):
            raise SystemExit(f"alchemiser {' '.join(args)} failed ({status}):\n{done.stderr}")
    return wall, cpu, status


def startup_stages(
    symphony: Path, data: Path, cache_home: str | None = None
) -> list[tuple[str, float, float]]:
    """Best of 5 probes per stage (by CPU); ``cache_home`` points the calendar cache elsewhere."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    if cache_home is not None:
        env["XDG_CACHE_HOME"] = cache_home
    best: dict[str, tuple[float, float]] = {}
    for _ in range(5):
        if cache_home is not None:
            shutil.rmtree(Path(cache_home) / "alchemiser-dagster", ignore_errors=True)
        out = subprocess.run(
            [sys.executable, "-c", STARTUP_PROBE, str(symphony), str(data)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout
        for name, wall, cpu in json.loads(out.strip().splitlines()[-1]):
            if name not in best or cpu < best[name][1]:
                best[name] = (wall, cpu)
    return [(name, wall, cpu) for name, (wall, cpu) in best.items()]


def plan_inputs() -> tuple[Path, Path]:
    """A small snapshot and target weights for timing `alchemiser plan`."""
    snapshot, targets = DATA.with_name("plan_snapshot.json"), DATA.with_name("plan_targets.json")
    quotes = {"SPY": {"bid": "549.98", "ask": "550.02"}, "TLT": {"bid": "89.99", "ask": "90.01"}}
    document = {
        "equity": "50000.00",
        "cash": "25455.00",  # equity = cash + 20 x 550 + 150.5 x 90, as `plan` requires
        "buying_power": "24000.00",
        "positions": {"SPY": "20", "TLT": "150.5"},
        "quotes": quotes,
        "assets": {s: {"tradable": True, "fractionable": True} for s in quotes},
    }
    snapshot.write_text(json.dumps(document), encoding="utf-8")
    targets.write_text(json.dumps({"SPY": "0.6", "TLT": "0.4"}), encoding="utf-8")
    return snapshot, targets


def composer_files(corpus: Path) -> list[Path]:
    folder = corpus / "composer"
    return sorted([*folder.glob("*.clj"), *folder.glob("*.json")]) if folder.is_dir() else []


def ensure_composer_data(files: list[Path]) -> Path:
    """Generated bars for every symbol the readable composer/ symphonies use."""
    if not COMPOSER_DATA.exists():
        symbols: set[str] = set()
        for path in files:
            try:
                symbols |= load_symphony(path).symbols
            except StrategyError:
                continue  # a broken source: the batch call names it
        write_bars(generate_bars(sorted(symbols), start=DATA_START, end=DATA_END), COMPOSER_DATA)
    return COMPOSER_DATA


def cli_figures(corpus: Path, sessions: int, repeats: int) -> None:
    data = ensure_data()
    symphony = corpus / "1-KMLM.clj"
    if not symphony.exists():
        symphony = ROOT / "strategies" / "1-KMLM.clj"
    print(f"alchemiser as a whole process (best of {repeats}; wall s / CPU s):")
    snapshot, targets = plan_inputs()
    runs = [
        ("--help", ["--help"], 0.5),
        (
            f"strategy eval {symphony.name}, one session",
            ["strategy", "eval", str(symphony), "--bars", str(data)],
            1.5,
        ),
        ("plan", ["plan", "--snapshot", str(snapshot), "--targets", str(targets)], 1.5),
    ]
    for label, args, goal in runs:
        wall, cpu, _ = cli_process(args, repeats)
        print(f"  {label:<40} {wall:6.2f} / {cpu:5.2f}  (goal < {goal} s)")
    print(f"  start-up of that strategy eval, in stages ({data.name}, wall s / CPU s):")
    for name, wall, cpu in startup_stages(symphony, data):
        print(f"    {name:<48} {wall:6.2f} / {cpu:5.2f}")
    with tempfile.TemporaryDirectory() as empty_cache:
        stages = {name: (wall, cpu) for name, wall, cpu in startup_stages(symphony, data, empty_cache)}
    built = next(v for k, v in stages.items() if k.startswith("NYSE session table"))
    print(f"    {'(without the cache: NYSE session table built)':<48} {built[0]:6.2f} / {built[1]:5.2f}")
    files = composer_files(corpus)
    if not files:
        print("no composer/ folder in the corpus: batch figure not measured")
        return
    bars = ensure_composer_data(files)
    days = MarketHistory.from_bars(read_bars(bars), source=str(bars)).sessions[-sessions:]
    folder = str(corpus / "composer")
    args = ["strategy", "eval", folder, "--bars", str(bars), "--start", days[0].isoformat()]
    wall, cpu, status = cli_process(args, 1)
    print(
        f"  strategy eval composer/ ({len(files)} files, {len(days)} sessions, one call): {wall:.2f} s wall,"
        f" {cpu:.2f} s CPU, exit {status} (2: the collection's broken sources are named on stderr)"
    )


def run_child(*args: str) -> dict[str, float | str | int]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    result: dict[str, float | str | int] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--sessions", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=5, help="runs per CLI figure (best is shown)")
    parser.add_argument("--cli-only", action="store_true", help="only the alchemiser command's figures")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--prod", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json-sample", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json_sample:
        print(json.dumps(json_sample(args.json_sample, args.sessions)))
        return
    if args.one:
        print(json.dumps(one_file(args.one, args.sessions)))
        return
    if args.prod:
        print(json.dumps(prod_session(args.prod)))
        return

    if args.cli_only:
        cli_figures(args.corpus, args.sessions, args.repeats)
        return
    ensure_data()
    files = sorted(args.corpus.glob("*.clj")) + sorted(args.corpus.glob("head/*.clj"))
    print(f"data: {DATA} ({DATA_START}..{DATA_END}); corpus: {args.corpus}; last {args.sessions} sessions")
    print(
        f"{'file':<34} {'nodes':>6} {'parse s':>8} {'eval s':>8} {'peak RSS MiB':>13} {'eval +RSS MiB':>14}"
    )
    total = 0.0
    for path in files:
        row = run_child("--one", str(path), "--sessions", str(args.sessions))
        total += float(row["parse_s"]) + float(row["eval_s"])
        name = str(path.relative_to(args.corpus))
        print(
            f"{name:<34} {row['nodes']:>6} {row['parse_s']:>8.3f} {row['eval_s']:>8.3f}"
            f" {row['peak_rss_mib']:>13.0f} {row['eval_rss_mib']:>14.1f}"
        )
    print("(peak RSS includes loading the bars; eval +RSS is what parsing and evaluating added)")
    print(f"whole corpus ({len(files)} files), parse + evaluate: {total:.2f} s (goal < 30 s)")
    config = args.corpus / "allocations.prod.json"
    if not config.exists():
        config = ROOT / "strategies" / "allocations.prod.json"
    prod = run_child("--prod", str(config))
    print(
        f"allocations.prod.json, one session after data load: cold {prod['cold_s']:.3f} s,"
        f" warm {prod['warm_s']:.3f} s (goal < 1 s); peak RSS {prod['peak_rss_mib']:.0f} MiB"
    )
    cli_figures(args.corpus, args.sessions, args.repeats)
    sample = largest_json(args.corpus)
    if sample is None:
        print("no composer/*.json sample in the corpus: score-JSON path not measured")
        return
    row = run_child("--json-sample", str(sample), "--sessions", str(args.sessions))
    print(
        f"score JSON path, largest sample {row['file']} ({row['nodes']} nodes), CPU seconds:\n"
        f"  parse   JSON {row['parse_json_s']:.3f} s ({int(row['json_bytes']) / 1e6:.2f} MB)"
        f" | canonical text {row['parse_text_s']:.3f} s ({int(row['text_bytes']) / 1e6:.2f} MB)"
        f" | corpus canonical/ text {row['parse_shipped_s']:.3f} s ({int(row['shipped_bytes']) / 1e6:.2f} MB)"
        " (best of 5)\n"
        f"  convert to .clj {row['to_clj_s']:.3f} s | to score JSON {row['to_json_s']:.3f} s (best of 5)\n"
        f"  evaluate {row['sessions']} sessions: from JSON {row['eval_json_s']:.3f} s"
        f" | from text {row['eval_text_s']:.3f} s (best of 3, fresh data each; weights identical;"
        " goal: equal within noise)"
    )


if __name__ == "__main__":
    main()

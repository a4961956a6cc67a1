"""The kill switch end to end on the stand-in: HALTED, REDUCING, and HALTED mid-run."""

import datetime as dt
import sqlite3
import threading
import time
from pathlib import Path

import dagster as dg

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.control.killswitch_store import KillSwitchStore
from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings

D1, D2 = dt.date(2024, 6, 27), dt.date(2024, 6, 28)


def settings(tmp_path: Path, day: dt.date, target: str) -> Settings:
    (tmp_path / "one.clj").write_text(f'(defsymphony "one" {{}} (asset "{target}"))')
    config = tmp_path / "alloc.json"
    config.write_text('{"files": ["one.clj"], "allocations": {"one.clj": 1}}')
    return Settings(
        config=config,
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
        sim_date=day,
        execution={"poll_seconds": 0.05, "max_polls": 400},  # type: ignore[arg-type]
    )


def run(s: Settings, day: dt.date) -> dg.ExecuteInProcessResult:
    job = build_definitions(s).resolve_job_def(DAILY_JOB_NAME)
    with dg.instance_for_test() as instance:
        return job.execute_in_process(partition_key=day.isoformat(), instance=instance, raise_on_error=False)


def orders(tmp_path: Path) -> list[tuple[str, str, str]]:
    """Every order on the stand-in; walking the book leaves canceled limit steps too."""
    with SimulatorServer(tmp_path / "sim") as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        return sorted((o.symbol, o.side, o.status) for o in broker.get_orders(status="all"))


def ended(tmp_path: Path) -> set[tuple[str, str, str]]:
    """How each (symbol, side) ended: filled if any of its orders filled."""
    result: dict[tuple[str, str], str] = {}
    for symbol, side, status in orders(tmp_path):
        if result.get((symbol, side)) != "filled":
            result[(symbol, side)] = status
    return {(symbol, side, status) for (symbol, side), status in result.items()}


def test_halted_places_nothing(tmp_path: Path) -> None:
    s = settings(tmp_path, D2, "SPY")
    KillSwitchStore(s.storage).flip("HALTED", "broker incident", who="ops")
    result = run(s, D2)
    execution = result.asset_value("execution_result")
    assert execution.status == "HALTED" and execution.orders_placed == 0
    assert orders(tmp_path) == []


def test_reducing_sells_but_does_not_buy(tmp_path: Path) -> None:
    assert run(settings(tmp_path, D1, "SPY"), D1).success  # day 1: all in SPY
    s = settings(tmp_path, D2, "TLT")  # day 2: the strategy rotates to TLT
    KillSwitchStore(s.storage).flip("REDUCING", "risk off", who="ops")
    execution = run(s, D2).asset_value("execution_result")
    assert {(o.symbol, o.side, o.status) for o in execution.outcomes} == {
        ("SPY", "sell", "filled"),
        ("TLT", "buy", "not_placed"),
    }
    assert ended(tmp_path) == {("SPY", "buy", "filled"), ("SPY", "sell", "filled")}  # no TLT order at all


def test_halted_mid_run_stops_before_the_next_order_and_cancels_ours(tmp_path: Path) -> None:
    assert run(settings(tmp_path, D1, "SPY"), D1).success
    s = settings(tmp_path, D2, "TLT")
    with SimulatorServer(tmp_path / "sim") as server:
        server.set_fill_rule("SPY", "never")  # the day-2 SELL stays open: execution waits on it

    def flip_when_the_sell_is_out() -> None:
        database = tmp_path / "sim" / "sim.sqlite3"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with sqlite3.connect(database) as conn:
                if conn.execute("SELECT count(*) FROM orders WHERE side = 'sell'").fetchone()[0]:
                    KillSwitchStore(s.storage).flip("HALTED", "flash crash", who="ops")
                    return
            time.sleep(0.02)

    watcher = threading.Thread(target=flip_when_the_sell_is_out)
    watcher.start()
    result = run(s, D2)
    watcher.join()
    execution = result.asset_value("execution_result")
    assert execution.status == "HALTED"
    assert [(o.symbol, o.side, o.status) for o in execution.outcomes] == [
        ("SPY", "sell", "canceled"),
        ("TLT", "buy", "not_placed"),
    ]
    assert ended(tmp_path) == {("SPY", "buy", "filled"), ("SPY", "sell", "canceled")}  # no TLT order at all
    flips = KillSwitchStore(s.storage).read().flips
    assert [(f.state, f.who, f.why) for f in flips] == [("HALTED", "ops", "flash crash")]

"""Trading settings live and in the backtest (spec §10): the same sleeves, session by session.

Five tiny symphonies, one per setting, over the stand-in's generated bars. Ten consecutive
daily runs (past sessions: each run reads D's official bar, as the backtest does) against
a backtest over the same sessions and bars: every sleeve holds the same weights for the
same reason each session. The window spans a week with a holiday Monday (Memorial Day
2024-05-27) and a month boundary (2024-06-03).
"""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pandas as pd

from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.domain.backtest.engine import BacktestSettings, run_backtest
from alchemiser_dagster.domain.calendar import nyse_sessions
from alchemiser_dagster.domain.portfolio.models import TargetAllocation
from alchemiser_dagster.domain.portfolio.sleeves import SleeveBooks
from alchemiser_dagster.domain.strategy.config import load_allocation_config
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings

SESSIONS = nyse_sessions(dt.date(2024, 5, 22), dt.date(2024, 6, 5))
PAIR = '(weight-specified 0.5 (asset "TQQQ") 0.5 (asset "SQQQ"))'
SYMPHONIES = {
    "daily.clj": '(defsymphony "daily" {:rebalance-frequency :daily}'
    ' (if (> (rsi "SPY" {:window 10}) 50) [(asset "TQQQ")] [(asset "BIL")]))',
    "weekly.clj": f'(defsymphony "weekly" {{:rebalance-frequency :weekly}} {PAIR})',
    "monthly.clj": f'(defsymphony "monthly" {{:rebalance-frequency :monthly}} {PAIR})',
    "corridor.clj": f'(defsymphony "corridor" {{:rebalance-frequency :none, :rebalance-threshold 0.05}} {PAIR})',
    "hold.clj": f'(defsymphony "hold" {{:rebalance-frequency :none}} {PAIR})',
}


def write_config(folder: Path) -> Path:
    for name, text in SYMPHONIES.items():
        (folder / name).write_text(text)
    config = folder / "alloc.json"
    config.write_text(json.dumps({"files": list(SYMPHONIES), "allocations": dict.fromkeys(SYMPHONIES, 0.2)}))
    return config


def test_daily_runs_and_the_backtest_hold_the_same_sleeves(tmp_path: Path) -> None:
    assert len(SESSIONS) == 10 and dt.date(2024, 5, 27) not in SESSIONS
    config = write_config(tmp_path)
    # The broker's today is after the window: each run is a past session (plan only).
    settings = Settings(
        config=config,
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
        sim_date=dt.date(2024, 6, 7),
    )
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    live: dict[dt.date, SleeveBooks] = {}
    bars = []
    with dg.instance_for_test() as instance:
        for session in SESSIONS:
            result = job.execute_in_process(partition_key=session.isoformat(), instance=instance)
            live[session] = result.asset_value("sleeves")
            bars.append(result.asset_value("market_bars"))
            target: TargetAllocation = result.asset_value("target_allocation")
            # target_allocation nets what the sleeves hold, and says why per sleeve.
            for sleeve in target.sleeves:
                book = live[session].book(sleeve.strategy)
                assert sleeve.weights == book.weights and sleeve.trading == book.reason
            # ... in its metadata and in the daily report, one line per sleeve.
            [event] = [
                e
                for e in result.get_asset_materialization_events()
                if e.asset_key == dg.AssetKey("target_allocation")
            ]
            said = event.materialization.metadata["trading"].value
            report = result.asset_value("daily_report").markdown
            for book in live[session].sleeves:
                line = f"{book.setting.label()}: {book.reason}"
                assert said[book.strategy] == line and f"Trading setting {line}" in report  # type: ignore[index]
    history = pd.concat(bars).drop_duplicates(["symbol", "date"]).reset_index(drop=True)
    backtest = run_backtest(
        load_allocation_config(config), history, SESSIONS[0], SESSIONS[-1], BacktestSettings()
    ).sleeves

    for record in backtest.to_dict("records"):
        book = live[record["session"]].book(record["strategy"])
        held = {s: Decimal(w) for s, w in json.loads(record["held_weights"]).items()}
        assert (held, record["rebalanced"], record["reason"]) == (book.weights, book.traded, book.reason), (
            record
        )
    assert len(backtest) == len(SESSIONS) * len(SYMPHONIES)

    def trading_days(name: str) -> list[dt.date]:
        return [d for d in SESSIONS if live[d].book(name).traded]

    assert trading_days("daily.clj") == SESSIONS
    # The first session, Tuesday after Memorial Day, and Monday 3 June.
    assert trading_days("weekly.clj") == [dt.date(2024, 5, 22), dt.date(2024, 5, 28), dt.date(2024, 6, 3)]
    assert trading_days("monthly.clj") == [dt.date(2024, 5, 22), dt.date(2024, 6, 3)]
    assert trading_days("hold.clj") == [dt.date(2024, 5, 22)]
    corridor = [live[d].book("corridor.clj") for d in SESSIONS]
    assert corridor[0].traded and any(not b.traded for b in corridor), [b.reason for b in corridor]
    # The pair drifts apart fast: its corridor breaks by drift alone (the target never moves).
    assert any(b.traded and b.reason.startswith("corridor 5 % broken by") for b in corridor[1:])
    # Between trades the corridor sleeve holds within 5 pp of 50/50, and trades past it.
    for book in corridor[1:]:
        worst = max(abs(float(w) - 0.5) for w in book.weights.values())
        assert book.traded or worst <= 0.05, book
    assert (
        live[SESSIONS[0]].origin.startswith("no stored book")
        and live[SESSIONS[1]].origin == "carried from 2024-05-22"
    )


def test_live_sessions_read_the_previous_ledger_and_a_gap_carries_the_last_book(tmp_path: Path) -> None:
    """Two live sessions with fills, then a gap of one session (a backfill that never ran)."""
    (tmp_path / "weekly.clj").write_text(SYMPHONIES["weekly.clj"])
    (tmp_path / "hold.clj").write_text(SYMPHONIES["hold.clj"])
    config = tmp_path / "alloc.json"
    config.write_text(
        json.dumps({"files": ["weekly.clj", "hold.clj"], "allocations": {"weekly.clj": 0.6, "hold.clj": 0.4}})
    )

    def run(day: dt.date, broker_day: dt.date) -> dg.ExecuteInProcessResult:
        settings = Settings(
            config=config, storage=str(tmp_path / "storage"), sim_state=tmp_path / "sim", sim_date=broker_day
        )
        job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
        with dg.instance_for_test() as instance:
            return job.execute_in_process(partition_key=day.isoformat(), instance=instance)

    thursday, friday, monday, tuesday = (
        dt.date(2024, 6, 27),
        dt.date(2024, 6, 28),
        dt.date(2024, 7, 1),
        dt.date(2024, 7, 2),
    )
    first = run(thursday, thursday)
    assert first.asset_value("execution_result").status == "SUCCESS"
    second: SleeveBooks = run(friday, friday).asset_value("sleeves")
    ledger = first.asset_value("fill_ledger")
    assert second.ledger_note == f"fill ledger of {thursday}: {len(ledger)} fills" and len(ledger) > 0
    # Every dollar bought on Thursday is attributed to one of the two sleeves.
    bought = sum(Decimal(n) for n in ledger["notional"])
    assert abs(sum(second.previous_fills.values()) - bought) <= Decimal(
        "0.01"
    )  # each sleeve's rounded to the cent
    assert set(second.previous_fills) == {"weekly.clj", "hold.clj"}
    assert [b.reason for b in second.sleeves] == [
        "not a rebalance day (weekly): held",
        "buy and hold (none): held",
    ]

    # Monday is never run: Tuesday carries Friday's book, and the week's first session
    # (Monday) fell in the gap, so the weekly sleeve trades on Tuesday.
    third: SleeveBooks = run(tuesday, tuesday).asset_value("sleeves")
    assert third.carried_from == friday and third.origin.startswith(
        f"no stored book for {monday}: carried from {friday}"
    )
    assert third.ledger_note == f"no fill ledger stored for {monday} (plan only or not run): no fills assumed"
    assert [(b.traded, b.reason) for b in third.sleeves] == [
        (True, "rebalance day (weekly)"),
        (False, "buy and hold (none): held"),
    ]

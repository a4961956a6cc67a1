"""`alchemiser data fetch` against real stand-ins, through the real alpaca-py client over HTTP.

Embedded mode: the command starts the stand-in itself (settings from the environment).
Paper mode: the test starts a stand-in and points the command at it with
ALCHEMISER_BROKER_URL and keys, so the non-embedded path (keys from the environment) runs.
Every command goes through ``alchemiser_dagster.cli.main``: the real exit codes and the
``error: ...`` mapping.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.cli import main
from alchemiser_dagster.demo.synth import generate_bars
from alchemiser_dagster.domain.calendar import nyse_sessions
from alchemiser_dagster.domain.marketdata.bars import BAR_COLUMNS, read_bars
from alchemiser_dagster.domain.strategy.allocation import required_market_data
from alchemiser_dagster.domain.strategy.config import load_allocation_config

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "strategies" / "allocations.prod.json"
SIM_DATE = dt.date(2024, 7, 1)
# 2.5 years x 41 symbols = 25,625 bars: alpaca-py asks for pages of 10,000 (its
# DATA_V2_MAX_LIMIT) and the stand-in stops a page at the limit it is sent, so three pages.
START, END = dt.date(2022, 1, 3), dt.date(2024, 6, 28)
SDK_PAGE = 10_000
PAPER_KEY, PAPER_SECRET = "AKPAPERTESTKEY0001", "paper-test-secret-0001"


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def _clean_env(mp: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith(("ALCHEMISER_", "ALPACA_")):
            mp.delenv(name)
    for name, value in env.items():
        mp.setenv(name, value)


def alchemiser(*args: str | Path | dt.date, env: dict[str, str], cwd: Path) -> Outcome:
    """Run ``alchemiser ARGS`` in-process with exactly ``env`` for our variables, in ``cwd``."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        _clean_env(mp, env)
        mp.chdir(cwd)  # no stray ./alchemiser.toml
        mp.setattr(sys, "argv", ["alchemiser", *map(str, args)])
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            pytest.raises(SystemExit) as done,
        ):
            main()
    code = done.value.code
    return Outcome(code if isinstance(code, int) else 0, out.getvalue(), err.getvalue())


def embedded_env(sim: Path) -> dict[str, str]:
    return {
        "ALCHEMISER_MODE": "embedded",
        "ALCHEMISER_SIM_STATE": str(sim),
        "ALCHEMISER_SIM_DATE": SIM_DATE.isoformat(),
    }


def required_symbols() -> list[str]:
    symbols, _ = required_market_data(load_allocation_config(CONFIG))
    return sorted(symbols)


@dataclass(frozen=True)
class Fetched:
    outcome: Outcome
    path: Path
    sim: Path


@pytest.fixture(scope="module")
def fetched(tmp_path_factory: pytest.TempPathFactory) -> Fetched:
    base = tmp_path_factory.mktemp("fetch")
    path = base / "out" / "bars.parquet"
    outcome = alchemiser(
        "data", "fetch", "--symbols-from", CONFIG, "--start", START, "--end", END, "--out", path,
        env=embedded_env(base / "sim"), cwd=base,
    )  # fmt: skip
    assert outcome.code == 0, outcome.err
    return Fetched(outcome, path, base / "sim")


@contextlib.contextmanager
def stand_in(state: Path, bars: pd.DataFrame | None = None) -> Iterator[SimulatorServer]:
    with SimulatorServer(
        state, bars=bars, now=session_time(SIM_DATE), api_key=PAPER_KEY, secret_key=PAPER_SECRET
    ) as server:
        yield server


def paper_env(server: SimulatorServer) -> dict[str, str]:
    return {
        "ALCHEMISER_MODE": "paper",
        "ALCHEMISER_BROKER_URL": server.base_url,
        "ALPACA_API_KEY": server.api_key,
        "ALPACA_SECRET_KEY": server.secret_key,
    }


def bar_requests(server: SimulatorServer) -> list[dict[str, list[str]]]:
    assert server._httpd is not None
    return [
        parse_qs(urlsplit(entry["path"]).query)
        for entry in server._httpd.log.entries()
        if urlsplit(entry["path"]).path == "/v2/stocks/bars"
    ]


# --- embedded mode ----------------------------------------------------------------------


def test_embedded_fetch_prints_one_summary_line(fetched: Fetched) -> None:
    lines = fetched.outcome.out.splitlines()
    n_rows = 41 * len(nyse_sessions(START, END))
    assert lines == [
        f"wrote {n_rows} rows, 41 symbols, sessions {START}..{END} from the embedded stand-in to {fetched.path}"
    ]
    assert fetched.outcome.err == ""


def test_embedded_fetch_has_every_symbol_on_every_session_over_several_pages(fetched: Fetched) -> None:
    bars = read_bars(fetched.path)
    assert tuple(bars.columns) == BAR_COLUMNS
    assert sorted(bars["symbol"].unique()) == required_symbols()
    sessions = nyse_sessions(START, END)
    for symbol, dates in bars.groupby("symbol")["date"]:
        assert list(dates) == sessions, symbol
    assert len(bars) == len(required_symbols()) * len(sessions) > 2 * SDK_PAGE  # needed 3 pages


def test_embedded_file_round_trips_through_read_bars(fetched: Fetched) -> None:
    raw = pd.read_parquet(fetched.path)
    assert list(raw.columns) == list(BAR_COLUMNS)
    bars = read_bars(fetched.path)
    again = fetched.path.with_name("again.parquet")
    bars.to_parquet(again)
    pd.testing.assert_frame_equal(read_bars(again), bars)
    assert all(isinstance(d, dt.date) for d in bars["date"].head())
    assert (bars[["open", "high", "low", "close"]] > 0).all().all()


def test_embedded_values_equal_the_stand_ins_own_bars(fetched: Fetched) -> None:
    bars = read_bars(fetched.path)
    spots = [("SPY", START), ("TQQQ", dt.date(2023, 3, 15)), ("OKLO", END), ("BIL", dt.date(2022, 12, 30))]
    with (
        SimulatorServer(fetched.sim, now=session_time(SIM_DATE)) as server,
        AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url) as broker,
    ):
        for symbol, day in spots:
            direct = broker.get_daily_bars([symbol], day, day)
            assert len(direct) == 1, (symbol, day)
            expected = direct.iloc[0]
            got = bars[(bars["symbol"] == symbol) & (bars["date"] == day)].iloc[0]
            for column in ("open", "high", "low", "close", "volume"):
                assert got[column] == expected[column], (symbol, day, column)


def test_allocate_runs_on_the_fetched_file(fetched: Fetched, tmp_path: Path) -> None:
    outcome = alchemiser(
        "strategy", "allocate", CONFIG, "--bars", fetched.path, "--no-trace", env={}, cwd=tmp_path
    )
    assert outcome.code == 0, outcome.err
    assert f"Target allocation for {END} ({CONFIG}):" in outcome.out


# --- paper mode against a stand-in started here -------------------------------------------


def test_paper_mode_fetches_from_the_broker_url_with_the_keys(fetched: Fetched, tmp_path: Path) -> None:
    path = tmp_path / "paper.parquet"
    with stand_in(tmp_path / "sim") as server:
        outcome = alchemiser(
            "data", "fetch", "--symbols-from", CONFIG, "--start", START, "--end", END, "--out", path,
            env=paper_env(server), cwd=tmp_path,
        )  # fmt: skip
        requests = bar_requests(server)
    assert outcome.code == 0, outcome.err
    assert outcome.out.splitlines() == [
        f"wrote {len(read_bars(path))} rows, 41 symbols, sessions {START}..{END}"
        f" from Alpaca paper at {server.base_url} to {path}"
    ]
    # More than one page, each asked for at the SDK's page size, with adjusted prices.
    assert len(requests) == 3
    assert [q.get("limit") for q in requests] == [[str(SDK_PAGE)]] * 3
    assert all(q["adjustment"] == ["all"] and q["timeframe"] == ["1Day"] for q in requests)
    assert "page_token" not in requests[0] and all("page_token" in q for q in requests[1:])
    # The same stand-in data as the embedded fetch.
    pd.testing.assert_frame_equal(read_bars(path), read_bars(fetched.path))
    assert PAPER_KEY not in outcome.out + outcome.err and PAPER_SECRET not in outcome.out + outcome.err


def test_paper_mode_wrong_keys_fail_without_showing_them(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    with stand_in(tmp_path / "sim") as server:
        env = {
            **paper_env(server),
            "ALPACA_API_KEY": "AKWRONGKEY12345",
            "ALPACA_SECRET_KEY": "wrong-secret-123",
        }
        outcome = alchemiser(
            "data", "fetch", "--symbols", "SPY", "--start", "2024-06-03", "--end", "2024-06-28", "--out", path,
            env=env, cwd=tmp_path,
        )  # fmt: skip
    assert outcome.code == 1 and outcome.out == ""
    assert outcome.err.startswith("error: ") and "401" in outcome.err
    assert "AKWRONGKEY12345" not in outcome.err and "wrong-secret-123" not in outcome.err
    assert not path.exists()


def test_paper_mode_without_keys_names_the_missing_variable(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    args = (
        "data",
        "fetch",
        "--symbols",
        "SPY",
        "--start",
        "2024-06-03",
        "--end",
        "2024-06-28",
        "--out",
        path,
    )
    base = {"ALCHEMISER_MODE": "paper", "ALCHEMISER_BROKER_URL": "http://127.0.0.1:9"}
    only_key = alchemiser(*args, env={**base, "ALPACA_API_KEY": "AKONLYTHEKEY999"}, cwd=tmp_path)
    assert only_key.code == 1 and only_key.out == ""
    assert only_key.err == (
        "error: paper mode needs ALPACA_SECRET_KEY set in the environment"
        " (the settings api_key_secret / secret_key_secret name where the Alpaca keys are)\n"
    )
    neither = alchemiser(*args, env=base, cwd=tmp_path)
    assert neither.code == 1 and "ALPACA_API_KEY and ALPACA_SECRET_KEY" in neither.err
    assert not path.exists()


def test_late_listing_is_noted_and_a_hole_is_an_error(tmp_path: Path) -> None:
    sessions = nyse_sessions(dt.date(2024, 6, 3), dt.date(2024, 6, 28))
    spy = generate_bars(["SPY"], start=dt.date(2024, 1, 2), end=SIM_DATE)
    late = spy[spy["date"] >= sessions[10]].assign(symbol="LATE")
    holey = spy[spy["date"] != sessions[5]].assign(symbol="HOLEY")
    path = tmp_path / "bars.parquet"
    args = ("data", "fetch", "--start", sessions[0], "--end", sessions[-1], "--out", path)
    with stand_in(tmp_path / "sim", bars=pd.concat([spy, late, holey], ignore_index=True)) as server:
        listed = alchemiser(*args, "--symbols", "SPY,LATE", env=paper_env(server), cwd=tmp_path)
        assert listed.code == 0, listed.err
        assert listed.err == f"note: bars begin after {sessions[0]} for LATE ({sessions[10]})\n"
        assert len(read_bars(path)) == len(sessions) + len(sessions) - 10
        path.unlink()
        holed = alchemiser(*args, "--symbols", "SPY,HOLEY", env=paper_env(server), cwd=tmp_path)
    assert holed.code == 1 and holed.out == ""
    assert f"HOLEY lacks 1 session(s) after its first bar {sessions[0]}: {sessions[5]}" in holed.err
    assert not path.exists()


# --- usage and data errors ----------------------------------------------------------------


def test_start_after_end_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    outcome = alchemiser(
        "data", "fetch", "--symbols-from", CONFIG, "--start", "2024-06-03", "--end", "2024-06-01", "--out", path,
        env=embedded_env(tmp_path / "sim"), cwd=tmp_path,
    )  # fmt: skip
    assert outcome.code == 1 and outcome.out == ""
    assert "Error: --start 2024-06-03 is after --end 2024-06-01" in outcome.err
    assert not path.exists() and not (tmp_path / "sim").exists()  # failed before starting the stand-in


def test_unknown_symbol_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    outcome = alchemiser(
        "data", "fetch", "--symbols-from", CONFIG, "--symbols", "spy,NOSUCHSYM",
        "--start", "2024-06-03", "--end", "2024-06-28", "--out", path,
        env=embedded_env(tmp_path / "sim"), cwd=tmp_path,
    )  # fmt: skip
    assert outcome.code == 1 and outcome.out == ""
    assert (
        outcome.err == "error: no bars in 2024-06-03..2024-06-28 from the embedded stand-in for: NOSUCHSYM\n"
    )
    assert not path.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read allocation config"), ("{not json", "invalid JSON")],
)
def test_unreadable_config_is_a_config_error(tmp_path: Path, content: str | None, expected: str) -> None:
    config = tmp_path / "allocations.json"
    if content is not None:
        config.write_text(content, encoding="utf-8")
    outcome = alchemiser(
        "data", "fetch", "--symbols-from", config, "--start", "2024-06-03", "--end", "2024-06-28",
        "--out", tmp_path / "bars.parquet", env=embedded_env(tmp_path / "sim"), cwd=tmp_path,
    )  # fmt: skip
    assert outcome.code == 1 and outcome.out == ""
    assert outcome.err.startswith(f"error: {config}") and expected in outcome.err


def test_a_session_that_has_not_closed_is_refused(tmp_path: Path) -> None:
    outcome = alchemiser(
        "data", "fetch", "--symbols", "SPY", "--start", "2024-06-24", "--end", SIM_DATE,
        "--out", tmp_path / "bars.parquet", env=embedded_env(tmp_path / "sim"), cwd=tmp_path,
    )  # fmt: skip
    assert outcome.code == 1 and outcome.out == ""
    assert f"the session of {SIM_DATE} has not closed" in outcome.err
    assert "the last closed session in the range is 2024-06-28" in outcome.err

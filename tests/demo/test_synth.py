from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from alchemiser_dagster.cli.data import data
from alchemiser_dagster.demo.synth import generate_bars
from alchemiser_dagster.demo.universe import (
    CORPUS_SYMBOLS,
    FACTORS,
    profile_for,
)
from alchemiser_dagster.domain import calendar
from alchemiser_dagster.domain.marketdata.bars import (
    BAR_COLUMNS,
    close_matrix,
    normalize_bars,
    read_bars,
)

D = dt.date
START = D(2018, 1, 2)
END = D(2025, 12, 31)
CORE = ["SPY", "QQQ", "TQQQ", "SQQQ", "UVXY", "VIXY", "SVXY", "BIL", "TLT", "BITO", "FXI"]


@pytest.fixture(scope="module")
def core_bars() -> pd.DataFrame:
    return generate_bars(CORE, start=START, end=END)


@pytest.fixture(scope="module")
def closes(core_bars: pd.DataFrame) -> pd.DataFrame:
    sessions, symbols, matrix = close_matrix(core_bars)
    return pd.DataFrame(matrix, index=pd.to_datetime(sessions), columns=symbols)


@pytest.fixture(scope="module")
def returns(closes: pd.DataFrame) -> pd.DataFrame:
    return closes.pct_change().iloc[1:]


@pytest.fixture(scope="module")
def all_bars() -> pd.DataFrame:
    return generate_bars(None, start=D(2024, 1, 2), end=D(2024, 12, 31))


def _slope(y: pd.Series, x: pd.Series) -> float:
    return float(np.cov(x, y)[0, 1] / np.var(x, ddof=1))


def _rsi(prices: pd.Series, window: int) -> pd.Series:
    delta = prices.diff()
    gain = delta.clip(lower=0).ewm(alpha=1 / window, adjust=False).mean()
    loss = (-delta.clip(upper=0)).ewm(alpha=1 / window, adjust=False).mean()
    return 100 - 100 / (1 + gain / loss)


# --- universe -----------------------------------------------------------------------------


def test_corpus_symbols_all_have_specific_profiles() -> None:
    assert len(CORPUS_SYMBOLS) == 364 == len(set(CORPUS_SYMBOLS))
    for symbol in CORPUS_SYMBOLS:
        profile = profile_for(symbol)
        assert profile.symbol == symbol
        assert profile.category != "generic_equity", symbol
        for key, _ in profile.loadings:
            assert key in FACTORS or profile_for(key).category != "generic_equity"


def test_leveraged_profiles() -> None:
    assert (profile_for("TQQQ").underlying, profile_for("TQQQ").leverage) == ("QQQ", 3.0)
    assert (profile_for("SQQQ").underlying, profile_for("SQQQ").leverage) == ("QQQ", -3.0)
    assert (profile_for("UVXY").underlying, profile_for("UVXY").leverage) == ("VIXY", 1.5)
    assert profile_for("SOXS").leverage == -3.0 and profile_for("TMF").underlying == "TLT"


def test_unknown_symbol_gets_stable_generic_profile() -> None:
    a = profile_for("NOTATICKER")
    assert a.category == "generic_equity"
    assert a == profile_for("NOTATICKER")
    assert a != profile_for("OTHERTICKER")


# --- generator ----------------------------------------------------------------------------


def test_determinism_and_seed_sensitivity() -> None:
    a = generate_bars(["SPY", "TQQQ", "ZZZZ"], start=D(2023, 1, 3), end=D(2023, 12, 29))
    b = generate_bars(["SPY", "TQQQ", "ZZZZ"], start=D(2023, 1, 3), end=D(2023, 12, 29))
    pd.testing.assert_frame_equal(a, b)
    c = generate_bars(["SPY", "TQQQ", "ZZZZ"], start=D(2023, 1, 3), end=D(2023, 12, 29), seed=8)
    assert a.shape == c.shape
    assert not np.allclose(a["close"], c["close"])


def test_stable_across_processes() -> None:
    code = (
        "import datetime as dt, hashlib;"
        "from alchemiser_dagster.demo.synth import generate_bars;"
        "df = generate_bars(['SPY', 'BRK/B', 'MARA'], start=dt.date(2024, 1, 2),"
        " end=dt.date(2024, 3, 28));"
        "print(hashlib.sha256(df[['open','high','low','close','volume']]"
        ".to_numpy().tobytes()).hexdigest())"
    )
    local = generate_bars(["SPY", "BRK/B", "MARA"], start=D(2024, 1, 2), end=D(2024, 3, 28))
    expected = hashlib.sha256(
        local[["open", "high", "low", "close", "volume"]].to_numpy().tobytes()
    ).hexdigest()
    root = Path(__file__).resolve().parents[3]
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected


def test_subset_and_range_do_not_change_a_symbols_bars(all_bars: pd.DataFrame) -> None:
    small = generate_bars(["TQQQ", "BIL"], start=D(2024, 6, 3), end=D(2024, 6, 28))
    big = all_bars[
        all_bars["symbol"].isin(["TQQQ", "BIL"])
        & (all_bars["date"] >= D(2024, 6, 3))
        & (all_bars["date"] <= D(2024, 6, 28))
    ].reset_index(drop=True)
    pd.testing.assert_frame_equal(small, big)


def test_one_row_per_symbol_per_session(all_bars: pd.DataFrame) -> None:
    sessions = calendar.nyse_sessions(D(2024, 1, 2), D(2024, 12, 31))
    assert len(all_bars) == len(CORPUS_SYMBOLS) * len(sessions)
    assert set(all_bars["symbol"]) == set(CORPUS_SYMBOLS)
    assert not all_bars.duplicated(["symbol", "date"]).any()
    for _, group in all_bars.groupby("symbol"):
        assert list(group["date"]) == sessions
    dates = set(all_bars["date"])
    assert all(d.weekday() < 5 for d in dates)
    for holiday in (D(2024, 7, 4), D(2024, 12, 25), D(2024, 3, 29), D(2024, 11, 28)):
        assert holiday not in dates


def test_canonical_form_and_ohlc_invariants(all_bars: pd.DataFrame) -> None:
    assert tuple(all_bars.columns) == BAR_COLUMNS
    pd.testing.assert_frame_equal(normalize_bars(all_bars), all_bars)
    o, h, lo, c, v = (all_bars[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    assert (c > 0).all() and (lo > 0).all()
    assert (h >= np.maximum(o, c)).all()
    assert (lo <= np.minimum(o, c)).all()
    assert (v >= 1).all() and (v == np.round(v)).all()
    assert np.isfinite(np.stack([o, h, lo, c, v])).all()


def test_leveraged_funds_track_their_underlying(returns: pd.DataFrame) -> None:
    tqqq, sqqq, qqq = returns["TQQQ"], returns["SQQQ"], returns["QQQ"]
    assert tqqq.corr(qqq) > 0.99
    assert 2.8 <= _slope(tqqq, qqq) <= 3.2
    assert sqqq.corr(qqq) < -0.99
    assert -3.2 <= _slope(sqqq, qqq) <= -2.8


def test_volatility_funds_rise_when_the_market_falls(returns: pd.DataFrame, closes: pd.DataFrame) -> None:
    assert returns["UVXY"].corr(returns["SPY"]) < -0.5
    assert returns["VIXY"].corr(returns["SPY"]) < -0.5
    assert returns["SVXY"].corr(returns["SPY"]) > 0.5
    # contango decay: long-vol funds lose money over the years
    assert closes["VIXY"].iloc[-1] < 0.5 * closes["VIXY"].iloc[0]
    # VIXY 40-day stdev-return (daily %) is sometimes above and sometimes below 5
    stdev = (returns["VIXY"].rolling(40).std() * 100).dropna()
    assert (stdev < 5).mean() > 0.5 and (stdev > 5).any()


def test_spy_200_day_sma_test_flips(closes: pd.DataFrame) -> None:
    spy = closes["SPY"]
    above = (spy > spy.rolling(200).mean()).loc["2019":"2025"]
    flips = int((above != above.shift()).iloc[1:].sum())
    assert flips >= 5
    assert 0.3 < above.mean() < 0.95


def test_tqqq_rsi_reaches_both_extremes(closes: pd.DataFrame) -> None:
    rsi = _rsi(closes["TQQQ"], 10).loc["2019":"2025"]
    assert (rsi > 79).sum() >= 3
    assert (rsi < 31).sum() >= 3


def test_spy_short_term_volatility_varies(returns: pd.DataFrame) -> None:
    stdev = (returns["SPY"].rolling(21).std() * 100).loc["2019":"2025"]
    assert (stdev < 1.0).any() and (stdev > 1.5).any()


def test_fxi_has_big_five_day_moves(closes: pd.DataFrame) -> None:
    five_day = (closes["FXI"] / closes["FXI"].shift(5) - 1).loc["2019":"2025"] * 100
    assert (five_day > 10).any() and (five_day < -10).any()


def test_bil_is_cash_like(returns: pd.DataFrame) -> None:
    bil = returns["BIL"]
    assert bil.std() < 0.0005
    assert bil.min() > -0.002
    assert bil.mean() > 0


def test_stock_bond_correlation_changes_sign(returns: pd.DataFrame) -> None:
    by_year = returns[["TLT", "SPY"]].groupby(returns.index.year).corr()
    corr = by_year.xs("SPY", level=1)["TLT"]
    assert (corr > 0.1).any() and (corr < -0.1).any()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="before the synthetic history"):
        generate_bars(["SPY"], start=D(1999, 12, 31), end=D(2000, 2, 1))
    with pytest.raises(ValueError, match="after end"):
        generate_bars(["SPY"], start=D(2024, 2, 1), end=D(2024, 1, 2))
    with pytest.raises(ValueError, match="seed"):
        generate_bars(["SPY"], start=D(2024, 1, 2), end=D(2024, 2, 1), seed=-1)
    with pytest.raises(TypeError):
        generate_bars("SPY", start=D(2024, 1, 2), end=D(2024, 2, 1))
    empty = generate_bars(["SPY"], start=D(2024, 7, 6), end=D(2024, 7, 7))
    assert empty.empty and tuple(empty.columns) == BAR_COLUMNS


# --- CLI ----------------------------------------------------------------------------------


def test_cli_synth_writes_readable_parquet(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "bars.parquet"
    result = CliRunner().invoke(
        data,
        [
            "synth", "--out", str(out), "--start", "2024-01-02", "--end", "2024-01-31",
            "--seed", "3", "--symbols", "spy, TQQQ,BIL",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    bars = read_bars(out)
    assert sorted(set(bars["symbol"])) == ["BIL", "SPY", "TQQQ"]
    assert len(bars) == 3 * 21
    assert "63 rows" in result.output and "3 symbols" in result.output
    assert "2024-01-02..2024-01-31" in result.output and str(out) in result.output
    expected = generate_bars(["SPY", "TQQQ", "BIL"], D(2024, 1, 2), D(2024, 1, 31), seed=3)
    pd.testing.assert_frame_equal(bars, expected)


@pytest.mark.parametrize(
    "args",
    [
        ["--start", "2024-13-01"],
        ["--end", "yesterday"],
        ["--start", "2024-02-01", "--end", "2024-01-02"],
        ["--start", "1990-01-02", "--end", "2024-01-02"],
        ["--seed", "-4"],
    ],
)
def test_cli_synth_usage_errors(tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "bars.parquet"
    result = CliRunner().invoke(data, ["synth", "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert not out.exists()

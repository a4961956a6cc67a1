"""Reading only the symbols a call needs gives the full read's evaluation and errors."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alchemiser_dagster.domain.errors import MarketDataError, StrategyError
from alchemiser_dagster.domain.marketdata.bars import close_matrix, read_bars
from alchemiser_dagster.domain.marketdata.symbol_bars import read_symbol_bars
from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator, Weights
from alchemiser_dagster.domain.strategy.history import MarketHistory

SHARED = Path(__file__).resolve().parents[4] / "shared" / "strategies"
CORPUS = sorted(SHARED.glob("*.clj")) if SHARED.is_dir() else []
REPO_STRATEGIES = sorted((Path(__file__).resolve().parents[3] / "strategies").glob("*.clj"))
SYMPHONIES = CORPUS or REPO_STRATEGIES


def _outcome(history: MarketHistory, path: Path, sessions: list[dt.date]) -> dict[dt.date, Weights] | str:
    try:
        return SymphonyEvaluator(load_symphony(path), history).evaluate_range(sessions)
    except StrategyError as error:
        return error.render()


def _both(path: Path, symbols: frozenset[str]) -> tuple[MarketHistory, MarketHistory]:
    full = MarketHistory.from_bars(read_bars(path), source=str(path))
    found = read_symbol_bars(path, symbols)
    return full, MarketHistory(*close_matrix(found.bars, sessions=found.sessions))


@pytest.fixture(scope="module")
def uneven_bars(synthetic_bars: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus universe, with one symbol listing late and one symbol removed."""
    symbols = sorted(set(synthetic_bars["symbol"]))
    late, gone = symbols[0], symbols[1]
    first_day = sorted(set(synthetic_bars["date"]))[300]
    keep = (synthetic_bars["symbol"] != gone) & (
        (synthetic_bars["symbol"] != late) | (synthetic_bars["date"] >= first_day)
    )
    path = tmp_path_factory.mktemp("symbol-bars") / "bars.parquet"
    synthetic_bars.loc[keep].to_parquet(path)
    return path


@pytest.mark.parametrize("symphony", SYMPHONIES, ids=lambda p: p.name)
def test_filtered_read_evaluates_like_the_full_read(symphony: Path, uneven_bars: Path) -> None:
    symbols = load_symphony(symphony).symbols
    full, filtered = _both(uneven_bars, symbols)
    assert filtered.sessions == full.sessions
    assert filtered.symbols == full.symbols & symbols
    sessions = full.sessions[-40:]
    assert _outcome(filtered, symphony, sessions) == _outcome(full, symphony, sessions)
    assert _outcome(filtered, symphony, full.sessions[:3]) == _outcome(full, symphony, full.sessions[:3])


def test_a_symbol_missing_from_the_file_fails_as_in_a_full_read(uneven_bars: Path, tmp_path: Path) -> None:
    present = sorted(set(pd.read_parquet(uneven_bars)["symbol"]))
    symphony = tmp_path / "ghost.clj"
    symphony.write_text(
        f'(defsymphony "g" {{}} (weight-equal [(asset "{present[0]}") (asset "NOSUCH")]))', encoding="utf-8"
    )
    full, filtered = _both(uneven_bars, load_symphony(symphony).symbols)
    outcome = _outcome(filtered, symphony, full.sessions[-1:])
    assert isinstance(outcome, str) and "NOSUCH" in outcome
    assert outcome == _outcome(full, symphony, full.sessions[-1:])


def _broken(bars: pd.DataFrame, tmp_path: Path, symbol: str, change: str) -> Path:
    frame = bars.copy()
    rows = np.flatnonzero(frame["symbol"] == symbol)
    row = int(rows[len(rows) // 2])
    if change == "close":
        frame.loc[row, "close"] = -1.0
    elif change == "duplicate":
        frame = pd.concat([frame, frame.iloc[[row]]])
    elif change == "gap":
        frame = frame.drop(index=row)
    elif change == "duplicate-and-gap":  # as many rows as sessions spanned: still both errors
        frame = pd.concat([frame.drop(index=int(rows[-2])), frame.iloc[[row]]])
    elif change == "weekend":
        frame.loc[row, "date"] = dt.date(2021, 1, 2)
    path = tmp_path / f"{change}.parquet"
    frame.to_parquet(path)
    return path


@pytest.mark.parametrize("change", ["close", "duplicate", "gap", "duplicate-and-gap", "weekend"])
@pytest.mark.parametrize("needed", [True, False], ids=["needed-symbol", "other-symbol"])
def test_a_bad_row_fails_with_the_full_reads_error(
    synthetic_bars: pd.DataFrame, tmp_path: Path, change: str, needed: bool
) -> None:
    symbols = sorted(set(synthetic_bars["symbol"]))
    bad, wanted = symbols[2], symbols[2] if needed else symbols[3]
    path = _broken(synthetic_bars, tmp_path, bad, change)
    with pytest.raises(MarketDataError) as full:
        read_bars(path)
    with pytest.raises(MarketDataError) as filtered:
        read_symbol_bars(path, [wanted])
    assert str(filtered.value) == str(full.value)
    assert bad in str(filtered.value)


def test_requested_rows_are_the_full_reads_rows(synthetic_bars_path: Path) -> None:
    full = read_bars(synthetic_bars_path)
    wanted = sorted(set(full["symbol"]))[:3]
    found = read_symbol_bars(synthetic_bars_path, [*wanted, "NOSUCH"])
    expected = full.loc[full["symbol"].isin(wanted)].reset_index(drop=True)
    pd.testing.assert_frame_equal(found.bars, expected)
    assert found.sessions == sorted(set(full["date"]))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MarketDataError, match="bars file not found"):
        read_symbol_bars(tmp_path / "none.parquet", ["SPY"])

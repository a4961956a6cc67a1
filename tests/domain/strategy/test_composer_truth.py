"""Composer's own recorded picks: the engine decides like Composer on all 242 days.

`shared/data/composer-truth/` holds one real symphony (Composer's text, byte-exact),
the days on which Composer's allocation export was logged, and adjusted closes.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory
from tests.conftest import ROOT

TRUTH = ROOT.parent / "shared" / "data" / "composer-truth"


def test_recorded_picks_agree_on_every_day() -> None:
    if not TRUTH.is_dir():
        pytest.fail(f"{TRUTH} is missing")
    picks = pd.read_csv(TRUTH / "composer_picks.csv")
    assert len(picks) == 242
    days = [dt.date.fromisoformat(day) for day in picks["date"]]
    history = MarketHistory.from_bars(pd.read_parquet(TRUTH / "tqqq_ftlt_bars.parquet"), source="truth")
    symphony = load_symphony(TRUTH / "tqqq_ftlt.clj")
    decided = SymphonyEvaluator(symphony, history).evaluate_range(days)
    wrong = [
        (day, ticker, decided[day])
        for day, ticker, weight in zip(days, picks["ticker"], picks["weight"], strict=True)
        if decided[day] != {ticker: float(weight)}
    ]
    assert wrong == []

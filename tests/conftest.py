"""Shared fixtures: the strategy corpus and one generated market-data set per test session."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pytest

from alchemiser_dagster.demo.synth import generate_bars
from alchemiser_dagster.domain.strategy.history import MarketHistory

ROOT = Path(__file__).resolve().parent.parent
# Enough history before the evaluated sessions for the corpus' longest window (600 bars)
# plus return streams of nested filters.
DATA_START = dt.date(2021, 1, 4)
DATA_END = dt.date(2024, 6, 28)


def corpus_dir() -> Path:
    """The shared corpus (with head/) when present, else the example strategies."""
    env = os.environ.get("ALCHEMISER_CORPUS")
    if env:
        return Path(env)
    shared = ROOT.parent / "shared" / "strategies"
    return shared if shared.is_dir() else ROOT / "strategies"


def corpus_files() -> list[Path]:
    base = corpus_dir()
    return sorted(base.glob("*.clj")) + sorted(base.glob("head/*.clj"))


@pytest.fixture(scope="session")
def synthetic_bars() -> pd.DataFrame:
    return generate_bars(start=DATA_START, end=DATA_END, seed=7)


@pytest.fixture(scope="session")
def synthetic_history(synthetic_bars: pd.DataFrame) -> MarketHistory:
    return MarketHistory.from_bars(synthetic_bars, source="synthetic")


@pytest.fixture(scope="session")
def synthetic_bars_path(synthetic_bars: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "bars.parquet"
    synthetic_bars.to_parquet(path)
    return path

"""Every corpus symphony parses and evaluates on 60 sessions of generated data."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory
from tests.conftest import corpus_files

SESSIONS = 60
FILES = corpus_files()


def test_corpus_is_present() -> None:
    assert len(FILES) >= 9, "the strategy corpus was not found"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_symphony_evaluates_with_valid_weights(path: Path, synthetic_history: MarketHistory) -> None:
    symphony = load_symphony(path)
    sessions = synthetic_history.sessions[-SESSIONS:]
    by_session = SymphonyEvaluator(symphony, synthetic_history).evaluate_range(sessions)
    assert list(by_session) == sessions
    for weights in by_session.values():
        assert weights, "empty allocation"
        assert all(w > 0 and math.isfinite(w) for w in weights.values())
        assert math.fsum(weights.values()) == pytest.approx(1.0, abs=1e-9)
        assert set(weights) <= symphony.symbols


def test_traced_evaluation_agrees_with_range_evaluation(synthetic_history: MarketHistory) -> None:
    # The traced path bypasses the memo; both paths must give the same weights.
    path = next(p for p in FILES if p.name == "7-Phoenix.clj")
    symphony = load_symphony(path)
    sessions = synthetic_history.sessions[-5:]
    ranged = SymphonyEvaluator(symphony, synthetic_history).evaluate_range(sessions)
    for session in sessions:
        traced = SymphonyEvaluator(symphony, synthetic_history).evaluate(session, trace=True)
        assert traced.weights == pytest.approx(ranged[session], abs=1e-12)
        assert traced.trace


def test_generated_data_makes_strategies_change_their_minds(synthetic_history: MarketHistory) -> None:
    # Synthetic data that never flips a branch would test nothing: the simple TQQQ
    # strategy must hold several different portfolios over the last 60 sessions.
    path = next(p for p in FILES if p.name == "6-TQQQ-FLT.clj")
    sessions = synthetic_history.sessions[-SESSIONS:]
    by_session = SymphonyEvaluator(load_symphony(path), synthetic_history).evaluate_range(sessions)
    holdings = Counter(tuple(sorted(w)) for w in by_session.values())
    assert len(holdings) >= 2, holdings

"""The evaluator against the spec's worked examples (§7), its trace (§6) and errors (§5)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from alchemiser_dagster.domain.errors import (
    InsufficientHistory,
    MissingBar,
    StrategyDataError,
    UnknownSymbol,
    ZeroVolatility,
)
from alchemiser_dagster.domain.strategy.compiler import parse_symphony
from alchemiser_dagster.domain.strategy.evaluator import SymphonyEvaluator
from alchemiser_dagster.domain.strategy.history import MarketHistory
from alchemiser_dagster.domain.strategy.trace import FilterTrace, IfTrace, InverseVolatilityTrace

DATES = [dt.date(2024, 1, d) for d in (2, 3, 4, 5, 8)]
D = dt.date(2024, 1, 8)
CLOSES = {
    "AAA": [10, 11, 10.5, 11.5, 12],
    "BBB": [20, 19, 19.5, 20.5, 20],
    "CCC": [5, 5.2, 5.0, 5.3, 5.55],
    "DDD": [50, 50.5, 50.25, 50.5, 50.75],
}


def bars(closes: dict[str, list[float]] = CLOSES, dates: list[dt.date] = DATES) -> pd.DataFrame:
    rows = [
        {"symbol": s, "date": d, "open": c, "high": c, "low": c, "close": c, "volume": 1000.0}
        for s, series in closes.items()
        for d, c in zip(dates, series, strict=True)
    ]
    return pd.DataFrame(rows)


def evaluate(text: str, session: dt.date = D, frame: pd.DataFrame | None = None, trace: bool = True):  # type: ignore[no-untyped-def]
    history = MarketHistory.from_bars(bars() if frame is None else frame)
    return SymphonyEvaluator(parse_symphony(text, source="ex.clj"), history).evaluate(session, trace=trace)


EX1 = (
    '(defsymphony "ex1" {} (weight-equal [(if (> (rsi "AAA" {:window 3}) 50) [(asset "AAA")]'
    ' [(asset "BBB")]) (weight-specified 0.6 (asset "AAA") 0.4 (asset "CCC"))]))'
)
EX2 = (
    '(defsymphony "ex2" {} (weight-specified 0.5 (filter (cumulative-return {:window 2})'
    ' (select-top 2) [(asset "AAA") (asset "BBB") (asset "CCC")]) 0.5'
    ' (weight-inverse-volatility 3 [(asset "AAA") (asset "DDD")])))'
)
EX3 = (
    '(defsymphony "ex3" {} (weight-equal [(filter (moving-average-return {:window 2})'
    ' (select-top 1) [(group "G1" [(if (> (current-price "AAA") (moving-average-price "AAA"'
    ' {:window 2})) [(asset "AAA")] [(asset "BBB")])]) (asset "CCC")]) (asset "DDD")]))'
)


def test_example_1_if_and_weight_specified() -> None:
    result = evaluate(EX1)
    assert result.weights == pytest.approx({"AAA": 0.8, "CCC": 0.2}, abs=1e-12)
    (entry,) = result.trace
    assert isinstance(entry, IfTrace)
    assert entry.node == "ex.clj:1:38"
    assert entry.lhs.expr == '(rsi "AAA" {:window 3})'
    assert round(entry.lhs.value, 4) == 86.8132
    assert entry.lhs.last_bar_date == D
    assert entry.rhs.value == 50 and entry.result is True and entry.branch == "then"


def test_example_2_filter_and_inverse_volatility() -> None:
    result = evaluate(EX2)
    assert result.weights == pytest.approx({"AAA": 0.2872216348, "CCC": 0.25, "DDD": 0.4627783652}, abs=1e-9)
    ranking, volatility = result.trace
    assert isinstance(ranking, FilterTrace) and isinstance(volatility, InverseVolatilityTrace)
    scores = {c.label: round(c.score, 4) for c in ranking.candidates}
    assert scores == {"AAA": 14.2857, "BBB": 2.5641, "CCC": 11.0}
    assert [(c.label, c.rank, c.selected) for c in ranking.candidates] == [
        ("AAA", 1, True),
        ("BBB", 3, False),
        ("CCC", 2, True),
    ]
    shares = {c.label: (round(c.sigma, 6), round(c.share, 6)) for c in volatility.children}
    assert shares == {"AAA": (5.810196, 0.074443), "DDD": (0.467319, 0.925557)}


def test_example_3_group_scored_on_its_return_stream() -> None:
    result = evaluate(EX3)
    assert result.weights == pytest.approx({"CCC": 0.5, "DDD": 0.5}, abs=1e-12)
    ranking = next(e for e in result.trace if isinstance(e, FilterTrace))
    group, ccc = ranking.candidates
    assert group.label == "G1" and round(group.score, 4) == 4.7380
    assert group.stream_returns is not None
    assert [round(r * 100, 4) for r in group.stream_returns] == [5.1282, 4.3478]
    assert round(ccc.score, 4) == 5.3585 and ccc.selected and not group.selected


def test_range_evaluation_equals_single_sessions() -> None:
    history = MarketHistory.from_bars(bars())
    symphony = parse_symphony(EX3, source="ex.clj")
    sessions = DATES[3:]
    ranged = SymphonyEvaluator(symphony, history).evaluate_range(sessions)
    for session in sessions:
        single = SymphonyEvaluator(symphony, history).evaluate(session).weights
        assert ranged[session] == pytest.approx(single, abs=1e-15)


def test_ties_keep_document_order() -> None:
    flat = {"AAA": [10.0] * 5, "BBB": [10.0] * 5, "CCC": [10.0] * 5}
    text = '(defsymphony "t" {} (filter (cumulative-return {:window 2}) (select-top 2) [(asset "CCC") (asset "AAA") (asset "BBB")]))'
    assert evaluate(text, frame=bars(flat)).weights == {"AAA": 0.5, "CCC": 0.5}
    bottom = text.replace("select-top", "select-bottom")
    assert evaluate(bottom, frame=bars(flat)).weights == {"AAA": 0.5, "CCC": 0.5}


def test_select_more_than_candidates_takes_all() -> None:
    text = '(defsymphony "t" {} (filter (rsi {:window 2}) (select-bottom 5) [(asset "AAA") (asset "BBB")]))'
    assert evaluate(text).weights == {"AAA": 0.5, "BBB": 0.5}


def test_untaken_branch_with_missing_data_does_not_fail() -> None:
    text = '(defsymphony "t" {} (if (> 2 1) [(asset "AAA")] [(if (> (rsi "ZZZ" {:window 3}) 1) [(asset "A")] [(asset "B")])]))'
    assert evaluate(text).weights == {"AAA": 1.0}


def _data_error(text: str, frame: pd.DataFrame | None = None, session: dt.date = D) -> StrategyDataError:
    with pytest.raises(StrategyDataError) as info:
        evaluate(text, session=session, frame=frame)
    return info.value


def test_unknown_symbol_names_file_symbol_and_session() -> None:
    error = _data_error(
        '(defsymphony "t" {}\n (if (> (rsi "ZZZ" {:window 3}) 1) [(asset "A")] [(asset "B")]))'
    )
    assert isinstance(error, UnknownSymbol)
    assert (error.line, error.column, error.symbol, error.session) == (2, 9, "ZZZ", D)
    assert error.render().startswith("ex.clj:2:9: UnknownSymbol: ")


def test_insufficient_history_is_an_error_not_a_neutral_value() -> None:
    error = _data_error(
        '(defsymphony "t" {} (if (> (rsi "AAA" {:window 10}) 50) [(asset "A")] [(asset "B")]))'
    )
    assert isinstance(error, InsufficientHistory)
    assert (error.symbol, error.indicator, error.window, error.session) == ("AAA", "rsi", 10, D)
    assert "needs 11 bars, 5 available" in error.message


def test_missing_bar_on_the_session() -> None:
    frame = bars()
    frame = frame[~((frame.symbol == "BBB") & (frame.date == D))]
    error = _data_error(
        '(defsymphony "t" {} (filter (current-price) (select-top 1) [(asset "AAA") (asset "BBB")]))', frame
    )
    assert isinstance(error, MissingBar)
    assert (error.symbol, error.session) == ("BBB", D)


def test_short_return_stream() -> None:
    text = EX3.replace("moving-average-return {:window 2}", "moving-average-return {:window 4}")
    error = _data_error(text)
    assert isinstance(error, InsufficientHistory)
    assert error.session is not None


def test_zero_volatility() -> None:
    flat = dict(CLOSES, DDD=[50.0] * 5)
    text = '(defsymphony "t" {} (weight-inverse-volatility 3 [(asset "AAA") (asset "DDD")]))'
    error = _data_error(text, bars(flat))
    assert isinstance(error, ZeroVolatility)


def test_inverse_volatility_over_a_group_uses_its_stream() -> None:
    text = (
        '(defsymphony "t" {} (weight-inverse-volatility 2 [(group "g" [(weight-equal [(asset "AAA") (asset "BBB")])])'
        ' (asset "DDD")]))'
    )
    result = evaluate(text)
    entry = result.trace[0]
    assert isinstance(entry, InverseVolatilityTrace)
    # The group's stream: equal AAA/BBB held from the day before, two returns.
    r1 = 0.5 * (11.5 / 10.5 - 1) + 0.5 * (20.5 / 19.5 - 1)
    r2 = 0.5 * (12 / 11.5 - 1) + 0.5 * (20 / 20.5 - 1)
    mean = (r1 + r2) / 2
    sigma_group = (((r1 - mean) ** 2 + (r2 - mean) ** 2) / 2) ** 0.5 * 100
    assert entry.children[0].sigma == pytest.approx(sigma_group, rel=1e-12)
    assert sum(result.weights.values()) == pytest.approx(1.0, abs=1e-12)


def test_symphony_options_are_kept_in_the_result() -> None:
    text = '(defsymphony "t" {:rebalance-threshold 0.1, :rebalance-frequency :daily} (asset "AAA"))'
    assert evaluate(text).options == {"rebalance-threshold": 0.1, "rebalance-frequency": "daily"}


def test_inverse_volatility_over_a_switching_group_uses_the_stream_not_holdings() -> None:
    # G holds AAA when AAA closes above its 2-bar average, else BBB (Ex3's rule).
    text = (
        '(defsymphony "t" {} (weight-inverse-volatility 3 [(group "G" [(if (> (current-price "AAA")'
        ' (moving-average-price "AAA" {:window 2})) [(asset "AAA")] [(asset "BBB")])]) (asset "DDD")]))'
    )
    closes = {
        "AAA": [10, 11, 10.5, 11.5, 12, 11.8, 12.4],
        "BBB": [20, 19, 19.5, 20.5, 20, 20.6, 20.2],
        "DDD": [50, 50.5, 50.25, 50.5, 50.75, 50.5, 50.9],
    }
    dates = [dt.date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9, 10)]
    result = evaluate(text, session=dates[-1], frame=bars(closes, dates))
    entry = result.trace[0]
    assert isinstance(entry, InverseVolatilityTrace)
    # Holdings: 01-05 AAA (11.5 > 11), 01-08 AAA (12 > 11.75), 01-09 BBB (11.8 < 11.9).
    # Each earns the next session's return: AAA 12/11.5, AAA 11.8/12, BBB 20.2/20.6.
    aaa, bbb = closes["AAA"], closes["BBB"]
    returns = [aaa[4] / aaa[3] - 1, aaa[5] / aaa[4] - 1, bbb[6] / bbb[5] - 1]
    mean = sum(returns) / 3
    sigma = (sum((r - mean) ** 2 for r in returns) / 3) ** 0.5 * 100
    assert entry.children[0].sigma == pytest.approx(sigma, rel=1e-12)
    # Scoring by today's holding (AAA's own sigma) would give another number.
    own = [aaa[k] / aaa[k - 1] - 1 for k in (4, 5, 6)]
    own_mean = sum(own) / 3
    own_sigma = (sum((r - own_mean) ** 2 for r in own) / 3) ** 0.5 * 100
    assert abs(own_sigma - sigma) > 0.1


def test_group_stream_needs_window_earlier_sessions() -> None:
    # D is the 5th session (index 4): a window of 4 needs sessions 0..4 -> ok;
    # a window of 5 would need a 6th session -> InsufficientHistory, not a look-ahead.
    base = '(defsymphony "t" {{}} (filter (moving-average-return {{:window {n}}}) (select-top 1) [(group "G" [(asset "AAA")]) (asset "BBB")]))'
    assert evaluate(base.format(n=4)).weights in ({"AAA": 1.0}, {"BBB": 1.0})
    error = _data_error(base.format(n=5))
    assert isinstance(error, InsufficientHistory)
    assert "return stream" in error.message


def test_allocated_asset_without_bars_is_an_error() -> None:
    error = _data_error('(defsymphony "t" {} (asset "ZZZ"))')
    assert isinstance(error, UnknownSymbol) and error.symbol == "ZZZ"
    frame = bars()
    frame = frame[~((frame.symbol == "CCC") & (frame.date == D))]
    missing = _data_error('(defsymphony "t" {} (weight-equal [(asset "AAA") (asset "CCC")]))', frame)
    assert isinstance(missing, MissingBar) and missing.symbol == "CCC"

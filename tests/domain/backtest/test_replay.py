"""The replay's own rules, on series small enough to check by hand."""

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from alchemiser_dagster.domain.backtest.replay import replay_settings, replay_weights
from alchemiser_dagster.domain.errors import MarketDataError

DAYS = [dt.date(2024, 6, d) for d in (24, 25, 26, 27, 28)]
A = [10.0, 11.0, 12.1, 11.0, 12.0]
B = [20.0, 20.0, 22.0, 22.0, 24.0]


def bars() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"symbol": s, "date": d, "open": c, "high": c, "low": c, "close": c, "volume": 1.0}
            for s, series in (("A", A), ("B", B))
            for d, c in zip(DAYS, series, strict=True)
        ]
    )


def test_weights_earn_the_next_session_and_a_missing_row_holds_the_book() -> None:
    history = {DAYS[0]: {"A": 0.5}, DAYS[2]: {"B": 1.0}}  # half cash on day 0; no row on day 1
    result = replay_weights(history, bars(), end=DAYS[4], settings=replay_settings(slippage_bps=Decimal(0)))
    value = [float(v) for v in result.equity["equity"]]
    assert value[0] == pytest.approx(100000.0)
    assert value[1] == pytest.approx(50000 + 50000 * 1.1, abs=0.01)  # day 0's weights earn day 0 -> 1
    assert list(result.equity["orders"]) == [1, 0, 2, 0, 0]  # day 1: no row, no trade
    assert value[2] == pytest.approx(50000 + 55000 * 1.1, abs=0.01)  # A held, drifted, on day 1 -> 2
    assert value[4] == pytest.approx(value[2] * 24 / 22, abs=0.01)  # B from day 2 on, held to the end


def test_slippage_is_paid_on_each_side() -> None:
    history = {DAYS[0]: {"A": 1.0}, DAYS[1]: {"B": 1.0}}
    result = replay_weights(history, bars(), end=DAYS[1], settings=replay_settings(slippage_bps=Decimal(10)))
    value = [float(v) for v in result.equity["equity"]]
    assert value[0] == pytest.approx(100000 / 1.001, abs=0.01)
    assert value[1] == pytest.approx(value[0] * 1.1 * 0.999 / 1.001, abs=0.02)


def test_a_decision_off_the_bars_is_an_error() -> None:
    with pytest.raises(MarketDataError, match="weights dated 2024-06-29"):
        replay_weights({DAYS[0]: {"A": 1.0}, dt.date(2024, 6, 29): {"A": 1.0}}, bars())

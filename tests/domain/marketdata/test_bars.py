from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alchemiser_dagster.domain.errors import MarketDataError
from alchemiser_dagster.domain.marketdata.bars import (
    BAR_COLUMNS,
    close_matrix,
    normalize_bars,
    read_bars,
    write_bars,
)

D = dt.date


def make_bars(**overrides: object) -> pd.DataFrame:
    base: dict[str, object] = {
        "symbol": ["SPY", "SPY", "QQQ", "QQQ"],
        "date": ["2024-01-03", "2024-01-02", "2024-01-02", "2024-01-03"],
        "open": [470.0, 472.0, 400.0, 401.0],
        "high": [473.0, 474.0, 405.0, 404.0],
        "low": [468.0, 470.0, 399.0, 398.0],
        "close": [471.0, 473.0, 402.0, 403.0],
        "volume": [1e6, 2e6, 3e6, 4e6],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_normalize_sorts_types_and_resets_index() -> None:
    out = normalize_bars(make_bars().set_index(pd.Index([10, 11, 12, 13])))
    assert tuple(out.columns) == BAR_COLUMNS
    assert list(out.index) == [0, 1, 2, 3]
    assert list(out["symbol"]) == ["QQQ", "QQQ", "SPY", "SPY"]
    assert list(out["date"]) == [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 2), D(2024, 1, 3)]
    assert out["date"].dtype == object
    assert all(type(d) is dt.date for d in out["date"])
    for col in ("open", "high", "low", "close", "volume"):
        assert out[col].dtype == np.float64
    assert pd.api.types.is_string_dtype(out["symbol"])
    assert out.loc[2, "close"] == 473.0  # values travel with their rows


def test_normalize_accepts_int_columns_and_drops_extra_columns() -> None:
    df = make_bars(volume=[1, 2, 3, 4], vwap=[1.0, 2.0, 3.0, 4.0])
    out = normalize_bars(df)
    assert tuple(out.columns) == BAR_COLUMNS
    assert out["volume"].dtype == np.float64


@pytest.mark.parametrize(
    "dates",
    [
        # python dates
        [D(2024, 1, 3), D(2024, 1, 2), D(2024, 1, 2), D(2024, 1, 3)],
        # naive pandas timestamps (datetime64 column), with a time of day
        pd.to_datetime(["2024-01-03", "2024-01-02 16:00", "2024-01-02", "2024-01-03"], format="ISO8601"),
        # tz-aware timestamps (Alpaca-style midnight New York)
        pd.to_datetime(["2024-01-03", "2024-01-02", "2024-01-02", "2024-01-03"]).tz_localize(
            "America/New_York"
        ),
        # ISO strings
        ["2024-01-03", "2024-01-02", "2024-01-02", "2024-01-03"],
        # object column mixing python dates and Timestamps
        pd.Series(
            [D(2024, 1, 3), pd.Timestamp("2024-01-02"), "2024-01-02", D(2024, 1, 3)],
            dtype=object,
        ),
    ],
    ids=["date", "naive-ts", "tz-aware-ts", "str", "mixed-object"],
)
def test_date_normalization_forms(dates: object) -> None:
    out = normalize_bars(make_bars(date=dates))
    assert list(out["date"]) == [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 2), D(2024, 1, 3)]
    assert all(type(d) is dt.date for d in out["date"])


def test_missing_columns_named_with_source() -> None:
    df = make_bars().drop(columns=["close", "volume"])
    with pytest.raises(MarketDataError, match=r"src\.parquet.*close, volume"):
        normalize_bars(df, source="src.parquet")


def test_duplicate_rows_rejected() -> None:
    df = make_bars(date=["2024-01-02", "2024-01-02", "2024-01-02", "2024-01-03"])
    with pytest.raises(MarketDataError) as info:
        normalize_bars(df, source="feed")
    msg = str(info.value)
    assert "feed" in msg and "duplicate" in msg
    assert "SPY" in msg and "2024-01-02" in msg and "2 rows" in msg


@pytest.mark.parametrize("bad", [np.nan, 0.0, -1.0, np.inf])
def test_bad_close_rejected(bad: float) -> None:
    df = make_bars(close=[471.0, 473.0, 402.0, bad])
    with pytest.raises(MarketDataError) as info:
        normalize_bars(df, source="feed")
    msg = str(info.value)
    assert "close" in msg and "QQQ" in msg and "2024-01-03" in msg and "1 row " in msg
    assert "feed" in msg


def test_bad_close_reports_first_row_in_symbol_date_order_and_count() -> None:
    df = make_bars(close=[np.nan, 0.0, 402.0, -5.0])
    with pytest.raises(MarketDataError) as info:
        normalize_bars(df)
    msg = str(info.value)
    # rows in (symbol, date) order: QQQ 01-02, QQQ 01-03 (bad), SPY 01-02 (bad), SPY 01-03 (bad)
    assert "QQQ on 2024-01-03" in msg and "3 rows" in msg and "<frame>" in msg


@pytest.mark.parametrize("column", ["open", "high", "low"])
def test_nan_in_other_price_columns_rejected(column: str) -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    values[0] = np.nan  # SPY 2024-01-03
    df = make_bars(**{column: values})
    with pytest.raises(MarketDataError) as info:
        normalize_bars(df, source="x.parquet")
    msg = str(info.value)
    assert column in msg and "SPY" in msg and "2024-01-03" in msg and "1 row " in msg


def test_nan_volume_and_non_numeric_rejected() -> None:
    with pytest.raises(MarketDataError, match=r"volume for symbol QQQ on 2024-01-02"):
        normalize_bars(make_bars(volume=[1.0, 1.0, np.nan, 1.0]))
    with pytest.raises(MarketDataError, match=r"non-numeric open for symbol SPY on 2024-01-02"):
        normalize_bars(make_bars(open=[1.0, "abc", 1.0, 1.0]))


def test_unparseable_and_missing_dates_rejected() -> None:
    with pytest.raises(MarketDataError, match=r"unparseable date for symbol QQQ on 'soon'"):
        normalize_bars(make_bars(date=["2024-01-03", "2024-01-02", "soon", "2024-01-03"]))
    with pytest.raises(MarketDataError, match=r"missing date for symbol SPY"):
        normalize_bars(make_bars(date=[None, "2024-01-02", "2024-01-02", "2024-01-03"]))


def test_bad_rows_are_never_dropped() -> None:
    df = make_bars(close=[471.0, 473.0, 402.0, np.nan])
    with pytest.raises(MarketDataError):
        normalize_bars(df)
    assert len(df) == 4  # input untouched


def test_write_read_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "bars.parquet"
    write_bars(make_bars(), path)
    back = read_bars(path)
    pd.testing.assert_frame_equal(back, normalize_bars(make_bars()))
    assert all(type(d) is dt.date for d in back["date"])


def test_read_missing_or_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.parquet"
    with pytest.raises(MarketDataError, match=r"nope\.parquet"):
        read_bars(missing)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"this is not parquet")
    with pytest.raises(MarketDataError, match=r"garbage\.parquet"):
        read_bars(garbage)


def test_read_validates_contents(tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    make_bars(date=["2024-01-02"] * 4).to_parquet(path)
    with pytest.raises(MarketDataError, match=r"dup\.parquet.*duplicate"):
        read_bars(path)


def test_write_refuses_invalid_bars(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    with pytest.raises(MarketDataError):
        write_bars(make_bars(close=[1.0, 1.0, 1.0, 0.0]), path)
    assert not path.exists()


def test_close_matrix_shape_and_nan_placement() -> None:
    df = normalize_bars(
        pd.DataFrame(
            {
                "symbol": ["SPY", "SPY", "SPY", "BIL", "BIL", "ZZZ"],
                "date": [
                    "2024-01-02", "2024-01-03", "2024-01-04",
                    "2024-01-02", "2024-01-03",
                    "2024-01-05",
                ],
                "open": 1.0, "high": 100.0, "low": 1.0,
                "close": [10.0, 11.0, 12.0, 91.0, 92.0, 5.0],
                "volume": 1.0,
            }
        )
    )  # fmt: skip
    sessions, symbols, matrix = close_matrix(df)
    assert sessions == [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5)]
    assert symbols == ["BIL", "SPY", "ZZZ"]
    assert matrix.shape == (4, 3) and matrix.dtype == np.float64
    expected = np.array(
        [
            [91.0, 10.0, np.nan],
            [92.0, 11.0, np.nan],
            [np.nan, 12.0, np.nan],
            [np.nan, np.nan, 5.0],
        ]
    )
    np.testing.assert_array_equal(matrix, expected)


def test_close_matrix_rejects_duplicates() -> None:
    df = make_bars(date=["2024-01-02"] * 4)
    with pytest.raises(MarketDataError, match="duplicate"):
        close_matrix(df)


def test_object_column_of_timestamps_in_mixed_zones_keeps_each_wall_date() -> None:
    dates = pd.Series(
        [
            pd.Timestamp("2024-01-03 09:30", tz="America/New_York"),
            pd.Timestamp("2024-01-02 23:00", tz="UTC"),
            pd.Timestamp("2024-01-02 00:00", tz="America/New_York"),
            dt.datetime(2024, 1, 3, 16, 0),
        ],
        dtype=object,
    )
    out = normalize_bars(make_bars(date=dates))
    assert list(out["date"]) == [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 2), D(2024, 1, 3)]


# --- the calendar and price order -------------------------------------------------------


def test_a_weekend_date_is_not_a_session() -> None:
    df = make_bars(date=["2024-01-03", "2024-01-02", "2024-01-06", "2024-01-03"])  # Sat 6 Jan
    with pytest.raises(
        MarketDataError,
        match=r"^feed: date that is not an NYSE session \(a weekend or an exchange holiday\) for symbol QQQ on 2024-01-06",
    ):
        normalize_bars(df, source="feed")


def test_an_exchange_holiday_is_not_a_session() -> None:
    df = make_bars(date=["2024-07-03", "2024-07-04", "2024-07-03", "2024-07-05"])
    with pytest.raises(MarketDataError, match=r"not an NYSE session .* for symbol SPY on 2024-07-04"):
        normalize_bars(df, source="feed")


def test_a_date_past_the_calendar_is_an_error_naming_it() -> None:
    from alchemiser_dagster.domain.calendar import calendar_bounds

    _, last = calendar_bounds()
    df = make_bars(date=["2024-01-03", "2024-01-02", "2031-03-03", "2024-01-03"])
    with pytest.raises(
        MarketDataError,
        match=rf"feed: date outside the NYSE calendar's range 2000-01-01\.\.{last} .* for symbol QQQ on 2031-03-03",
    ):
        normalize_bars(df, source="feed")


def test_a_missing_session_between_first_and_last_bar_is_named() -> None:
    df = pd.DataFrame(
        {
            "symbol": ["SPY", "SPY", "SPY", "BIL", "BIL"],
            "date": ["2024-01-02", "2024-01-31", "2024-02-01", "2024-01-02", "2024-01-03"],
            "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0,
        }
    )  # fmt: skip
    with pytest.raises(MarketDataError) as error:
        normalize_bars(df, source="feed")
    assert str(error.value) == (
        "feed: SPY lacks 19 session(s) after its first bar 2024-01-02: "
        "2024-01-03, 2024-01-04, 2024-01-05, 2024-01-08, 2024-01-09 and 14 more"
    )


def test_symbols_may_start_and_end_on_different_sessions() -> None:
    df = pd.DataFrame(
        {
            "symbol": ["SPY", "SPY", "NEW"],
            "date": ["2024-01-02", "2024-01-03", "2024-01-04"],
            "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0,
        }
    )  # fmt: skip
    assert len(normalize_bars(df)) == 3


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"high": [473.0, 474.0, 398.0, 404.0], "low": [468.0, 470.0, 399.0, 398.0]}, "high below low"),
        ({"open": [470.0, 472.0, 406.0, 401.0]}, r"open outside \[low, high\]"),
        ({"close": [471.0, 473.0, 402.0, 397.0]}, r"close outside \[low, high\]"),
    ],
)
def test_inconsistent_prices_are_errors(overrides: dict[str, object], problem: str) -> None:
    with pytest.raises(MarketDataError, match=f"^feed: {problem} for symbol QQQ on 2024-01-0"):
        normalize_bars(make_bars(**overrides), source="feed")


def test_float_rounding_at_the_high_is_tolerated() -> None:
    out = normalize_bars(make_bars(close=[471.0, 474.0 * (1 + 1e-12), 402.0, 403.0]))
    assert len(out) == 4


def test_a_bars_file_with_a_saturday_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bars.parquet"
    make_bars(date=["2024-01-03", "2024-01-02", "2024-01-02", "2024-01-06"]).to_parquet(path)
    with pytest.raises(
        MarketDataError, match=rf"^{path}: date that is not an NYSE session .* QQQ on 2024-01-06"
    ):
        read_bars(path)

"""Reading weights histories: Composer's allocation export as exported and as re-saved, and
the plain `date,symbol,weight` CSV; every rejection names the file and the row."""

import datetime as dt
from pathlib import Path

import pytest

from alchemiser_dagster.domain.backtest.composer_export import (
    WeightsFileError,
    read_weights_history,
)

EXPORT = (
    '"Date","Day Traded","UPRO","GLDM","$USD","TECL","TQQQ","SGOV"\n'
    '"2026-05-12","Yes","-","9.2%","-","-","8%","82.8%"\n'
    '"2026-05-11","Yes","-","-","-","8%","-","-"\n'
)
SESSIONS = {dt.date(2026, 5, 8), dt.date(2026, 5, 11), dt.date(2026, 5, 12)}


def write(tmp_path: Path, text: str, *, bom: bool = False, name: str = "alloc.csv") -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def test_an_untouched_export_bom_quotes_newest_first_no_final_newline(tmp_path: Path) -> None:
    text = EXPORT.replace('"-","-"\n', '"-","92%"')  # 2026-05-11: TECL 8 %, SGOV 92 %; no trailing newline
    history = read_weights_history(write(tmp_path, text, bom=True), SESSIONS)
    assert list(history) == [dt.date(2026, 5, 11), dt.date(2026, 5, 12)]
    assert history[dt.date(2026, 5, 11)] == pytest.approx({"TECL": 0.08, "SGOV": 0.92})
    assert history[dt.date(2026, 5, 12)] == pytest.approx({"GLDM": 0.092, "TQQQ": 0.08, "SGOV": 0.828})


def test_usd_is_cash_and_a_row_off_by_rounding_is_rescaled(tmp_path: Path) -> None:
    text = '"Date","Day Traded","SPY","$USD"\n"2026-05-11","Yes","60%","40%"\n"2026-05-12","No","33.3%","66.4%"\n'
    history = read_weights_history(write(tmp_path, text), SESSIONS)
    assert history[dt.date(2026, 5, 11)] == pytest.approx({"SPY": 0.6})  # 40 % stays in cash
    assert history[dt.date(2026, 5, 12)] == pytest.approx({"SPY": 33.3 / 99.7})


def test_a_spreadsheet_resave_is_read(tmp_path: Path) -> None:
    text = "Date,Day Traded,TQQQ,SGOV\n5/12/2026,Yes,-,100%\n5/11/2026,Yes,50%,50%\n"
    history = read_weights_history(write(tmp_path, text), SESSIONS)
    assert history == {dt.date(2026, 5, 11): {"TQQQ": 0.5, "SGOV": 0.5}, dt.date(2026, 5, 12): {"SGOV": 1.0}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '"Date","Day Traded","SPY"\n"2026-05-11","Yes","100%"\n"2026-05-11","Yes","100%"\n',
            ":3: date 2026-05-11 repeats",
        ),
        ('"Date","Day Traded","SPY"\n"2026-05-09","Yes","100%"\n', ":2: 2026-05-09 is not a session"),
        (
            '"Date","Day Traded","SPY","TLT"\n"2026-05-11","Yes","60%","39%"\n',
            ":2 (2026-05-11): cells add up to 99 %",
        ),
        ('"Date","Day Traded","SPY"\n"2026-05-11","Yes","1.0"\n', ":2: SPY cell '1.0' is not a percentage"),
        ('"Date","Day Traded","SPY"\n"11 May","Yes","100%"\n', ":2: date '11 May'"),
        (
            "date,symbol,weight\n2026-05-11,SPY,0.7\n2026-05-11,TLT,0.4\n",
            "weights add up to 1.1, more than 1",
        ),
        (
            "date,symbol,weight\n2026-05-11,SPY,0.5\n2026-05-11,SPY,0.5\n",
            ":3: SPY appears twice on 2026-05-11",
        ),
        ("date,symbol,weight\n2026-05-11,SPY,abc\n", ":2: weight 'abc' is not a number"),
        ("when,what\n2026-05-11,SPY\n", ":1: expected the columns date,symbol,weight"),
    ],
)
def test_bad_files_are_rejected_naming_file_and_row(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(WeightsFileError) as caught:
        read_weights_history(path, SESSIONS)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_plain_csv_round_trips_with_an_all_cash_day(tmp_path: Path) -> None:
    history = {dt.date(2026, 5, 8): {"SPY": 0.25, "TLT": 0.5}, dt.date(2026, 5, 11): {}}
    # an all-cash day keeps one `$USD` row so it is not lost
    text = (
        "date,symbol,weight\n2026-05-08,SPY,0.25\n2026-05-08,TLT,0.5\n2026-05-08,$USD,0.25\n"
        "2026-05-11,$USD,1.0\n"
    )
    assert read_weights_history(write(tmp_path, text), SESSIONS) == history

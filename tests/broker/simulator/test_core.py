"""The deterministic core without HTTP: price path, quotes, fill search, assets."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from alchemiser_dagster.broker.simulator.assets import asset_info
from alchemiser_dagster.broker.simulator.engine import SimEngine
from alchemiser_dagster.broker.simulator.fills import first_fill
from alchemiser_dagster.broker.simulator.prices import PriceBook
from tests.broker.simulator.conftest import ny


@pytest.fixture(scope="module")
def book(sim_bars: pd.DataFrame) -> PriceBook:
    return PriceBook(sim_bars)


def test_price_path_is_linear_from_open_to_close(book: PriceBook) -> None:
    bars = {b.date: b for b in book.bars("SPY")}
    day, prev = bars[dt.date(2024, 7, 1)], bars[dt.date(2024, 6, 28)]
    assert book.price("SPY", ny(2024, 7, 1, 9, 0)) == prev.close  # before the open: previous close
    assert book.price("SPY", ny(2024, 7, 1, 9, 30)) == day.open
    mid = book.price("SPY", ny(2024, 7, 1, 12, 45))  # half of 6.5 hours
    assert mid == ((day.open + day.close) / 2).quantize(Decimal("0.01"))
    assert book.price("SPY", ny(2024, 7, 1, 16, 0)) == day.close
    assert book.price("SPY", ny(2024, 7, 6, 12, 0)) == bars[dt.date(2024, 7, 5)].close  # weekend
    assert book.price("NOSUCH", ny(2024, 7, 1, 12, 0)) is None


def test_quote_spread_and_ticks(book: PriceBook) -> None:
    q = book.quote("SPY", ny(2024, 7, 1, 11, 0))
    assert q is not None
    assert q.bid < q.price < q.ask
    assert q.ask - q.price >= max(q.price * Decimal("0.0002"), Decimal("0.01"))
    assert q.ask == q.ask.quantize(Decimal("0.01")) and q.bid == q.bid.quantize(Decimal("0.01"))


def test_first_fill_finds_the_first_marketable_second(book: PriceBook) -> None:
    day = next(
        b for b in book.bars("SPY") if b.date > dt.date(2024, 7, 1) and b.close < b.open * Decimal("0.99")
    )
    lo = dt.datetime.combine(day.date, dt.time(9, 30), tzinfo=ny(2024, 1, 2).tzinfo)
    hi = lo + dt.timedelta(hours=6, minutes=29)
    target = ((day.open + day.close) / 2).quantize(Decimal("0.01"))
    point = first_fill(book, "SPY", "buy", "limit", target, lo, hi)
    assert point is not None and point.price <= target
    earlier = book.quote("SPY", point.time - dt.timedelta(seconds=1))
    assert earlier is not None and earlier.ask > target
    assert first_fill(book, "SPY", "buy", "limit", Decimal("1.00"), lo, hi) is None
    weekend = first_fill(book, "SPY", "buy", "market", None, ny(2024, 7, 6, 10, 0), ny(2024, 7, 7, 10, 0))
    assert weekend is None


def test_assets_are_deterministic() -> None:
    spy = asset_info("SPY")
    assert spy == asset_info("SPY")
    assert (spy.exchange, spy.fractionable, spy.tradable) == ("ARCA", True, True)
    assert asset_info("MARA").fractionable is False
    assert asset_info("AAPL").exchange in {"NASDAQ", "NYSE"}


def test_engine_wall_clock_advances_and_persists(tmp_path: Path, sim_bars: pd.DataFrame) -> None:
    start = ny(2024, 6, 28, 10, 0)
    engine = SimEngine(tmp_path, PriceBook(sim_bars), cash=Decimal(1000), now=start)
    assert engine.now() == start  # frozen by default
    engine.set_clock(start, mode="wall")
    time.sleep(0.05)
    assert engine.now() > start
    engine.close()
    resumed = SimEngine(tmp_path, PriceBook(sim_bars), cash=Decimal(5), now=None)
    assert resumed.now() > start and resumed.account()["cash"] == "1000"
    resumed.close()

"""Fixtures: a small deterministic bar set and a running simulator per test, plus the real SDK clients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import MarketOrderRequest

from alchemiser_dagster.broker.simulator.assets import non_fractionable_symbols
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.demo.synth import generate_bars
from alchemiser_dagster.domain.calendar import NEW_YORK

SYMBOLS = ("SPY", "QQQ", "AAPL", "TQQQ", "MARA", "BIL")
#: Friday 2024-06-28, 15:45 New York: the market is open.
OPEN_NOW = dt.datetime(2024, 6, 28, 15, 45, tzinfo=NEW_YORK)


def ny(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)  # type: ignore[misc]


@pytest.fixture(scope="session")
def sim_bars() -> pd.DataFrame:
    return generate_bars(symbols=SYMBOLS, start=dt.date(2024, 1, 2), end=dt.date(2024, 12, 31), seed=7)


@pytest.fixture(scope="session")
def whole_share_symbol() -> str:
    found = non_fractionable_symbols(SYMBOLS)
    assert found, "the test symbols need one non-fractionable asset"
    return found[0]


@pytest.fixture
def sim(tmp_path: Path, sim_bars: pd.DataFrame) -> Iterator[SimulatorServer]:
    with SimulatorServer(tmp_path / "state", bars=sim_bars, now=OPEN_NOW, cash=Decimal("100000")) as server:
        yield server


def clients(server: SimulatorServer) -> tuple[TradingClient, StockHistoricalDataClient]:
    trading = TradingClient(server.api_key, server.secret_key, paper=True, url_override=server.base_url)
    data = StockHistoricalDataClient(server.api_key, server.secret_key, url_override=server.base_url)
    return trading, data


@pytest.fixture
def trading(sim: SimulatorServer) -> TradingClient:
    return clients(sim)[0]


@pytest.fixture
def data(sim: SimulatorServer) -> StockHistoricalDataClient:
    return clients(sim)[1]


def buy_and_fill(trading: TradingClient, symbol: str = "SPY", qty: float = 10) -> Order:
    """Market buy during hours; the next request (the GET) lets the engine fill it."""
    order = trading.submit_order(
        MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    filled = trading.get_order_by_id(order.id)
    assert isinstance(filled, Order)
    assert filled.status == "filled"
    return filled


@pytest.fixture(scope="session")
def sim_bars_path(sim_bars: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("simdata") / "bars.parquet"
    sim_bars.to_parquet(path)
    return path

"""The stand-in's fill models, through the real SDK: spread crossing (default), immediate,
partial, paper-like, never/none and reject; set for all symbols, one symbol or one client id.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import pandas as pd
import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.models import Order
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from alchemiser_dagster.broker.simulator.fills import FILL_MODES, PAPER_PARTIAL_ONE_IN, paper_like_fraction
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from tests.broker.simulator.conftest import OPEN_NOW, clients


def limit_buy(trading: TradingClient, limit: Decimal, coid: str, symbol: str = "SPY") -> Order:
    order = trading.submit_order(
        LimitOrderRequest(
            symbol=symbol,
            qty=2,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            limit_price=float(limit),
            client_order_id=coid,
        )
    )
    assert isinstance(order, Order)
    return order


def market_buy(trading: TradingClient, coid: str, symbol: str = "SPY", qty: int = 10) -> Order:
    order = trading.submit_order(
        MarketOrderRequest(
            symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=coid
        )
    )
    assert isinstance(order, Order)
    return order


def status_of(trading: TradingClient, coid: str) -> Order:
    order = trading.get_order_by_client_id(coid)
    assert isinstance(order, Order)
    return order


def ask_and_bid(sim: SimulatorServer, symbol: str = "SPY") -> tuple[Decimal, Decimal]:
    quote = sim.engine.book.quote(symbol, OPEN_NOW)
    assert quote is not None
    return quote.ask, quote.bid


def test_default_spread_crossing_fills_a_marketable_limit_at_the_ask_and_keeps_a_passive_one_open(
    sim: SimulatorServer, trading: TradingClient
) -> None:
    ask, bid = ask_and_bid(sim)
    limit_buy(trading, ask + 1, "cross")
    limit_buy(trading, bid - 1, "passive")
    crossed, passive = status_of(trading, "cross"), status_of(trading, "passive")
    assert (crossed.status.value, Decimal(str(crossed.filled_avg_price))) == ("filled", ask)
    assert passive.status.value in ("new", "accepted") and Decimal(str(passive.filled_qty)) == 0


def test_immediate_fills_a_passive_limit_at_its_limit_and_a_marketable_one_at_the_quote(
    sim: SimulatorServer, trading: TradingClient
) -> None:
    sim.set_fill_rule("SPY", "immediate")
    ask, bid = ask_and_bid(sim)
    limit_buy(trading, bid - 1, "passive")
    limit_buy(trading, ask + 1, "cross")
    passive, crossed = status_of(trading, "passive"), status_of(trading, "cross")
    assert (passive.status.value, Decimal(str(passive.filled_avg_price))) == ("filled", bid - 1)
    assert (crossed.status.value, Decimal(str(crossed.filled_avg_price))) == ("filled", ask)


def test_never_and_its_alias_none_keep_orders_open(sim: SimulatorServer, trading: TradingClient) -> None:
    sim.set_fill_rule("QQQ", "full")  # the spec's names
    sim.set_fill_rule("TQQQ", "paper-like")
    sim.set_fill_rule("SPY", "none")
    assert sim.engine.fill_rules() == {"QQQ": "spread_crossing", "TQQQ": "paper_like", "SPY": "never"}
    market_buy(trading, "held")
    sim.set_clock(OPEN_NOW + dt.timedelta(minutes=5))
    held = status_of(trading, "held")
    assert held.status.value == "new" and Decimal(str(held.filled_qty)) == 0


def test_reject_rejects_at_the_first_open_instant_and_releases_buying_power(
    sim: SimulatorServer, trading: TradingClient
) -> None:
    buying_power = Decimal(str(trading.get_account().buying_power))  # type: ignore[union-attr]
    sim.set_fill_rule("SPY", "reject")
    market_buy(trading, "refused")
    refused = status_of(trading, "refused")
    assert refused.status.value == "rejected" and refused.failed_at is not None
    assert Decimal(str(refused.filled_qty)) == 0
    assert Decimal(str(trading.get_account().buying_power)) == buying_power  # type: ignore[union-attr]
    assert not trading.get_all_positions()


def test_reject_never_lands_on_an_order_that_already_has_fills(
    sim: SimulatorServer, trading: TradingClient
) -> None:
    sim.set_fill_rule("SPY", "partial", "0.5")
    market_buy(trading, "half", qty=10)
    assert status_of(trading, "half").status.value == "partially_filled"
    sim.set_fill_rule("SPY", "reject")
    sim.set_clock(OPEN_NOW + dt.timedelta(minutes=1))
    half = status_of(trading, "half")
    assert half.status.value == "partially_filled" and Decimal(str(half.filled_qty)) == 5


def test_client_id_rule_beats_symbol_rule_beats_all_symbols(
    sim: SimulatorServer, trading: TradingClient
) -> None:
    sim.set_fill_rule("*", "never")
    sim.set_fill_rule("QQQ", "spread_crossing")
    sim.set_fill_rule(None, "reject", client_order_id="spy-refused")
    market_buy(trading, "spy-held")
    market_buy(trading, "spy-refused")
    market_buy(trading, "qqq-filled", symbol="QQQ")
    assert status_of(trading, "spy-held").status.value == "new"
    assert status_of(trading, "spy-refused").status.value == "rejected"
    assert status_of(trading, "qqq-filled").status.value == "filled"


def test_fill_rules_over_http_and_bad_bodies(sim: SimulatorServer) -> None:
    url = f"{sim.base_url}/_sim/fills"
    ok = requests.post(url, json={"client_order_id": "x-1", "mode": "paper_like"}, timeout=5)
    assert ok.status_code == 200 and ok.json() == {"client_order_id:x-1": "paper_like"}
    both = requests.post(url, json={"symbol": "SPY", "client_order_id": "x", "mode": "never"}, timeout=5)
    unknown = requests.post(url, json={"symbol": "SPY", "mode": "sometimes"}, timeout=5)
    for bad in (both, unknown):
        assert bad.status_code == 422
    assert "spread_crossing" in unknown.json()["message"]


def test_every_mode_is_accepted_and_survives_a_restart(tmp_path: Path, sim_bars: pd.DataFrame) -> None:
    with SimulatorServer(tmp_path / "state", bars=sim_bars, now=OPEN_NOW) as sim:
        for i, mode in enumerate(FILL_MODES):
            sim.set_fill_rule(f"S{i}", mode, "0.5" if mode == "partial" else None)
    with SimulatorServer(tmp_path / "state", bars=sim_bars, now=OPEN_NOW) as again:
        assert again.engine.fill_rules() == {f"S{i}": mode for i, mode in enumerate(FILL_MODES)}


def test_a_state_written_before_the_new_modes_is_migrated_with_its_rules(
    tmp_path: Path, sim_bars: pd.DataFrame
) -> None:
    with SimulatorServer(tmp_path / "state", bars=sim_bars, now=OPEN_NOW) as sim:
        sim.set_fill_rule("SPY", "partial", "0.25")
    db = sqlite3.connect(tmp_path / "state" / "sim.sqlite3")
    db.executescript(
        "DROP TABLE fill_rules; CREATE TABLE fill_rules (symbol TEXT PRIMARY KEY, mode TEXT NOT NULL "
        "CHECK (mode IN ('immediate', 'never', 'partial')), fraction TEXT);"
        "INSERT INTO fill_rules VALUES ('SPY', 'partial', '0.25');"
    )
    db.close()
    with SimulatorServer(tmp_path / "state", bars=sim_bars, now=OPEN_NOW) as again:
        assert again.engine.fill_rule_details() == {"SPY": {"mode": "partial", "fraction": "0.25"}}
        again.set_fill_rule("SPY", "reject")  # the rebuilt CHECK admits the new modes


def test_paper_like_partial_draws_are_about_one_in_ten_and_repeatable() -> None:
    draws = [paper_like_fraction(f"order-{i}", 0) for i in range(5000)]
    partial = [d for d in draws if d is not None]
    assert abs(len(partial) / len(draws) - 1 / PAPER_PARTIAL_ONE_IN) < 0.02
    assert all(Decimal("0.10") <= d <= Decimal("0.90") for d in partial)
    assert draws == [paper_like_fraction(f"order-{i}", 0) for i in range(5000)]


def test_paper_like_fills_partially_when_drawn_then_completes(tmp_path: Path, sim_bars: pd.DataFrame) -> None:
    n = 100  # 0.9 ** 100: no partial draw among them is out of the question
    with SimulatorServer(tmp_path / "state", bars=sim_bars, now=OPEN_NOW, cash=Decimal(10**7)) as sim:
        trading, _ = clients(sim)
        sim.set_fill_rule("*", "paper_like")
        orders = [market_buy(trading, f"paper-{i}", qty=10) for i in range(n)]
        first = [status_of(trading, f"paper-{i}") for i in range(n)]
        expected_partial = {str(o.id) for o in orders if paper_like_fraction(str(o.id), 0) is not None}
        partial = {str(o.id) for o in first if o.status.value == "partially_filled"}
        assert partial == expected_partial and partial
        assert all(o.status.value == "filled" for o in first if str(o.id) not in partial)
        sim.set_clock(OPEN_NOW + dt.timedelta(minutes=30))
        later = [status_of(trading, f"paper-{i}") for i in range(n)]
        # a second partial draw is possible but rare; every order moved on and none over-filled
        for before, after in zip(first, later, strict=True):
            assert Decimal(str(after.filled_qty)) <= 10
            if str(before.id) in partial:
                assert Decimal(str(after.filled_qty)) > Decimal(str(before.filled_qty))

"""Snapshot (fail closed), target allocation (netting, attribution) and the comparison, by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D  # noqa: N817 - reads as money in the hand-computed cases

import pytest

from alchemiser_dagster.domain.errors import BrokerUnavailable, MissingPrice, PortfolioError
from alchemiser_dagster.domain.portfolio.allocation import (
    build_target_allocation,
    compare_allocation,
    to_decimal_weights,
)
from alchemiser_dagster.domain.portfolio.models import AccountSnapshot, ComparisonRow, PlanningSettings
from alchemiser_dagster.domain.portfolio.planner import AssetInput, QuoteInput
from alchemiser_dagster.domain.portfolio.snapshot import planner_input, snapshot_problems, take_snapshot
from tests.domain.execution.fake_broker import (
    OPEN_CLOCK,
    FakeBroker,
    account,
    asset,
    position,
    quote,
    trade,
)

SESSION = dt.date(2024, 6, 28)


def broker(**account_update: object) -> FakeBroker:
    """Holds SPY 10 and TLT 20; quotes for SPY and TLT, a last trade for SPY and QQQ only."""
    fake = FakeBroker(
        account("10000", "3200").model_copy(update=account_update),
        positions=[position("TLT", "20", "90"), position("SPY", "10", "500")],
        assets={s: asset(s, fractionable=s != "TLT") for s in ("SPY", "QQQ", "TLT")},
        quotes={"SPY": quote("SPY", "499.5", "500.5"), "TLT": quote("TLT", "89.9", "90.1")},
        trades={"SPY": trade("SPY", "500.2"), "QQQ": trade("QQQ", "400")},
    )
    fake.add_order("manual-1", "SPY", "buy", "1", status="new")
    fake.add_order("manual-2", "QQQ", "buy", "1", status="filled", price="400")
    return fake


def snapshot(**account_update: object) -> AccountSnapshot:
    return take_snapshot(broker(**account_update), ["SPY", "QQQ"], SESSION)


# --- take_snapshot --------------------------------------------------------------------------


def test_snapshot_reads_everything_for_targets_and_held_symbols() -> None:
    fake = broker()
    snap = take_snapshot(fake, ["SPY", "QQQ"], SESSION)
    wanted = ("QQQ", "SPY", "TLT")  # TLT is held but not a target
    assert fake.called("get_asset") == list(wanted)
    assert fake.called("get_latest_quotes") == [wanted]
    assert fake.called("get_latest_trades") == [wanted]
    assert fake.called("get_orders") == ["open"]
    assert snap.session == SESSION and snap.taken_at == OPEN_CLOCK.timestamp
    assert snap.account.equity == D("10000") and snap.account.cash == D("3200")
    assert [p.symbol for p in snap.positions] == ["SPY", "TLT"]  # sorted
    assert [o.client_order_id for o in snap.open_orders] == ["manual-1"]
    assert sorted(snap.assets) == list(wanted)
    assert sorted(snap.quotes) == ["SPY", "TLT"] and sorted(snap.trades) == ["QQQ", "SPY"]
    assert snap.held_qty() == {"SPY": D("10"), "TLT": D("20")}


@pytest.mark.parametrize(
    "method",
    ["get_clock", "get_account", "get_positions", "get_orders", "get_asset", "get_latest_quotes",
     "get_latest_trades"],
)  # fmt: skip
def test_a_failed_broker_read_propagates(method: str) -> None:
    fake = broker()
    fake.unavailable.add(method)
    with pytest.raises(BrokerUnavailable, match=method):
        take_snapshot(fake, ["SPY"], SESSION)


# --- snapshot_problems ----------------------------------------------------------------------


def test_a_sane_snapshot_has_no_problems() -> None:
    assert snapshot_problems(snapshot()) == []


@pytest.mark.parametrize(
    ("update", "problem"),
    [
        ({"equity": D("0")}, "equity is 0, not positive"),
        ({"equity": D("-5")}, "equity is -5, not positive"),
        ({"status": "ACCOUNT_CLOSED"}, "account status is ACCOUNT_CLOSED"),
        ({"account_blocked": True}, "account is blocked"),
        ({"trading_blocked": True}, "trading is blocked"),
    ],
)
def test_each_account_problem_is_reported(update: dict[str, object], problem: str) -> None:
    assert snapshot_problems(snapshot(**update)) == [problem]


def test_a_short_position_is_reported() -> None:
    snap = snapshot()
    snap = snap.model_copy(update={"positions": (*snap.positions, position("XYZ", "-3", "10"))})
    assert snapshot_problems(snap) == ["unexpected short positions: XYZ"]


@pytest.mark.parametrize(
    ("equity", "problem"),
    [
        ("10000", None),
        ("10049.99", None),  # 0.5% of equity: two reads a moment apart
        ("9950.50", None),
        ("10051", "equity 10051 is not cash 3200 + positions' market value 6800 = 10000 (off by 51"),
        ("13200", "= 10000 (off by 3200"),  # a position the account counts but the list lacks
        ("3200", "= 10000 (off by 6800"),  # a stale account read
    ],
)
def test_equity_must_be_cash_plus_positions(equity: str, problem: str | None) -> None:
    problems = snapshot_problems(snapshot(equity=D(equity)))
    if problem is None:
        assert problems == []
    else:
        [found] = problems
        assert (
            found.startswith(f"equity {equity} is not cash 3200")
            and problem in found
            and "tolerance" in found
        )


def test_a_small_account_has_a_one_dollar_tolerance() -> None:
    held = {"positions": [position("SPY", "1", "60")], "assets": {"SPY": asset("SPY")}}
    fake = FakeBroker(account("100.99", "40"), **held)  # type: ignore[arg-type]
    assert snapshot_problems(take_snapshot(fake, [], SESSION)) == []
    fake = FakeBroker(account("101.01", "40"), **held)  # type: ignore[arg-type]
    assert snapshot_problems(take_snapshot(fake, [], SESSION))[0].startswith("equity 101.01 is not cash 40")


def test_all_problems_are_reported_together() -> None:
    snap = snapshot(equity=D("0"), status="INACTIVE", account_blocked=True, trading_blocked=True)
    assert len(snapshot_problems(snap)) == 4


# --- planner_input --------------------------------------------------------------------------


def test_planner_input_maps_quotes_trades_and_assets() -> None:
    inputs = planner_input(snapshot())
    assert (inputs.equity, inputs.cash, inputs.buying_power) == (D("10000"), D("3200"), D("3200"))
    assert inputs.positions == {"SPY": D("10"), "TLT": D("20")}
    assert inputs.quotes == {
        "QQQ": QuoteInput(bid=None, ask=None, last=D("400")),  # no quote: bid/ask None
        "SPY": QuoteInput(bid=D("499.5"), ask=D("500.5"), last=D("500.2")),
        "TLT": QuoteInput(bid=D("89.9"), ask=D("90.1"), last=None),  # no trade: last None
    }
    assert inputs.assets == {
        "QQQ": AssetInput(tradable=True, fractionable=True),
        "SPY": AssetInput(tradable=True, fractionable=True),
        "TLT": AssetInput(tradable=True, fractionable=False),
    }


# --- build_target_allocation ----------------------------------------------------------------


def test_strategies_are_netted_with_attribution() -> None:
    target = build_target_allocation(
        SESSION,
        {"alpha": D("0.5"), "beta": D("0.5")},
        {"alpha": {"SPY": 0.6, "QQQ": 0.4}, "beta": {"SPY": 0.2, "TLT": 0.8}},
    )
    # SPY 0.5 x 0.6 + 0.5 x 0.2 = 0.4; QQQ 0.5 x 0.4 = 0.2; TLT 0.5 x 0.8 = 0.4
    assert target.weights == {"QQQ": D("0.2"), "SPY": D("0.4"), "TLT": D("0.4")}
    assert list(target.weights) == ["QQQ", "SPY", "TLT"]
    assert target.attribution("SPY") == {"alpha": D("0.3"), "beta": D("0.1")}
    assert target.attribution("TLT") == {"beta": D("0.4")}
    assert target.attribution("IWM") == {}
    assert [(s.strategy, s.share) for s in target.sleeves] == [("alpha", D("0.5")), ("beta", D("0.5"))]
    assert target.sleeves[0].weights == {"QQQ": D("0.4000000000"), "SPY": D("0.6000000000")}


def test_unequal_shares_weight_each_strategy() -> None:
    target = build_target_allocation(
        SESSION, {"a": D("0.75"), "b": D("0.25")}, {"a": {"SPY": 1.0}, "b": {"QQQ": 1.0}}
    )
    assert target.weights == {"QQQ": D("0.25"), "SPY": D("0.75")}


def test_shares_not_summing_to_one_are_rejected() -> None:
    with pytest.raises(PortfolioError, match=r"shares must sum to 1, they sum to 0\.9"):
        build_target_allocation(
            SESSION, {"a": D("0.5"), "b": D("0.4")}, {"a": {"SPY": 1.0}, "b": {"QQQ": 1.0}}
        )


def test_shares_within_the_tolerance_are_accepted() -> None:
    shares = {"a": D("0.5000005"), "b": D("0.5")}
    target = build_target_allocation(SESSION, shares, {"a": {"SPY": 1.0}, "b": {"SPY": 1.0}})
    assert target.weights == {"SPY": D("1.0000005000")}


def test_a_strategy_without_weights_is_rejected() -> None:
    with pytest.raises(PortfolioError, match=r"no weights for strategies \['beta'\]"):
        build_target_allocation(SESSION, {"alpha": D("0.5"), "beta": D("0.5")}, {"alpha": {"SPY": 1.0}})


def test_weights_not_summing_to_one_are_rejected() -> None:
    with pytest.raises(PortfolioError, match=r"target weights and cash sum to 0\.9"):
        build_target_allocation(SESSION, {"a": D("1")}, {"a": {"SPY": 0.5, "QQQ": 0.4}})


def test_to_decimal_weights_quantizes_to_ten_places_and_drops_zeros() -> None:
    out = to_decimal_weights({"B": 2 / 3, "A": 1 / 3, "C": 0.0, "D": 1e-12})
    assert out == {"A": D("0.3333333333"), "B": D("0.6666666667")}
    assert list(out) == ["A", "B"]
    assert all(w.as_tuple().exponent == -10 for w in out.values())


# --- compare_allocation ---------------------------------------------------------------------


def test_comparison_by_hand() -> None:
    # equity 10000, reserve 1 % -> deployable 9900. Prices: SPY mid 500, QQQ last 400, TLT mid 90.
    target = build_target_allocation(SESSION, {"s": D("1")}, {"s": {"SPY": 0.6, "QQQ": 0.4}})
    comparison = compare_allocation(target, snapshot(), PlanningSettings())
    assert (comparison.session, comparison.equity, comparison.deployable) == (SESSION, D("10000"), D("9900"))
    row = ComparisonRow
    assert comparison.rows == (
        # QQQ: not held; 0.4 x 9900 = 3960
        row(symbol="QQQ", qty=D(0), price=D("400"), current_value=D(0), current_weight=D(0),
            target_weight=D("0.4"), target_value=D("3960"), delta_value=D("3960")),
        # SPY: 10 x 500 = 5000 = 0.5 of equity; 0.6 x 9900 = 5940
        row(symbol="SPY", qty=D("10"), price=D("500"), current_value=D("5000"), current_weight=D("0.5"),
            target_weight=D("0.6"), target_value=D("5940"), delta_value=D("940")),
        # TLT: held, not a target; 20 x 90 = 1800 = 0.18
        row(symbol="TLT", qty=D("20"), price=D("90"), current_value=D("1800"), current_weight=D("0.18"),
            target_weight=D(0), target_value=D(0), delta_value=D("-1800")),
    )  # fmt: skip


def test_comparison_needs_positive_equity() -> None:
    target = build_target_allocation(SESSION, {"s": D("1")}, {"s": {"SPY": 1.0}})
    with pytest.raises(PortfolioError, match="equity is 0"):
        compare_allocation(target, snapshot(equity=D("0")), PlanningSettings())


def test_comparison_without_a_price_fails() -> None:
    target = build_target_allocation(SESSION, {"s": D("1")}, {"s": {"SPY": 1.0}})
    snap = snapshot()
    snap = snap.model_copy(update={"quotes": {}, "trades": {}})
    with pytest.raises(MissingPrice) as caught:
        compare_allocation(target, snap, PlanningSettings())
    assert caught.value.symbol == "SPY"

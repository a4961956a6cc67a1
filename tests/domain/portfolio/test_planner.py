"""The planner's exact rules, each case computed by hand in the comments."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D  # noqa: N817 - reads as money in the hand-computed cases

import pytest

from alchemiser_dagster.domain.errors import MissingPrice, PortfolioError
from alchemiser_dagster.domain.portfolio.models import PlanningSettings
from alchemiser_dagster.domain.portfolio.planner import AssetInput, PlannerInput, QuoteInput, plan_rebalance

SESSION = dt.date(2024, 6, 28)


def inputs(
    equity: str = "10000",
    cash: str = "10000",
    buying_power: str | None = None,
    positions: dict[str, str] | None = None,
    quotes: dict[str, dict[str, str]] | None = None,
    fractionable: dict[str, bool] | None = None,
) -> PlannerInput:
    quotes = quotes or {}
    return PlannerInput(
        equity=D(equity),
        cash=D(cash),
        buying_power=D(buying_power or cash),
        positions={s: D(q) for s, q in (positions or {}).items()},
        quotes={s: QuoteInput(**{k: D(v) for k, v in q.items()}) for s, q in quotes.items()},
        assets={s: AssetInput(tradable=True, fractionable=(fractionable or {}).get(s, True)) for s in quotes},
    )


def plan(inp: PlannerInput, targets: dict[str, str], **settings: str):  # type: ignore[no-untyped-def]
    return plan_rebalance(
        inp,
        {s: D(w) for s, w in targets.items()},
        PlanningSettings(**{k: D(v) for k, v in settings.items()}),
        session=SESSION,
        account_number="PA123",
    )


def rows(p) -> list[tuple[str, str, str, str]]:  # type: ignore[no-untyped-def]
    return [(i.symbol, i.side, str(i.qty), i.reason) for i in p.items]


def test_fresh_account_buys_fractional_and_whole_shares() -> None:
    # deployable = 10000 x 0.99 = 9900. A: mid 100, 0.6 x 9900 = 5940 -> 59.4 shares.
    # B: no bid/ask so last = 50; 0.4 x 9900 = 3960 -> 79.2 -> 79 whole shares (not fractionable).
    p = plan(
        inputs(quotes={"A": {"bid": "99", "ask": "101"}, "B": {"last": "50"}}, fractionable={"B": False}),
        {"A": "0.6", "B": "0.4"},
    )
    assert rows(p) == [("A", "buy", "59.400000", "new"), ("B", "buy", "79", "new")]
    assert p.turnover == D("5940") + D("3950")
    assert p.items[0].est_price == D("100") and p.items[0].target_weight == D("0.6")
    assert p.skipped == ()


def test_exit_is_never_suppressed_however_small() -> None:
    # C is worth 0.35: below both min_trade ($5) and the $1 floor, still sold in full.
    p = plan(
        inputs(cash="9999.65", positions={"C": "3.5"}, quotes={"A": {"last": "100"}, "C": {"last": "0.1"}}),
        {"A": "1"},
    )
    assert rows(p)[0] == ("C", "sell", "3.5", "exit")


def test_within_band_and_reduce() -> None:
    # A held 59.4 x 100 = 5940 = 0.6 x 9900 -> delta 0 -> within_band.
    # B held 80 x 50 = 4000, target 0.4 x 9900 = 3960 -> delta -40 -> sell down(40/50) = 0.8.
    p = plan(
        inputs(
            equity="10000",
            cash="60",
            positions={"A": "59.4", "B": "80"},
            quotes={"A": {"last": "100"}, "B": {"last": "50"}},
        ),
        {"A": "0.6", "B": "0.4"},
    )
    assert rows(p) == [("B", "sell", "0.800000", "reduce")]
    assert [(s.symbol, s.reason) for s in p.skipped] == [("A", "within_band")]


def test_drift_band_skips_small_weight_moves() -> None:
    # B: current 4000/10000 = 0.40, target 0.4 -> |0| < band; A: 0.594 vs 0.6 -> 0.006 < 0.01.
    p = plan(
        inputs(
            cash="60", positions={"A": "59.4", "B": "80"}, quotes={"A": {"last": "100"}, "B": {"last": "50"}}
        ),
        {"A": "0.6", "B": "0.4"},
        drift_band="0.01",
    )
    assert p.items == ()
    assert {s.reason for s in p.skipped} == {"within_band"}


def test_buys_scaled_pro_rata_to_cash_after_sells() -> None:
    # X held 90 x 100 = 9000, equity 10000, cash 500. X target 0.9 -> 8910 -> sell 0.9 (reduce, $90).
    # Y target 0.1 -> 990 -> buy 9.9 unscaled. Budget = 500 + 90 - 100 = 490 < 990
    # -> f = 490 / 990 -> qty = down(990 x f / 100) = 4.9.
    p = plan(
        inputs(cash="500", positions={"X": "90"}, quotes={"X": {"last": "100"}, "Y": {"last": "100"}}),
        {"X": "0.9", "Y": "0.1"},
    )
    assert rows(p) == [("X", "sell", "0.900000", "reduce"), ("Y", "buy", "4.900000", "new")]


def test_negative_budget_buys_nothing_and_zero_budget_is_below_min() -> None:
    no_cash = plan(inputs(equity="10000", cash="0", quotes={"Y": {"last": "100"}}), {"Y": "1"})
    assert no_cash.items == () and [(s.symbol, s.reason) for s in no_cash.skipped] == [("Y", "no_cash")]
    # cash 100 = the reserve (1 % of 10000): budget exactly 0 scales every BUY to nothing.
    zero = plan(inputs(equity="10000", cash="100", quotes={"Y": {"last": "100"}}), {"Y": "1"})
    assert zero.items == () and [(s.symbol, s.reason) for s in zero.skipped] == [("Y", "below_min")]


def test_buys_use_the_smaller_of_cash_and_buying_power() -> None:
    # cash 10000 but buying power 1000: budget = 1000 - 100 = 900 -> Y buys down(9900 x 900/9900 / 100) = 9.
    p = plan(inputs(cash="10000", buying_power="1000", quotes={"Y": {"last": "100"}}), {"Y": "1"})
    assert rows(p) == [("Y", "buy", "9.000000", "new")]


def test_order_of_items_sells_then_buys_by_value() -> None:
    p = plan(
        inputs(
            cash="0",
            positions={"S1": "10", "S2": "30"},
            quotes={"S1": {"last": "100"}, "S2": {"last": "100"}, "B1": {"last": "10"}, "B2": {"last": "10"}},
        ),
        {"B1": "0.25", "B2": "0.75"},
    )
    assert [(i.symbol, i.side) for i in p.items] == [
        ("S2", "sell"),
        ("S1", "sell"),
        ("B2", "buy"),
        ("B1", "buy"),
    ]


def test_plan_id_is_a_deterministic_hash_of_the_inputs() -> None:
    base = inputs(quotes={"A": {"last": "100"}})
    assert plan(base, {"A": "1"}).plan_id == plan(base, {"A": "1"}).plan_id
    moved = inputs(quotes={"A": {"last": "100.01"}})
    assert plan(base, {"A": "1"}).plan_id != plan(moved, {"A": "1"}).plan_id


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(MissingPrice, match="B"):
        plan(inputs(quotes={"A": {"last": "100"}, "B": {"bid": "0", "ask": "5"}}), {"A": "0.5", "B": "0.5"})
    with pytest.raises(PortfolioError, match="sum to 1"):
        plan(inputs(quotes={"A": {"last": "100"}}), {"A": "0.9"})
    with pytest.raises(PortfolioError, match="equity"):
        plan(inputs(equity="0", quotes={"A": {"last": "100"}}), {"A": "1"})
    with pytest.raises(PortfolioError, match=r"positions\.A"):
        plan(inputs(positions={"A": "-1"}, quotes={"A": {"last": "100"}}), {"A": "1"})

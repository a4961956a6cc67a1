"""A worked example of the rebalance planner, every number computed by hand.

The target is the blend the production allocation config (strategies/allocations.prod.json:
KMLM 0.40, Nuclear 0.25, Coin 0.10, TQQQ-FLT 0.25) produces on a typical day: the KMLM sleeve
holds TLT, TQQQ-FLT holds SQQQ, Coin holds BITX, and Nuclear splits its quarter equally over
BWXT, EXC and SMR (1/12 each, rounded to 10 places with the remainder on SMR).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D  # noqa: N817 - reads as money in the hand-computed cases

from alchemiser_dagster.domain.portfolio.models import PlanningSettings, RebalancePlan
from alchemiser_dagster.domain.portfolio.planner import AssetInput, PlannerInput, QuoteInput, plan_rebalance

SESSION = dt.date(2024, 6, 28)

TARGETS = {
    "TLT": D("0.40"),
    "SQQQ": D("0.25"),
    "BITX": D("0.10"),
    "BWXT": D("0.0833333333"),
    "EXC": D("0.0833333333"),
    "SMR": D("0.0833333334"),  # 1/4 - 2 x 0.0833333333: the three sum to exactly 0.25
}

QUOTES = {
    "SPY": QuoteInput(bid=D("549.98"), ask=D("550.02"), last=D("549.90")),
    "TLT": QuoteInput(bid=D("89.99"), ask=D("90.01"), last=D("90.02")),
    "SQQQ": QuoteInput(bid=D("8.10"), ask=D("8.12"), last=D("8.09")),
    "BITX": QuoteInput(bid=D("45.20"), ask=D("45.40"), last=D("45.25")),
    "BWXT": QuoteInput(bid=D("104.95"), ask=D("105.05"), last=D("105.10")),
    # A crossed quote (ask < bid) makes the mid unusable: the planner falls back to the last trade.
    "EXC": QuoteInput(bid=D("38.45"), ask=D("38.40"), last=D("38.42")),
    "SMR": QuoteInput(bid=D("20.10"), ask=D("20.14"), last=D("20.11")),
}

# BITX is the one asset the broker does not trade in fractions.
ASSETS = {s: AssetInput(tradable=True, fractionable=s != "BITX") for s in QUOTES}

POSITIONS = {"SPY": D("20"), "TLT": D("600"), "SQQQ": D("1000")}


def account(buying_power: str) -> PlannerInput:
    return PlannerInput(
        equity=D("100000.00"),
        cash=D("26890.00"),
        buying_power=D(buying_power),
        positions=POSITIONS,
        quotes=QUOTES,
        assets=ASSETS,
    )


def plan_for(buying_power: str) -> RebalancePlan:
    return plan_rebalance(
        account(buying_power), TARGETS, PlanningSettings(), session=SESSION, account_number="PA3WORKED"
    )


def rows(plan: RebalancePlan) -> list[tuple[str, str, D, D, D, str]]:
    return [(i.symbol, i.side, i.qty, i.est_price, i.est_value, i.reason) for i in plan.items]


def test_worked_example_one_hundred_thousand_dollar_account() -> None:
    """$100,000 account: exit SPY, reduce TLT, increase SQQQ, open BITX/BWXT/EXC/SMR.

    Settings are the spec defaults: cash_reserve_pct 0.01, min_trade_usd $5, drift_band 0.

    Account: E = 100,000.00; held SPY 20, TLT 600, SQQQ 1,000; C = BP = 26,890.00
    (= E - the positions' market value below, a cash account with everything settled).

    Prices (mid = (bid + ask) / 2 when bid > 0 and ask >= bid, else last):
      SPY  (549.98 + 550.02) / 2 = 550.00      TLT  (89.99 + 90.01) / 2 = 90.00
      SQQQ (8.10 + 8.12) / 2     = 8.11        BITX (45.20 + 45.40) / 2 = 45.30
      BWXT (104.95 + 105.05) / 2 = 105.00      SMR  (20.10 + 20.14) / 2 = 20.12
      EXC  ask 38.40 < bid 38.45 -> crossed, mid unusable -> last = 38.42

    deployable = 100,000 x (1 - 0.01) = 99,000;   reserve = 100,000 x 0.01 = 1,000

    Current $ (and weight = current / E):
      SPY  20 x 550.00   = 11,000 (0.11)     TLT 600 x 90.00 = 54,000 (0.54)
      SQQQ 1,000 x 8.11  =  8,110 (0.0811)   BITX, BWXT, EXC, SMR: 0
      positions total 73,110 -> cash 100,000 - 73,110 = 26,890 (consistent)

    Per symbol (target $ = w x 99,000, delta = target $ - current $):
      SPY : w = 0 (not in the targets) and held -> rule 1, SELL all 20, `exit`,
            est_value 20 x 550.00 = 11,000.00
      TLT : 0.40 x 99,000 = 39,600; delta = 39,600 - 54,000 = -14,400 -> rule 3 `reduce`:
            14,400 / 90.00 = 160 exactly -> 160.000000 (6 dp, toward zero); min(600, 160) = 160;
            est_value 160 x 90.00 = 14,400.00
      SQQQ: 0.25 x 99,000 = 24,750; delta = 24,750 - 8,110 = 16,640 -> `increase`:
            16,640 / 8.11 = 2,051.787916152... -> 2,051.787916;
            est_value 2,051.787916 x 8.11 = 16,639.99999876
      BITX: 0.10 x 99,000 = 9,900; delta 9,900 -> `new`, whole shares:
            9,900 / 45.30 = 218.543... -> floor 218; est_value 218 x 45.30 = 9,875.40
      BWXT: 0.0833333333 x 99,000 = 8,249.9999967 -> `new`:
            8,249.9999967 / 105.00 = 78.5714285400 -> 78.571428; x 105.00 = 8,249.99994
      EXC : 8,249.9999967 / 38.42 = 214.73191037... -> 214.731910; x 38.42 = 8,249.9999822
      SMR : 0.0833333334 x 99,000 = 8,250.0000066 / 20.12 = 410.03976175... -> 410.039761;
            x 20.12 = 8,249.99999132
    Every |delta| >= $5 and every order is worth >= $1: nothing is held or dropped.

    Budget = min(C, BP) + SELLs - reserve = 26,890 + (11,000 + 14,400) - 1,000 = 51,290.
    BUYs total = 16,639.99999876 + 9,875.40 + 8,249.99994 + 8,249.9999822 + 8,249.99999132
               = 51,265.39991228 <= 51,290 -> no scaling.

    Order: SELLs by value desc: TLT 14,400 > SPY 11,000; then BUYs by value desc:
    SQQQ 16,639.99999876 > BITX 9,875.40 > SMR 8,249.99999132 > EXC 8,249.9999822
    > BWXT 8,249.99994.
    turnover = 14,400 + 11,000 + 51,265.39991228 = 76,665.39991228
    """
    plan = plan_for("26890.00")

    assert rows(plan) == [
        ("TLT", "sell", D("160"), D("90.00"), D("14400"), "reduce"),
        ("SPY", "sell", D("20"), D("550.00"), D("11000"), "exit"),
        ("SQQQ", "buy", D("2051.787916"), D("8.11"), D("16639.99999876"), "increase"),
        ("BITX", "buy", D("218"), D("45.30"), D("9875.40"), "new"),
        ("SMR", "buy", D("410.039761"), D("20.12"), D("8249.99999132"), "new"),
        ("EXC", "buy", D("214.731910"), D("38.42"), D("8249.9999822"), "new"),
        ("BWXT", "buy", D("78.571428"), D("105.00"), D("8249.99994"), "new"),
    ]
    assert plan.skipped == ()
    assert plan.turnover == D("76665.39991228")
    # Exactly as computed, not merely equal in value: 6 decimals for fractional sizing,
    # whole shares for BITX, the broker's own quantity for the exit.
    assert [str(i.qty) for i in plan.items] == [
        "160.000000",
        "20",
        "2051.787916",
        "218",
        "410.039761",
        "214.731910",
        "78.571428",
    ]
    weights = {i.symbol: (i.current_weight, i.target_weight) for i in plan.items}
    assert weights == {
        "TLT": (D("0.54"), D("0.40")),
        "SPY": (D("0.11"), D("0")),
        "SQQQ": (D("0.0811"), D("0.25")),
        "BITX": (D("0"), D("0.10")),
        "SMR": (D("0"), D("0.0833333334")),
        "EXC": (D("0"), D("0.0833333333")),
        "BWXT": (D("0"), D("0.0833333333")),
    }
    assert plan.settings == PlanningSettings()


def test_worked_example_short_of_buying_power_scales_buys_pro_rata() -> None:
    """The same account with buying power 20,000 (< cash 26,890, e.g. a hold for a manual order).

    SELLs are unchanged: TLT 160 (14,400) and SPY 20 (11,000).
    Budget = min(26,890, 20,000) + 25,400 - 1,000 = 44,400.
    Unscaled BUYs total 51,265.39991228 > 44,400 -> every BUY is recomputed as
    down(delta x f / price) with f = budget / (sum of the unscaled BUY deltas):
      sum of deltas = 16,640 + 9,900 + 8,249.9999967 + 8,249.9999967 + 8,250.0000066 = 51,290
      f = 44,400 / 51,290 = 0.8656658217976213686878533827 (28 significant digits)
      SQQQ: 16,640 x f = 14,404.679274712... / 8.11 = 1,776.1626725909... -> 1,776.162672;
            x 8.11 = 14,404.67926992
      BITX: 9,900 x f = 8,570.0916357964... / 45.30 = 189.185... -> floor 189; x 45.30 = 8,561.70
      BWXT: 8,249.9999967 x f = 7,141.7430269736... / 105.00 = 68.0166002568... -> 68.016600;
            x 105.00 = 7,141.743
      EXC : 7,141.7430269736... / 38.42 = 185.8860756630... -> 185.886075; x 38.42 = 7,141.7430015
      SMR : 8,250.0000066 x f = 7,141.7430355437... / 20.12 = 354.9574073331... -> 354.957407;
            x 20.12 = 7,141.74302884
    All still >= $1. BUYs total = 14,404.67926992 + 8,561.70 + 7,141.743 + 7,141.7430015
    + 7,141.74302884 = 44,391.60830026 <= 44,400 (the budget is never exceeded).
    BUY order by value: SQQQ > BITX > SMR 7,141.74302884 > EXC 7,141.7430015 > BWXT 7,141.743.
    turnover = 25,400 + 44,391.60830026 = 69,791.60830026
    """
    plan = plan_for("20000.00")

    assert rows(plan) == [
        ("TLT", "sell", D("160"), D("90.00"), D("14400"), "reduce"),
        ("SPY", "sell", D("20"), D("550.00"), D("11000"), "exit"),
        ("SQQQ", "buy", D("1776.162672"), D("8.11"), D("14404.67926992"), "increase"),
        ("BITX", "buy", D("189"), D("45.30"), D("8561.70"), "new"),
        ("SMR", "buy", D("354.957407"), D("20.12"), D("7141.74302884"), "new"),
        ("EXC", "buy", D("185.886075"), D("38.42"), D("7141.7430015"), "new"),
        ("BWXT", "buy", D("68.016600"), D("105.00"), D("7141.743"), "new"),
    ]
    assert plan.skipped == ()
    assert plan.turnover == D("69791.60830026")
    buys = sum((i.est_value for i in plan.items if i.side == "buy"), D(0))
    assert buys == D("44391.60830026") <= D("44400")


def test_worked_example_plan_id_is_a_function_of_the_inputs() -> None:
    """Same inputs, same id; another buying power (an input) or account, another id."""
    assert plan_for("26890.00").plan_id == plan_for("26890.00").plan_id
    assert plan_for("26890.00").plan_id != plan_for("20000.00").plan_id
    other_account = plan_rebalance(
        account("26890.00"), TARGETS, PlanningSettings(), session=SESSION, account_number="PA3OTHER"
    )
    assert other_account.plan_id != plan_for("26890.00").plan_id
    assert other_account.items == plan_for("26890.00").items

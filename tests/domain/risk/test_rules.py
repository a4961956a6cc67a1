"""Pre-trade rules: for each rule the boundary that passes and the case that is denied.

One sane account and plan (`build()`) passes every rule; each violating case changes one
thing and must trip its own rule only, with a message naming the symbol and the numbers.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from alchemiser_dagster.domain.broker import AccountInfo, AssetInfo, PositionInfo, QuoteInfo, Side, TradeInfo
from alchemiser_dagster.domain.portfolio.models import (
    AccountSnapshot,
    PlanItem,
    PlanningSettings,
    RebalancePlan,
    TargetAllocation,
)
from alchemiser_dagster.domain.portfolio.planner import price_of
from alchemiser_dagster.domain.portfolio.snapshot import planner_input
from alchemiser_dagster.domain.risk.limits import RiskLimits
from alchemiser_dagster.domain.risk.rules import RULES, RiskContext, evaluate_rules

D = Decimal
SESSION = dt.date(2024, 6, 28)
UTC = dt.UTC
# 15:45 New York on the session.
STAMP = dt.datetime(2024, 6, 28, 19, 45, tzinfo=UTC)
RULE_NAMES = [
    "weights_finite_and_sum_to_one",
    "prices_fresh",
    "order_notional_within_limit",
    "order_size_within_equity_limit",
    "turnover_within_limit",
    "position_weight_within_limit",
    "no_restricted_symbols",
    "symbols_tradable",
    "no_short_sales",
    "buys_covered_by_cash",
]

# The sane baseline: equity $10,000 = SPY 50 x $100 + TLT 40 x $100 + $1,000 cash.
# Target SPY 0.5 / TLT 0.2 / GLD 0.3; plan: sell 20 TLT ($2,000), buy 29 GLD ($2,900).
# Buy budget = min(cash, buying power) 1,000 + sells 2,000 - 1% x 10,000 = $2,900.
ZERO = D(0)
HELD = {"SPY": D(50), "TLT": D(40)}
WEIGHTS = {"SPY": D("0.5"), "TLT": D("0.2"), "GLD": D("0.3")}


def item(symbol: str, side: Side, qty: str | int, price: str | int = 100) -> PlanItem:
    return PlanItem(
        symbol=symbol,
        side=side,
        qty=D(qty),
        est_price=D(price),
        est_value=D(qty) * D(price),
        current_weight=D(0),
        target_weight=WEIGHTS.get(symbol, D(0)),
        reason="reduce" if side == "sell" else "new",
    )


ITEMS = (item("TLT", "sell", 20), item("GLD", "buy", 29))


def quote(symbol: str, bid: str = "99.99", ask: str = "100.01", at: dt.datetime = STAMP) -> QuoteInfo:
    return QuoteInfo(symbol=symbol, bid=D(bid), ask=D(ask), bid_size=D(1), ask_size=D(1), timestamp=at)


def trade(symbol: str, price: str = "100", at: dt.datetime = STAMP) -> TradeInfo:
    return TradeInfo(symbol=symbol, price=D(price), size=D(1), timestamp=at)


def asset(symbol: str, tradable: bool = True) -> AssetInfo:
    return AssetInfo(symbol=symbol, tradable=tradable, fractionable=True, shortable=False, status="active")


def build(
    *,
    weights: dict[str, Decimal] | None = None,
    cash_weight: Decimal = ZERO,
    items: tuple[PlanItem, ...] = ITEMS,
    turnover: Decimal | None = None,
    held: dict[str, Decimal] | None = None,
    quotes: dict[str, QuoteInfo] | None = None,
    trades: dict[str, TradeInfo] | None = None,
    assets: dict[str, AssetInfo] | None = None,
    cash: str = "1000",
    buying_power: str = "1000",
    equity: str = "10000",
    limits: dict[str, Any] | None = None,
) -> RiskContext:
    """A real RiskContext; every argument defaults to the sane baseline above."""
    weights = WEIGHTS if weights is None else weights
    held = HELD if held is None else held
    symbols = sorted(set(weights) | set(held) | {i.symbol for i in items})
    account = AccountInfo(
        account_number="PA123",
        status="ACTIVE",
        currency="USD",
        cash=D(cash),
        equity=D(equity),
        buying_power=D(buying_power),
        trading_blocked=False,
        account_blocked=False,
    )
    snapshot = AccountSnapshot(
        session=SESSION,
        taken_at=STAMP,
        account=account,
        positions=tuple(
            PositionInfo(
                symbol=s,
                qty=q,
                side="long",
                market_value=q * 100,
                avg_entry_price=D(90),
                current_price=D(100),
            )
            for s, q in sorted(held.items())
        ),
        open_orders=(),
        assets={s: asset(s) for s in symbols} if assets is None else assets,
        quotes={s: quote(s) for s in symbols} if quotes is None else quotes,
        trades={s: trade(s) for s in symbols} if trades is None else trades,
    )
    target = TargetAllocation(session=SESSION, weights=weights, sleeves=(), cash_weight=cash_weight)
    plan = RebalancePlan(
        plan_id="p" * 64,
        session=SESSION,
        account_number="PA123",
        items=items,
        skipped=(),
        turnover=sum((i.est_value for i in items), D(0)) if turnover is None else turnover,
        settings=PlanningSettings(cash_reserve_pct=D("0.01")),
    )
    return RiskContext(plan=plan, snapshot=snapshot, target=target, limits=RiskLimits(**(limits or {})))


def failing(ctx: RiskContext) -> dict[str, list[str]]:
    return {name: violations for name, violations in evaluate_rules(ctx).items() if violations}


def only_violations(ctx: RiskContext, rule: str) -> list[str]:
    """The violations of `rule`, asserting that no other rule fails."""
    failed = failing(ctx)
    assert set(failed) == {rule}, failed
    return failed[rule]


def test_evaluate_rules_returns_every_rule_in_order_and_the_baseline_passes() -> None:
    results = evaluate_rules(build())
    assert list(results) == RULE_NAMES
    assert list(RULES) == RULE_NAMES
    assert results == {name: [] for name in RULE_NAMES}


def test_rules_have_docstrings() -> None:
    assert all(rule.__doc__ for rule in RULES.values())


# --- weights_finite_and_sum_to_one -----------------------------------------------------------


def test_weights_pass_at_the_tolerance_and_with_a_cash_sleeve() -> None:
    at_edge = {"SPY": D("0.500001"), "TLT": D("0.2"), "GLD": D("0.3")}
    assert RULES["weights_finite_and_sum_to_one"](build(weights=at_edge)) == []
    with_cash = {"SPY": D("0.3"), "TLT": D("0.2"), "GLD": D("0.3")}
    assert RULES["weights_finite_and_sum_to_one"](build(weights=with_cash, cash_weight=D("0.2"))) == []


def test_weights_not_summing_to_one_are_denied_with_the_sum() -> None:
    short = {"SPY": D("0.5"), "TLT": D("0.2"), "GLD": D("0.2999")}
    [message] = only_violations(build(weights=short), "weights_finite_and_sum_to_one")
    assert "0.9999" in message


def test_negative_and_non_finite_weights_are_denied_naming_the_symbol() -> None:
    negative = {"SPY": D("0.9"), "TLT": D("0.2"), "GLD": D("-0.1")}
    [message] = only_violations(build(weights=negative), "weights_finite_and_sum_to_one")
    assert "GLD" in message
    assert "-0.1" in message
    # A model that skipped validation (model_copy does not validate) must still be caught.
    ctx = build()
    bad_target = ctx.target.model_copy(update={"weights": {**WEIGHTS, "GLD": D("NaN")}})
    violations = RULES["weights_finite_and_sum_to_one"](ctx.model_copy(update={"target": bad_target}))
    assert violations == ["GLD: target weight NaN is not a finite number >= 0"]


# --- prices_fresh -------------------------------------------------------------------------------


def test_prices_fresh_uses_the_new_york_date() -> None:
    # 23:30 New York on the session is 03:30 UTC the next day: still the session.
    late = dt.datetime(2024, 6, 29, 3, 30, tzinfo=UTC)
    symbols = ["GLD", "SPY", "TLT"]
    ctx = build(quotes={s: quote(s, at=late) for s in symbols})
    assert RULES["prices_fresh"](ctx) == []


def test_a_quote_from_the_previous_new_york_day_is_stale() -> None:
    # 03:30 UTC on the session is 23:30 New York the day before.
    early = dt.datetime(2024, 6, 28, 3, 30, tzinfo=UTC)
    quotes = {"SPY": quote("SPY"), "TLT": quote("TLT"), "GLD": quote("GLD", at=early)}
    [message] = only_violations(build(quotes=quotes), "prices_fresh")
    assert message.startswith("GLD: quote price 100")
    assert "2024-06-27" in message
    assert "2024-06-28" in message


def test_prices_fall_back_to_the_last_trade_like_the_planner() -> None:
    yesterday = dt.datetime(2024, 6, 27, 19, 0, tzinfo=UTC)
    # GLD's quote is crossed (ask < bid), so the planner prices it from the last trade.
    quotes = {"SPY": quote("SPY"), "TLT": quote("TLT"), "GLD": quote("GLD", bid="101", ask="100")}
    fresh_trade = {"SPY": trade("SPY"), "TLT": trade("TLT"), "GLD": trade("GLD")}
    assert RULES["prices_fresh"](build(quotes=quotes, trades=fresh_trade)) == []
    stale_trade = {**fresh_trade, "GLD": trade("GLD", price="100.5", at=yesterday)}
    [message] = only_violations(build(quotes=quotes, trades=stale_trade), "prices_fresh")
    assert message.startswith("GLD: last trade price 100.5")
    assert "2024-06-27" in message


def test_a_symbol_without_any_price_is_denied() -> None:
    # QQQ is a target (weight 0) with no quote and no trade; TLT's quote bid is 0 and no trade.
    weights = {**WEIGHTS, "QQQ": D(0)}
    quotes = {"SPY": quote("SPY"), "GLD": quote("GLD"), "TLT": quote("TLT", bid="0")}
    trades = {"SPY": trade("SPY"), "GLD": trade("GLD")}
    violations = only_violations(build(weights=weights, quotes=quotes, trades=trades), "prices_fresh")
    assert [v.split(":")[0] for v in violations] == ["QQQ", "TLT"]
    assert all("no positive price" in v for v in violations)


@pytest.mark.parametrize(
    ("bid", "ask", "last", "expected"),
    [
        ("99", "101", "50", D(100)),  # valid quote: mid
        ("101", "99", "50", D(50)),  # crossed: last trade
        ("0", "101", "50", D(50)),  # no bid: last trade
    ],
)
def test_the_rule_prices_like_the_planner(bid: str, ask: str, last: str, expected: Decimal) -> None:
    ctx = build(quotes={"GLD": quote("GLD", bid=bid, ask=ask)}, trades={"GLD": trade("GLD", price=last)})
    inputs = planner_input(ctx.snapshot)
    assert price_of("GLD", inputs.quotes["GLD"]) == expected
    stale = ctx.snapshot.model_copy(
        update={
            "quotes": {"GLD": quote("GLD", bid=bid, ask=ask, at=STAMP - dt.timedelta(days=1))},
            "trades": {"GLD": trade("GLD", price=last, at=STAMP - dt.timedelta(days=1))},
        }
    )
    messages = RULES["prices_fresh"](ctx.model_copy(update={"snapshot": stale}))
    gld = [m for m in messages if m.startswith("GLD:")]
    assert len(gld) == 1
    assert f"price {expected} " in gld[0]


# --- order_notional_within_limit ----------------------------------------------------------------


def test_order_notional_at_the_limit_passes() -> None:
    assert RULES["order_notional_within_limit"](build(limits={"max_order_usd": D(2900)})) == []


def test_order_notional_above_the_limit_is_denied() -> None:
    ctx = build(limits={"max_order_usd": D("2899.99")})
    [message] = only_violations(ctx, "order_notional_within_limit")
    assert message == "GLD: buy of $2,900.00 exceeds max_order_usd $2,899.99"


# --- order_size_within_equity_limit --------------------------------------------------------------


def test_order_size_at_the_equity_limit_passes() -> None:
    ctx = build(limits={"max_order_pct_equity": D("0.29")})
    assert RULES["order_size_within_equity_limit"](ctx) == []


def test_order_size_above_the_equity_limit_is_denied() -> None:
    ctx = build(limits={"max_order_pct_equity": D("0.2")})
    [message] = only_violations(ctx, "order_size_within_equity_limit")
    assert message.startswith("GLD: buy of $2,900.00")
    assert "0.2 x equity $10,000.00 = $2,000.00" in message


# --- turnover_within_limit ---------------------------------------------------------------------


def test_turnover_at_the_limit_passes() -> None:
    assert RULES["turnover_within_limit"](build(limits={"max_turnover_pct_equity": D("0.49")})) == []


def test_turnover_above_the_limit_is_denied() -> None:
    ctx = build(limits={"max_turnover_pct_equity": D("0.48")})
    [message] = only_violations(ctx, "turnover_within_limit")
    assert (
        message == "turnover $4,900.00 exceeds max_turnover_pct_equity 0.48 x equity $10,000.00 = $4,800.00"
    )


def test_an_understated_plan_turnover_does_not_hide_the_items() -> None:
    ctx = build(turnover=D(0), limits={"max_turnover_pct_equity": D("0.48")})
    [message] = RULES["turnover_within_limit"](ctx)
    assert "$4,900.00" in message


# --- position_weight_within_limit --------------------------------------------------------------


def test_position_weight_at_the_limit_passes() -> None:
    assert RULES["position_weight_within_limit"](build(limits={"max_position_weight": D("0.5")})) == []


def test_position_weight_above_the_limit_is_denied() -> None:
    ctx = build(limits={"max_position_weight": D("0.49")})
    [message] = only_violations(ctx, "position_weight_within_limit")
    assert message == "SPY: target weight 0.5 exceeds max_position_weight 0.49"


# --- no_restricted_symbols -----------------------------------------------------------------------


def test_restricted_symbols_not_traded_or_targeted_pass() -> None:
    # QQQ is restricted but only appears with weight 0 in the target: nothing is bought.
    weights = {**WEIGHTS, "QQQ": D(0)}
    assert (
        RULES["no_restricted_symbols"](build(weights=weights, limits={"restricted_symbols": ("qqq",)})) == []
    )


def test_a_restricted_buy_and_target_are_denied() -> None:
    ctx = build(limits={"restricted_symbols": ("gld",)})
    violations = only_violations(ctx, "no_restricted_symbols")
    assert violations == [
        "GLD: buy of 29 is on the restricted list",
        "GLD: target weight 0.3 is on the restricted list",
    ]


def test_a_restricted_sell_is_denied() -> None:
    weights = {"SPY": D("0.7"), "GLD": D("0.3")}
    items = (item("TLT", "sell", 40), item("GLD", "buy", 29))
    violations = only_violations(
        build(weights=weights, items=items, limits={"restricted_symbols": ("TLT",)}), "no_restricted_symbols"
    )
    assert violations == ["TLT: sell of 40 is on the restricted list"]


# --- symbols_tradable ----------------------------------------------------------------------------


def test_an_untradable_symbol_that_is_not_traded_passes() -> None:
    assets = {"SPY": asset("SPY", tradable=False), "TLT": asset("TLT"), "GLD": asset("GLD")}
    assert RULES["symbols_tradable"](build(assets=assets)) == []


def test_untradable_or_unknown_traded_symbols_are_denied() -> None:
    assets = {"SPY": asset("SPY"), "GLD": asset("GLD", tradable=False)}
    violations = only_violations(build(assets=assets), "symbols_tradable")
    assert violations == [
        "TLT: sell of 20 has no asset entry in the snapshot",
        "GLD: buy of 29 but the asset is not tradable (status active)",
    ]


# --- no_short_sales ------------------------------------------------------------------------------


def test_selling_everything_held_passes() -> None:
    items = (item("TLT", "sell", 40), item("GLD", "buy", 29))
    assert RULES["no_short_sales"](build(items=items)) == []


def test_selling_more_than_held_is_denied() -> None:
    items = (item("TLT", "sell", 41), item("QQQ", "sell", "0.5"), item("GLD", "buy", 29))
    violations = only_violations(build(items=items), "no_short_sales")
    assert violations == [
        "TLT: sell of 41 exceeds the 40 held (a short sale)",
        "QQQ: sell of 0.5 exceeds the 0 held (a short sale)",
    ]


# --- buys_covered_by_cash ------------------------------------------------------------------------


def test_buys_within_a_cent_of_the_budget_pass() -> None:
    items = (item("TLT", "sell", 20), item("GLD", "buy", "29.0001"))  # $2,900.01
    assert RULES["buys_covered_by_cash"](build(items=items)) == []


def test_buys_above_the_budget_are_denied_with_the_arithmetic() -> None:
    items = (item("TLT", "sell", 20), item("GLD", "buy", "29.0002"))  # $2,900.02
    [message] = only_violations(build(items=items), "buys_covered_by_cash")
    assert message == (
        "buys of $2,900.02 exceed the cash available $2,900.00 = min(cash $1,000.00,"
        " buying power $1,000.00) + sells $2,000.00 - reserve 0.01 x equity $10,000.00"
    )


def test_buying_power_below_cash_limits_the_buys() -> None:
    [message] = only_violations(build(buying_power="500"), "buys_covered_by_cash")
    assert "exceed the cash available $2,400.00" in message


def test_prices_fresh_does_not_apply_to_a_plan_only_partition() -> None:
    # A backfill of an earlier day only ever sees today's quotes; nothing can trade on them.
    stale = {"SPY": quote("SPY", at=STAMP - dt.timedelta(days=3))}
    ctx = build(quotes=stale)
    assert only_violations(ctx, "prices_fresh"), "the stale quote is caught on a tradable day"
    earlier_plan = ctx.plan.model_copy(update={"session": SESSION - dt.timedelta(days=1)})
    assert RULES["prices_fresh"](ctx.model_copy(update={"plan": earlier_plan})) == []

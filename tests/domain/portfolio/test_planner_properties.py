"""Properties of the rebalance planner over random accounts (portfolio-execution spec).

Random accounts: equity / cash / buying power (sometimes consistent with the positions,
sometimes not, cash sometimes negative), 0-6 positions (some fractional, some zero), quotes
with a valid mid or an unusable one (crossed, bid <= 0, bid or ask absent) falling back to
the last trade, random fractionable flags, random settings; random targets summing to 1
(quantized to 10 places, the remainder on one symbol, some weights 0).

Besides the invariants, `reference_plan` is a second implementation written from the spec's
exact rules alone; the planner must agree with it to the share.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alchemiser_dagster.domain.errors import MissingPrice
from alchemiser_dagster.domain.portfolio.models import PlanningSettings, RebalancePlan
from alchemiser_dagster.domain.portfolio.planner import AssetInput, PlannerInput, QuoteInput, plan_rebalance

D = Decimal
SESSION = dt.date(2024, 6, 28)
ACCOUNT = "PA1PROPS"
POOL = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH")
TENTH_DP = D("1e-10")
TOLERANCE = D("1e-9")  # Decimal's 28-digit context can round a scaled quantity up by ~1e-27 relative

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass(frozen=True)
class Case:
    inputs: PlannerInput
    targets: dict[str, Decimal]
    settings: PlanningSettings

    def plan(self, account_number: str = ACCOUNT) -> RebalancePlan:
        return plan_rebalance(
            self.inputs, self.targets, self.settings, session=SESSION, account_number=account_number
        )

    @property
    def held(self) -> dict[str, Decimal]:
        return {s: q for s, q in self.inputs.positions.items() if q > 0}

    def weight(self, symbol: str) -> Decimal:
        return self.targets.get(symbol, D(0)).quantize(TENTH_DP)

    def price(self, symbol: str) -> Decimal:
        return spec_price(self.inputs.quotes.get(symbol))


# --- the spec's rules, written again ------------------------------------------------------------


def spec_price(quote: QuoteInput | None) -> Decimal:
    """(bid + ask) / 2 when bid > 0 and ask >= bid, else last when > 0; None if neither."""
    if quote is None:
        raise LookupError("no quote")
    bid, ask, last = quote.bid, quote.ask, quote.last
    if bid is not None and ask is not None and bid > 0 and ask >= bid:
        return (bid + ask) / 2
    if last is not None and last > 0:
        return last
    raise LookupError("no usable price")


def down(value: Decimal, fractionable: bool) -> Decimal:
    return value.quantize(D("0.000001") if fractionable else D("1"), rounding=ROUND_DOWN)


Row = tuple[str, str, Decimal, Decimal, Decimal, str]


def reference_plan(case: Case) -> tuple[list[Row], dict[str, str], Decimal]:
    """The spec's 'planner as a pure function', step by step: (items, skipped, turnover)."""
    inputs, cfg = case.inputs, case.settings
    equity = inputs.equity
    deployable = equity * (1 - cfg.cash_reserve_pct)
    held = case.held
    skipped: dict[str, str] = {}
    sells: list[Row] = []
    buys: list[tuple[str, Decimal, Decimal, bool, str]] = []  # symbol, delta, price, fractionable, reason
    for symbol in sorted(set(case.targets) | set(held)):
        w, q, p = case.weight(symbol), held.get(symbol, D(0)), case.price(symbol)
        fractionable = inputs.assets[symbol].fractionable
        current = q * p
        delta = w * deployable - current
        if w == 0 and q > 0:
            sells.append((symbol, "sell", q, p, q * p, "exit"))
        elif abs(delta) < cfg.min_trade_usd or abs(w - current / equity) < cfg.drift_band:
            skipped[symbol] = "within_band"
        elif w == 0 and q == 0:
            skipped[symbol] = "within_band"  # "fixed readings": a zero target not held is skipped so
        elif delta < 0:
            qty = min(q, down(-delta / p, fractionable))
            if qty * p < 1:
                skipped[symbol] = "below_min"
            else:
                sells.append((symbol, "sell", qty, p, qty * p, "reduce"))
        else:
            qty = down(delta / p, fractionable)
            if qty * p < 1:  # qty 0 included
                skipped[symbol] = "below_min"
            else:
                buys.append((symbol, delta, p, fractionable, "new" if q == 0 else "increase"))
    budget = (
        min(inputs.cash, inputs.buying_power)
        + sum((r[4] for r in sells), D(0))
        - equity * cfg.cash_reserve_pct
    )
    unscaled = [(s, down(d / p, fr), p, r) for s, d, p, fr, r in buys]
    if budget < 0:
        bought: list[Row] = []
        skipped.update({s: "no_cash" for s, *_ in buys})
    elif sum((qty * p for _, qty, p, _ in unscaled), D(0)) <= budget:
        bought = [(s, "buy", qty, p, qty * p, r) for s, qty, p, r in unscaled]
    else:
        f = budget / sum((d for _, d, *_ in buys), D(0))
        bought = []
        for s, d, p, fr, r in buys:
            qty = down((d * f) / p, fr)
            if qty * p < 1:
                skipped[s] = "below_min"
            else:
                bought.append((s, "buy", qty, p, qty * p, r))

    def by_value(rows: list[Row]) -> list[Row]:
        return sorted(rows, key=lambda row: (-row[4], row[0]))

    items = by_value(sells) + by_value(bought)
    return items, skipped, sum((row[4] for row in items), D(0))


def rows(plan: RebalancePlan) -> list[Row]:
    return [(i.symbol, i.side, i.qty, i.est_price, i.est_value, i.reason) for i in plan.items]


# --- random accounts ------------------------------------------------------------------------------


def prices() -> st.SearchStrategy[Decimal]:
    return st.one_of(
        st.decimals(min_value=D("1.00"), max_value=D("3000.00"), places=2),
        st.decimals(min_value=D("0.0100"), max_value=D("1.0000"), places=4),
    )


@st.composite
def quotes_for(draw: st.DrawFn, price: Decimal) -> QuoteInput:
    """A quote whose planning price is `price` (a mid with bid = price, or the last trade)."""
    kind = draw(
        st.sampled_from(["mid", "mid_last", "crossed", "bid_not_positive", "no_bid", "no_ask", "last"])
    )
    spread = draw(st.decimals(min_value=D(0), max_value=max(price / 20, D("0.01")), places=2))
    other = draw(prices())
    if kind == "mid":
        return QuoteInput(bid=price, ask=price + spread)
    if kind == "mid_last":
        return QuoteInput(bid=price, ask=price + spread, last=other)
    if kind == "crossed":
        return QuoteInput(bid=price + spread + D("0.01"), ask=price, last=price)
    if kind == "bid_not_positive":
        return QuoteInput(bid=draw(st.sampled_from([D(0), D("-1.5")])), ask=price, last=price)
    if kind == "no_bid":
        return QuoteInput(ask=price, last=price)
    if kind == "no_ask":
        return QuoteInput(bid=price, last=price)
    return QuoteInput(last=price)


def quantities() -> st.SearchStrategy[Decimal]:
    return st.one_of(
        st.integers(min_value=1, max_value=3000).map(D),
        st.decimals(min_value=D("0.000001"), max_value=D("3000"), places=6),
        st.just(D(0)),  # a position row with nothing in it: not "held"
    )


@st.composite
def target_weights(draw: st.DrawFn, symbols: list[str]) -> dict[str, Decimal]:
    """Weights summing to exactly 1: n_i / sum(n) quantized to 10 dp, remainder on one symbol."""
    parts = draw(
        st.lists(st.integers(min_value=0, max_value=100), min_size=len(symbols), max_size=len(symbols))
    )
    if sum(parts) == 0:
        parts[0] = 1
    total = sum(parts)
    weights = {
        s: (D(n) / total).quantize(TENTH_DP, rounding=ROUND_DOWN) for s, n in zip(symbols, parts, strict=True)
    }
    heir = draw(st.sampled_from([s for s, n in zip(symbols, parts, strict=True) if n > 0]))
    weights[heir] += 1 - sum(weights.values(), D(0))
    assert sum(weights.values(), D(0)) == 1
    return weights


def planning_settings() -> st.SearchStrategy[PlanningSettings]:
    return st.builds(
        PlanningSettings,
        cash_reserve_pct=st.one_of(
            st.sampled_from([D(0), D("0.01"), D("0.05")]),
            st.decimals(min_value=D(0), max_value=D("0.5"), places=4),
        ),
        min_trade_usd=st.sampled_from([D(0), D(1), D(5), D("25.50"), D(500)]),
        drift_band=st.sampled_from([D(0), D(0), D("0.001"), D("0.01"), D("0.05")]),
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    held_symbols = draw(st.lists(st.sampled_from(POOL), unique=True, max_size=6))
    target_symbols = draw(st.lists(st.sampled_from(POOL), unique=True, min_size=1, max_size=6))
    targets = draw(target_weights(target_symbols))
    symbols = sorted(set(held_symbols) | set(target_symbols))
    true_price = {s: draw(prices()) for s in symbols}
    quotes = {s: draw(quotes_for(true_price[s])) for s in symbols}
    positions = {s: draw(quantities()) for s in held_symbols}
    assets = {s: AssetInput(tradable=draw(st.booleans()), fractionable=draw(st.booleans())) for s in symbols}
    cash = draw(
        st.one_of(
            st.decimals(min_value=D(0), max_value=D(200000), places=2),
            st.decimals(min_value=D(-5000), max_value=D(0), places=2),
        )
    )
    market_value = sum((q * true_price[s] for s, q in positions.items()), D(0))
    equity_mode = draw(st.sampled_from(["consistent", "consistent", "random"]))
    equity = cash + market_value if equity_mode == "consistent" else D(0)
    if equity <= 0:
        equity = draw(st.decimals(min_value=D("1"), max_value=D(1000000), places=2))
    buying_power = draw(
        st.one_of(
            st.just(cash),
            st.just(2 * cash),
            st.decimals(min_value=D(0), max_value=D(500000), places=2),
        )
    )
    inputs = PlannerInput(
        equity=equity,
        cash=cash,
        buying_power=buying_power,
        positions=positions,
        quotes=quotes,
        assets=assets,
    )
    return Case(inputs, targets, draw(planning_settings()))


def budget_of(case: Case, plan: RebalancePlan) -> Decimal:
    """min(C, BP) + sum of SELL (qty x price) - E x reserve, from the case and the plan's SELLs."""
    inputs = case.inputs
    sold = sum((i.qty * case.price(i.symbol) for i in plan.items if i.side == "sell"), D(0))
    return min(inputs.cash, inputs.buying_power) + sold - inputs.equity * case.settings.cash_reserve_pct


# --- properties -----------------------------------------------------------------------------------


@PROPERTY
@given(cases())
def test_buys_never_exceed_the_budget(case: Case) -> None:
    plan = case.plan()
    bought = sum((i.est_value for i in plan.items if i.side == "buy"), D(0))
    assert bought <= max(budget_of(case, plan), D(0)) + TOLERANCE
    if budget_of(case, plan) < 0:
        assert bought == 0


@PROPERTY
@given(cases())
def test_every_held_symbol_with_target_zero_is_exited_in_full(case: Case) -> None:
    plan = case.plan()
    exits = {i.symbol: i for i in plan.items if i.reason == "exit"}
    expected = {s for s, q in case.held.items() if case.weight(s) == 0}
    assert set(exits) == expected
    for symbol, item in exits.items():
        assert item.side == "sell"
        assert item.qty == case.held[symbol]
        assert str(item.qty) == str(case.held[symbol])  # the broker's quantity, not re-rounded
        assert item.est_value == item.qty * case.price(symbol)


@PROPERTY
@given(cases())
def test_quantities_are_positive_and_sized_by_the_asset(case: Case) -> None:
    plan = case.plan()
    for item in plan.items:
        assert item.qty > 0
        assert item.est_price > 0 and item.est_value > 0
        if item.reason == "exit":
            continue
        assert item.est_value >= 1  # the $1 rule
        assert item.qty.as_tuple().exponent >= -6  # type: ignore[operator]
        assert item.qty == item.qty.quantize(D("0.000001"))
        if not case.inputs.assets[item.symbol].fractionable:
            assert item.qty == item.qty.to_integral_value(), item
        if item.side == "sell":
            assert item.qty <= case.held[item.symbol]  # no short sales


@PROPERTY
@given(cases())
def test_quantities_round_toward_zero(case: Case) -> None:
    plan = case.plan()
    deployable = case.inputs.equity * (1 - case.settings.cash_reserve_pct)
    for item in plan.items:
        if item.reason == "exit":
            continue
        price = case.price(item.symbol)
        delta = case.weight(item.symbol) * deployable - case.held.get(item.symbol, D(0)) * price
        assert item.est_price == price
        assert item.est_value == item.qty * price
        assert item.qty * price <= abs(delta)
        assert (delta < 0) == (item.side == "sell")
        assert item.reason == ("reduce" if delta < 0 else "increase" if item.symbol in case.held else "new")


@PROPERTY
@given(cases())
def test_sells_come_first_and_each_side_is_sorted_by_value_then_symbol(case: Case) -> None:
    plan = case.plan()
    sides = [i.side for i in plan.items]
    assert sides == sorted(sides, key=lambda side: side != "sell")
    for side in ("sell", "buy"):
        keys = [(-i.est_value, i.symbol) for i in plan.items if i.side == side]
        assert keys == sorted(keys)


@PROPERTY
@given(cases())
def test_every_symbol_appears_exactly_once(case: Case) -> None:
    plan = case.plan()
    listed = [i.symbol for i in plan.items] + [s.symbol for s in plan.skipped]
    assert sorted(listed) == sorted(set(case.targets) | set(case.held))


@PROPERTY
@given(cases())
def test_turnover_is_the_sum_of_est_values(case: Case) -> None:
    plan = case.plan()
    assert plan.turnover == sum((i.est_value for i in plan.items), D(0))


@PROPERTY
@given(cases(), st.randoms(use_true_random=False))
def test_same_inputs_same_plan_and_the_account_is_in_the_id(case: Case, rnd: Any) -> None:
    plan = case.plan()
    assert case.plan() == plan

    # The same inputs listed in another order are the same inputs.
    def shuffled(mapping: dict[str, Any]) -> dict[str, Any]:
        keys = list(mapping)
        rnd.shuffle(keys)
        return {k: mapping[k] for k in keys}

    inputs = case.inputs
    reordered = Case(
        inputs.model_copy(
            update={
                "positions": shuffled(dict(inputs.positions)),
                "quotes": shuffled(dict(inputs.quotes)),
                "assets": shuffled(dict(inputs.assets)),
            }
        ),
        shuffled(case.targets),
        case.settings,
    )
    assert reordered.plan() == plan
    other = case.plan("PA2OTHER")
    assert other.plan_id != plan.plan_id
    assert (other.items, other.skipped, other.turnover) == (plan.items, plan.skipped, plan.turnover)
    next_day = plan_rebalance(
        case.inputs,
        case.targets,
        case.settings,
        session=SESSION + dt.timedelta(days=1),
        account_number=ACCOUNT,
    )
    assert next_day.plan_id != plan.plan_id


@PROPERTY
@given(cases())
def test_agrees_with_a_second_implementation_of_the_spec(case: Case) -> None:
    plan = case.plan()
    items, skipped, turnover = reference_plan(case)
    assert rows(plan) == items
    assert {s.symbol: s.reason for s in plan.skipped} == skipped
    assert len(plan.skipped) == len(skipped)
    assert plan.turnover == turnover


@PROPERTY
@given(cases(), st.data())
def test_a_symbol_without_a_usable_price_is_missing_price(case: Case, data: st.DataObject) -> None:
    needed = sorted(set(case.targets) | set(case.held))
    victim = data.draw(st.sampled_from(needed))
    broken = data.draw(
        st.sampled_from(
            [
                None,  # no quote at all
                QuoteInput(),
                QuoteInput(bid=D("10"), ask=D("9"), last=None),
                QuoteInput(bid=D("0"), ask=D("1"), last=D("0")),
                QuoteInput(bid=None, ask=D("5"), last=D("-1")),
            ]
        )
    )
    quotes = dict(case.inputs.quotes)
    if broken is None:
        del quotes[victim]
    else:
        quotes[victim] = broken
    inputs = case.inputs.model_copy(update={"quotes": quotes})
    with pytest.raises(MissingPrice) as raised:
        plan_rebalance(inputs, case.targets, case.settings, session=SESSION, account_number=ACCOUNT)
    assert raised.value.symbol == victim


def test_zero_weight_target_not_held_is_within_band_even_without_bands() -> None:
    inputs = PlannerInput(
        equity=D("1000"),
        cash=D("1000"),
        buying_power=D("1000"),
        positions={},
        quotes={"AAA": QuoteInput(last=D("10")), "BBB": QuoteInput(last=D("20"))},
        assets={s: AssetInput(tradable=True, fractionable=True) for s in ("AAA", "BBB")},
    )
    plan = plan_rebalance(
        inputs,
        {"AAA": D(1), "BBB": D(0)},
        PlanningSettings(min_trade_usd=D(0), drift_band=D(0)),
        session=SESSION,
        account_number=ACCOUNT,
    )
    assert {s.symbol: s.reason for s in plan.skipped} == {"BBB": "within_band"}

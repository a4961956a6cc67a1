"""Pre-trade risk rules: pure functions over the plan and what it was built from.

After NautilusTrader's `_check_*` methods: each rule is one small function that returns
the reasons it denies the plan (empty when it passes), every reason naming the symbol
and the numbers. `RULES` maps the rule's name to its function; the names are the names
of the blocking asset checks, and a plan with any violation places nothing.

Rules never raise on bad numbers: a NaN or infinite value is itself a violation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from alchemiser_dagster.domain.constants import NEW_YORK, WEIGHT_SUM_TOLERANCE
from alchemiser_dagster.domain.model import FrozenModel
from alchemiser_dagster.domain.portfolio.models import (
    AccountSnapshot,
    RebalancePlan,
    TargetAllocation,
)
from alchemiser_dagster.domain.risk.limits import RiskLimits

CASH_TOLERANCE = Decimal("0.01")


class RiskContext(FrozenModel):
    """Everything a rule may look at: the plan, the snapshot and target it came from, the limits."""

    plan: RebalancePlan
    snapshot: AccountSnapshot
    target: TargetAllocation
    limits: RiskLimits

    @property
    def equity(self) -> Decimal:
        return self.snapshot.account.equity


# --- helpers --------------------------------------------------------------------------------


def _usd(value: Decimal) -> str:
    return f"${value:,.2f}" if value.is_finite() else str(value)


def _exceeds(value: Decimal, limit: Decimal) -> bool:
    """`value > limit`, and True when either is NaN or infinite (no comparison with NaN)."""
    return not (value.is_finite() and limit.is_finite()) or value > limit


def _positive(value: Decimal) -> bool:
    return value.is_finite() and value > 0


def _price_source(symbol: str, snapshot: AccountSnapshot) -> tuple[Decimal, dt.datetime, str] | None:
    """The price the planner uses and its timestamp: the quote mid when bid > 0 and ask >= bid,
    else the last trade when its price is > 0 (as `planner.price_of`), else None."""
    quote = snapshot.quotes.get(symbol)
    if quote is not None and _positive(quote.bid) and quote.ask.is_finite() and quote.ask >= quote.bid:
        return (quote.bid + quote.ask) / 2, quote.timestamp, "quote"
    trade = snapshot.trades.get(symbol)
    if trade is not None and _positive(trade.price):
        return trade.price, trade.timestamp, "last trade"
    return None


# --- rules ----------------------------------------------------------------------------------


def weights_finite_and_sum_to_one(ctx: RiskContext) -> list[str]:
    """Target weights are finite and >= 0, and with the cash weight sum to 1 within 1e-6."""
    return target_weight_problems(ctx.target)


def target_weight_problems(target: TargetAllocation) -> list[str]:
    """The weights rule on a target alone (also the blocking check on `target_allocation`)."""
    violations = [
        f"{symbol}: target weight {weight} is not a finite number >= 0"
        for symbol, weight in sorted(target.weights.items())
        if not weight.is_finite() or weight < 0
    ]
    cash = target.cash_weight
    if not cash.is_finite() or not 0 <= cash <= 1:
        violations.append(f"cash weight {cash} is not a finite number between 0 and 1")
    if violations:
        return violations
    total = sum(target.weights.values(), Decimal(0)) + cash
    if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
        violations.append(
            f"target weights sum to {total} (cash weight {cash} included),"
            f" not 1 within {WEIGHT_SUM_TOLERANCE}"
        )
    return violations


def prices_fresh(ctx: RiskContext) -> list[str]:
    """Every plan item and every target symbol has a positive finite price from the session.

    Applies to plans that can trade: a snapshot taken on another day than the plan's
    session belongs to a plan-only partition, where the rule has nothing to protect.

    The price is the planner's (quote mid, else last trade); its quote or trade must be
    timestamped on the plan's session date in New York time. An item's own estimate
    price must be positive and finite too.
    """
    session = ctx.plan.session
    if ctx.snapshot.taken_at.astimezone(NEW_YORK).date() != session:
        # A past (or future) partition: execution's live guard places nothing, so there is
        # no trade a stale price could reach; a backfill can only ever see today's quotes.
        return []
    violations = [
        f"{item.symbol}: {item.side} estimate price {item.est_price} is not a positive finite number"
        for item in ctx.plan.items
        if not _positive(item.est_price)
    ]
    symbols = sorted({item.symbol for item in ctx.plan.items} | set(ctx.target.weights))
    for symbol in symbols:
        source = _price_source(symbol, ctx.snapshot)
        if source is None:
            violations.append(f"{symbol}: no positive price (no valid bid/ask quote and no last trade)")
            continue
        price, stamp, kind = source
        if stamp.tzinfo is None or stamp.utcoffset() is None:
            violations.append(f"{symbol}: {kind} price {price} has a timestamp without timezone ({stamp})")
            continue
        day = stamp.astimezone(NEW_YORK).date()
        if day != session:
            violations.append(
                f"{symbol}: {kind} price {price} is from {day.isoformat()} (New York), "
                f"not from the session {session.isoformat()}"
            )
    return violations


def order_notional_within_limit(ctx: RiskContext) -> list[str]:
    """Each order's estimated value is at most `max_order_usd`."""
    limit = ctx.limits.max_order_usd
    return [
        f"{item.symbol}: {item.side} of {_usd(item.est_value)} exceeds max_order_usd {_usd(limit)}"
        for item in ctx.plan.items
        if _exceeds(item.est_value, limit)
    ]


def order_size_within_equity_limit(ctx: RiskContext) -> list[str]:
    """Each order's estimated value is at most `max_order_pct_equity` x equity."""
    pct = ctx.limits.max_order_pct_equity
    limit = pct * ctx.equity
    return [
        f"{item.symbol}: {item.side} of {_usd(item.est_value)} exceeds max_order_pct_equity {pct}"
        f" x equity {_usd(ctx.equity)} = {_usd(limit)}"
        for item in ctx.plan.items
        if _exceeds(item.est_value, limit)
    ]


def turnover_within_limit(ctx: RiskContext) -> list[str]:
    """The plan's turnover is at most `max_turnover_pct_equity` x equity.

    Turnover is the larger of the plan's stated turnover and the sum of its items' values,
    so an inconsistent plan cannot understate it.
    """
    items_total = sum((item.est_value for item in ctx.plan.items), Decimal(0))
    stated = ctx.plan.turnover
    turnover = stated if not stated.is_finite() or not items_total.is_finite() else max(stated, items_total)
    pct = ctx.limits.max_turnover_pct_equity
    limit = pct * ctx.equity
    if not _exceeds(turnover, limit):
        return []
    return [
        f"turnover {_usd(turnover)} exceeds max_turnover_pct_equity {pct}"
        f" x equity {_usd(ctx.equity)} = {_usd(limit)}"
    ]


def position_weight_within_limit(ctx: RiskContext) -> list[str]:
    """Each target weight is at most `max_position_weight`."""
    limit = ctx.limits.max_position_weight
    return [
        f"{symbol}: target weight {weight} exceeds max_position_weight {limit}"
        for symbol, weight in sorted(ctx.target.weights.items())
        if _exceeds(weight, limit)
    ]


def no_restricted_symbols(ctx: RiskContext) -> list[str]:
    """No plan item (buy or sell) and no non-zero target weight is on the restricted list."""
    restricted = set(ctx.limits.restricted_symbols)
    violations = [
        f"{item.symbol}: {item.side} of {item.qty} is on the restricted list"
        for item in ctx.plan.items
        if item.symbol.upper() in restricted
    ]
    violations += [
        f"{symbol}: target weight {weight} is on the restricted list"
        for symbol, weight in sorted(ctx.target.weights.items())
        if symbol.upper() in restricted and weight != 0
    ]
    return violations


def symbols_tradable(ctx: RiskContext) -> list[str]:
    """Every traded symbol's asset is tradable per the snapshot; a missing asset entry is a violation."""
    violations = []
    for item in ctx.plan.items:
        asset = ctx.snapshot.assets.get(item.symbol)
        if asset is None:
            violations.append(f"{item.symbol}: {item.side} of {item.qty} has no asset entry in the snapshot")
        elif not asset.tradable:
            violations.append(
                f"{item.symbol}: {item.side} of {item.qty} but the asset is not tradable"
                f" (status {asset.status})"
            )
    return violations


def no_short_sales(ctx: RiskContext) -> list[str]:
    """No SELL is larger than the quantity held (nothing held counts as 0)."""
    held = ctx.snapshot.held_qty()
    violations = []
    for item in ctx.plan.items:
        if item.side != "sell":
            continue
        have = held.get(item.symbol, Decimal(0))
        if _exceeds(item.qty, have):
            violations.append(f"{item.symbol}: sell of {item.qty} exceeds the {have} held (a short sale)")
    return violations


def buys_covered_by_cash(ctx: RiskContext) -> list[str]:
    """BUYs total at most min(cash, buying power) + SELLs - equity x cash reserve (1-cent tolerance)."""
    account = ctx.snapshot.account
    buys = sum((i.est_value for i in ctx.plan.items if i.side == "buy"), Decimal(0))
    sells = sum((i.est_value for i in ctx.plan.items if i.side == "sell"), Decimal(0))
    reserve_pct = ctx.plan.settings.cash_reserve_pct
    if buys == 0:
        return []
    inputs = {"cash": account.cash, "buying power": account.buying_power, "equity": account.equity}
    inputs |= {"buys": buys, "sells": sells}
    broken = [f"{name} {value}" for name, value in inputs.items() if not value.is_finite()]
    if broken:
        return [f"cannot check buys against cash: {', '.join(broken)} not a finite number"]
    reserve = account.equity * reserve_pct
    budget = min(account.cash, account.buying_power) + sells - reserve
    if buys <= budget + CASH_TOLERANCE:
        return []
    return [
        f"buys of {_usd(buys)} exceed the cash available {_usd(budget)}"
        f" = min(cash {_usd(account.cash)}, buying power {_usd(account.buying_power)})"
        f" + sells {_usd(sells)} - reserve {reserve_pct} x equity {_usd(account.equity)}"
    ]


Rule = Callable[[RiskContext], list[str]]

RULES: dict[str, Rule] = {
    rule.__name__: rule
    for rule in (
        weights_finite_and_sum_to_one,
        prices_fresh,
        order_notional_within_limit,
        order_size_within_equity_limit,
        turnover_within_limit,
        position_weight_within_limit,
        no_restricted_symbols,
        symbols_tradable,
        no_short_sales,
        buys_covered_by_cash,
    )
}


def evaluate_rules(ctx: RiskContext) -> dict[str, list[str]]:
    """Every rule's violations, by rule name (an empty list means the rule passes)."""
    return {name: rule(ctx) for name, rule in RULES.items()}

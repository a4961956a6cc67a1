"""The rebalance planner: a pure function with exact rules (portfolio-execution spec).

Two implementations following the spec give the same plan to the share, so every
rounding and ordering choice below is the spec's, not ours: Decimal in the default
context, quantities rounded toward zero, SELLs before BUYs, BUYs scaled pro rata to
the cash the SELLs free up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from alchemiser_dagster.domain.broker import Side
from alchemiser_dagster.domain.constants import FRACTIONAL_STEP, MIN_ORDER_USD, WEIGHT_SUM_TOLERANCE
from alchemiser_dagster.domain.errors import MissingPrice, PortfolioError
from alchemiser_dagster.domain.model import FrozenModel
from alchemiser_dagster.domain.portfolio.models import (
    PlanItem,
    PlanningSettings,
    PlanReason,
    RebalancePlan,
    SkippedItem,
)

WEIGHT_PLACES = Decimal("1e-10")


class QuoteInput(FrozenModel):
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None


class AssetInput(FrozenModel):
    tradable: bool
    fractionable: bool


class PlannerInput(FrozenModel):
    """The account as the planner sees it; the spec's SNAPSHOT document."""

    equity: Decimal
    cash: Decimal
    buying_power: Decimal
    positions: dict[str, Decimal]
    quotes: dict[str, QuoteInput]
    assets: dict[str, AssetInput]


def price_of(symbol: str, quote: QuoteInput | None) -> Decimal:
    """Quote mid when bid > 0 and ask >= bid, else the last trade when > 0, else MissingPrice."""
    if quote is None:
        raise MissingPrice(symbol)
    if quote.bid is not None and quote.ask is not None and quote.bid > 0 and quote.ask >= quote.bid:
        return (quote.bid + quote.ask) / 2
    if quote.last is not None and quote.last > 0:
        return quote.last
    raise MissingPrice(symbol)


def _down(value: Decimal, fractionable: bool) -> Decimal:
    step = FRACTIONAL_STEP if fractionable else Decimal(1)
    return value.quantize(step, rounding=ROUND_DOWN)


def _validate(inputs: PlannerInput, targets: dict[str, Decimal], cash_weight: Decimal) -> dict[str, Decimal]:
    if inputs.equity <= 0:
        raise PortfolioError(f"equity must be > 0, got {inputs.equity}")
    for name in ("equity", "cash", "buying_power"):
        if not getattr(inputs, name).is_finite():
            raise PortfolioError(f"{name} is not a finite number")
    for symbol, qty in inputs.positions.items():
        if not qty.is_finite() or qty < 0:
            raise PortfolioError(f"positions.{symbol}: quantity must be >= 0, got {qty}")
    weights = {symbol: w.quantize(WEIGHT_PLACES) for symbol, w in targets.items()}
    for symbol, weight in weights.items():
        if not weight.is_finite() or weight < 0:
            raise PortfolioError(f"targets.{symbol}: weight must be >= 0, got {weight}")
    if not cash_weight.is_finite() or not 0 <= cash_weight <= 1:
        raise PortfolioError(f"cash weight must be between 0 and 1, got {cash_weight}")
    total = sum(weights.values(), Decimal(0)) + cash_weight
    if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
        raise PortfolioError(f"target weights must sum to 1 within 1e-6, they sum to {total}")
    return weights


def plan_id_for(
    session: dt.date,
    account_number: str,
    inputs: PlannerInput,
    targets: dict[str, Decimal],
    settings: PlanningSettings,
) -> str:
    """A hash of everything the plan depends on: the same inputs always give the same id."""
    document = {
        "session": session.isoformat(),
        "account": account_number,
        "inputs": inputs.model_dump(mode="json"),
        "targets": {symbol: str(targets[symbol]) for symbol in sorted(targets)},
        "settings": settings.model_dump(mode="json"),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class _Decision:
    """One symbol's outcome before budget scaling; `delta` is kept for pro-rata scaling."""

    item: PlanItem | None
    skipped: SkippedItem | None
    delta: Decimal


def _decide(
    symbol: str,
    weight: Decimal,
    qty: Decimal,
    inputs: PlannerInput,
    deployable: Decimal,
    settings: PlanningSettings,
) -> _Decision:
    price = price_of(symbol, inputs.quotes.get(symbol))
    fractionable = _asset(inputs, symbol).fractionable
    current_value = qty * price
    current_weight = current_value / inputs.equity
    delta = weight * deployable - current_value

    def order(side: Side, order_qty: Decimal, reason: PlanReason) -> _Decision:
        if reason != "exit" and order_qty * price < MIN_ORDER_USD:
            return _Decision(None, SkippedItem(symbol=symbol, reason="below_min"), delta)
        item = PlanItem(
            symbol=symbol,
            side=side,
            qty=order_qty,
            est_price=price,
            est_value=order_qty * price,
            current_weight=current_weight,
            target_weight=weight,
            reason=reason,
        )
        return _Decision(item, None, delta)

    if weight == 0 and qty > 0:
        return order("sell", qty, "exit")
    if weight == 0:  # listed but neither held nor wanted: nothing to do, whatever the bands
        return _Decision(None, SkippedItem(symbol=symbol, reason="within_band"), delta)
    if abs(delta) < settings.min_trade_usd or abs(weight - current_weight) < settings.drift_band:
        return _Decision(None, SkippedItem(symbol=symbol, reason="within_band"), delta)
    if delta < 0:
        return order("sell", min(qty, _down(-delta / price, fractionable)), "reduce")
    return order("buy", _down(delta / price, fractionable), "new" if qty == 0 else "increase")


def _asset(inputs: PlannerInput, symbol: str) -> AssetInput:
    found = inputs.assets.get(symbol)
    if found is None:
        raise PortfolioError(f"assets.{symbol}: missing asset entry")
    return found


def _fit_buys_to_budget(
    buys: list[_Decision], budget: Decimal, inputs: PlannerInput
) -> tuple[list[PlanItem], list[SkippedItem]]:
    """Scale BUYs pro rata when they exceed the budget; a negative budget buys nothing."""
    items = [b.item for b in buys if b.item is not None]
    if not items:
        return [], []
    if budget < 0:
        return [], [SkippedItem(symbol=i.symbol, reason="no_cash") for i in items]
    if sum((i.qty * i.est_price for i in items), Decimal(0)) <= budget:
        return items, []
    factor = budget / sum((b.delta for b in buys), Decimal(0))
    kept: list[PlanItem] = []
    skipped: list[SkippedItem] = []
    for decision in buys:
        item = decision.item
        assert item is not None
        qty = _down((decision.delta * factor) / item.est_price, _asset(inputs, item.symbol).fractionable)
        if qty * item.est_price < MIN_ORDER_USD:
            skipped.append(SkippedItem(symbol=item.symbol, reason="below_min"))
        else:
            kept.append(item.model_copy(update={"qty": qty, "est_value": qty * item.est_price}))
    return kept, skipped


def plan_rebalance(
    inputs: PlannerInput,
    targets: dict[str, Decimal],
    settings: PlanningSettings,
    *,
    session: dt.date,
    account_number: str,
    cash_weight: Decimal = Decimal(0),
) -> RebalancePlan:
    """Orders that move the account from `inputs` to `targets`.

    Weights sum to 1, or to 1 - `cash_weight` when a failed strategy's sleeve is kept in
    cash (its share is simply not bought).
    """
    weights = _validate(inputs, targets, cash_weight)
    deployable = inputs.equity * (1 - settings.cash_reserve_pct)
    held = {symbol: qty for symbol, qty in inputs.positions.items() if qty > 0}
    decisions = [
        _decide(
            symbol,
            weights.get(symbol, Decimal(0)),
            held.get(symbol, Decimal(0)),
            inputs,
            deployable,
            settings,
        )
        for symbol in sorted(set(weights) | set(held))
    ]
    skipped = [d.skipped for d in decisions if d.skipped is not None]
    sells = [d.item for d in decisions if d.item is not None and d.item.side == "sell"]
    buys = [d for d in decisions if d.item is not None and d.item.side == "buy"]
    budget = (
        min(inputs.cash, inputs.buying_power)
        + sum((s.qty * s.est_price for s in sells), Decimal(0))
        - inputs.equity * settings.cash_reserve_pct
    )
    kept_buys, unfunded = _fit_buys_to_budget(buys, budget, inputs)

    def by_value(items: list[PlanItem]) -> list[PlanItem]:
        return sorted(items, key=lambda i: (-i.est_value, i.symbol))

    items = (*by_value(sells), *by_value(kept_buys))
    return RebalancePlan(
        plan_id=plan_id_for(
            session,
            account_number,
            inputs,
            {**weights, "$CASH": cash_weight} if cash_weight else weights,
            settings,
        ),
        session=session,
        account_number=account_number,
        items=items,
        skipped=tuple(sorted([*skipped, *unfunded], key=lambda s: s.symbol)),
        turnover=sum((i.est_value for i in items), Decimal(0)),
        settings=settings,
    )

"""From strategy weights to the account target, and the target compared with the account."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

from alchemiser_dagster.domain.constants import WEIGHT_SUM_TOLERANCE
from alchemiser_dagster.domain.errors import PortfolioError
from alchemiser_dagster.domain.portfolio.models import (
    AccountSnapshot,
    AllocationComparison,
    ComparisonRow,
    PlanningSettings,
    StrategySleeve,
    TargetAllocation,
)
from alchemiser_dagster.domain.portfolio.planner import WEIGHT_PLACES, price_of
from alchemiser_dagster.domain.portfolio.snapshot import planner_input


def to_decimal_weights(weights: Mapping[str, float | Decimal]) -> dict[str, Decimal]:
    """Quantize evaluator floats to 10 places as they leave the DSL (zeros dropped).

    Decimal weights (a sleeve book's, already stored at 10 places) pass unchanged.
    """
    out = {
        symbol: (weight if isinstance(weight, Decimal) else Decimal(repr(weight))).quantize(WEIGHT_PLACES)
        for symbol, weight in weights.items()
    }
    return {symbol: weight for symbol, weight in sorted(out.items()) if weight != 0}


FailedStrategyPolicy = Literal["stop", "cash", "last_target"]


def build_target_allocation(
    session: dt.date,
    shares: Mapping[str, Decimal],
    strategy_weights: Mapping[str, Mapping[str, float | Decimal] | None],
    *,
    policy: FailedStrategyPolicy = "stop",
    last_targets: Mapping[str, tuple[dt.date, Mapping[str, float]]] | None = None,
    trading: Mapping[str, tuple[str, str]] | None = None,
) -> TargetAllocation:
    """Net the strategies at account level: target(s) = sum of share x weight(s).

    The weights are each sleeve's held weights (its trading setting already applied, see
    `sleeves.advance_sleeves`); `trading` names each sleeve's setting and what it did.
    A strategy whose weights are None failed for the session. Its capital is never handed
    silently to the others: `stop` refuses to build a target, `cash` keeps the sleeve in
    cash, `last_target` reuses that strategy's latest earlier weights (or fails if none).
    """
    missing = sorted(set(shares) - set(strategy_weights))
    if missing:
        raise PortfolioError(f"no weights for strategies {missing}")
    total_share = sum(shares.values(), Decimal(0))
    if abs(total_share - 1) > WEIGHT_SUM_TOLERANCE:
        raise PortfolioError(f"strategy shares must sum to 1, they sum to {total_share}")
    sleeves = tuple(
        _sleeve(name, share, strategy_weights[name], policy, (last_targets or {}).get(name), session)
        for name, share in shares.items()
    )
    if trading:
        sleeves = tuple(
            s.model_copy(update={"setting": trading[s.strategy][0], "trading": trading[s.strategy][1]})
            if s.strategy in trading
            else s
            for s in sleeves
        )
    netted: dict[str, Decimal] = {}
    for sleeve in sleeves:
        for symbol, weight in sleeve.weights.items():
            netted[symbol] = netted.get(symbol, Decimal(0)) + sleeve.share * weight
    weights = {symbol: netted[symbol].quantize(WEIGHT_PLACES) for symbol in sorted(netted)}
    cash = sum((s.share for s in sleeves if s.policy == "cash"), Decimal(0))
    total = sum(weights.values(), Decimal(0)) + cash
    if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
        raise PortfolioError(f"target weights and cash sum to {total}, not 1")
    return TargetAllocation(session=session, weights=weights, sleeves=sleeves, cash_weight=cash)


def _sleeve(
    name: str,
    share: Decimal,
    weights: Mapping[str, float | Decimal] | None,
    policy: FailedStrategyPolicy,
    last: tuple[dt.date, Mapping[str, float]] | None,
    session: dt.date,
) -> StrategySleeve:
    if weights is not None:
        return StrategySleeve(strategy=name, share=share, weights=to_decimal_weights(weights))
    if policy == "stop":
        raise PortfolioError(f"strategy {name} failed for {session}; policy 'stop': no trading today")
    if policy == "cash":
        return StrategySleeve(strategy=name, share=share, weights={}, policy="cash")
    if last is None or last[0] >= session:
        raise PortfolioError(
            f"strategy {name} failed for {session} and has no earlier target;"
            " policy 'last_target' cannot apply"
        )
    return StrategySleeve(
        strategy=name,
        share=share,
        weights=to_decimal_weights(last[1]),
        policy="last_target",
        weights_from=last[0],
    )


def compare_allocation(
    target: TargetAllocation, snapshot: AccountSnapshot, settings: PlanningSettings
) -> AllocationComparison:
    """Every symbol in targets U held, as weights of equity (0..1) and as dollars."""
    inputs = planner_input(snapshot)
    equity = snapshot.account.equity
    if equity <= 0:
        raise PortfolioError(f"equity is {equity}; weights are undefined")
    deployable = equity * (1 - settings.cash_reserve_pct)
    held = snapshot.held_qty()
    rows = []
    for symbol in sorted(set(target.weights) | set(held)):
        qty = held.get(symbol, Decimal(0))
        price = price_of(symbol, inputs.quotes.get(symbol))
        weight = target.weights.get(symbol, Decimal(0))
        current_value = qty * price
        target_value = weight * deployable
        rows.append(
            ComparisonRow(
                symbol=symbol,
                qty=qty,
                price=price,
                current_value=current_value,
                current_weight=current_value / equity,
                target_weight=weight,
                target_value=target_value,
                delta_value=target_value - current_value,
            )
        )
    return AllocationComparison(
        session=target.session, equity=equity, deployable=deployable, rows=tuple(rows)
    )

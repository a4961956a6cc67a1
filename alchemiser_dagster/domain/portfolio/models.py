"""Typed records of the portfolio steps: snapshot, target, comparison, plan.

One unit system throughout: weights are fractions of equity (0..1), money and
quantities are Decimal. Every record is frozen and versioned, because each one is
persisted as a Dagster asset and read back by later steps and later runs.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field

from alchemiser_dagster.domain.broker import (
    AccountInfo,
    AssetInfo,
    OrderInfo,
    PositionInfo,
    QuoteInfo,
    Side,
    TradeInfo,
)
from alchemiser_dagster.domain.model import FrozenModel, Record


class AccountSnapshot(Record):
    """Everything the planner needs from the broker, read in one step; fails closed."""

    session: dt.date
    taken_at: dt.datetime
    account: AccountInfo
    positions: tuple[PositionInfo, ...]
    open_orders: tuple[OrderInfo, ...]
    assets: dict[str, AssetInfo]
    quotes: dict[str, QuoteInfo]
    trades: dict[str, TradeInfo]

    def held_qty(self) -> dict[str, Decimal]:
        return {p.symbol: p.qty for p in self.positions}


class StrategySleeve(Record):
    """One strategy's share of the account and the weights it chose.

    `policy` is set when the strategy failed for the session and the failed-strategy
    policy decided the sleeve instead: "cash" (no weights) or "last_target" (the weights
    of the session in `weights_from`). `setting` and `trading` say which trading setting
    the sleeve has and what it did today ("within corridor 5 %: held"); its `weights` are
    then what the sleeve holds, which is the strategy's target only when it trades.
    """

    strategy: str
    share: Decimal
    weights: dict[str, Decimal]
    policy: Literal["cash", "last_target"] | None = None
    weights_from: dt.date | None = None
    setting: str | None = None
    trading: str | None = None


class TargetAllocation(Record):
    """Account-level target weights, netted across strategies, with attribution.

    Weights plus `cash_weight` (sleeves sent to cash by the failed-strategy policy) sum to 1.
    """

    session: dt.date
    weights: dict[str, Decimal]
    sleeves: tuple[StrategySleeve, ...]
    cash_weight: Decimal = Decimal(0)

    def attribution(self, symbol: str) -> dict[str, Decimal]:
        """How much of a symbol's target weight each strategy contributed."""
        return {
            sleeve.strategy: sleeve.share * sleeve.weights[symbol]
            for sleeve in self.sleeves
            if symbol in sleeve.weights
        }


class ComparisonRow(Record):
    symbol: str
    qty: Decimal
    price: Decimal
    current_value: Decimal
    current_weight: Decimal
    target_weight: Decimal
    target_value: Decimal
    delta_value: Decimal


class AllocationComparison(Record):
    """Target vs current for every symbol in targets U held, in weights and dollars."""

    session: dt.date
    equity: Decimal
    deployable: Decimal
    rows: tuple[ComparisonRow, ...]


class PlanningSettings(FrozenModel):
    """The planner's knobs (portfolio-execution spec defaults); parsed from settings text."""

    model_config = ConfigDict(strict=False)  # parsed from user text: coercion wanted

    cash_reserve_pct: Decimal = Field(default=Decimal("0.01"), ge=0, lt=1)
    min_trade_usd: Decimal = Field(default=Decimal("5"), ge=0)
    drift_band: Decimal = Field(default=Decimal("0"), ge=0, lt=1)


PlanReason = Literal["exit", "reduce", "new", "increase"]
SkipReason = Literal["within_band", "below_min", "no_cash"]


class PlanItem(Record):
    symbol: str
    side: Side
    qty: Decimal
    est_price: Decimal
    est_value: Decimal
    current_weight: Decimal
    target_weight: Decimal
    reason: PlanReason


class SkippedItem(Record):
    symbol: str
    reason: SkipReason


class RebalancePlan(Record):
    """Orders to reach the target: SELLs first, then BUYs, each with its reason."""

    plan_id: str
    session: dt.date
    account_number: str
    items: tuple[PlanItem, ...]
    skipped: tuple[SkippedItem, ...]
    turnover: Decimal
    settings: PlanningSettings = Field(default_factory=PlanningSettings)

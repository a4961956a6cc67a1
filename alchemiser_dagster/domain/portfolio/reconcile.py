"""After the trade: positions re-read and compared with what the plan intended."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from alchemiser_dagster.domain.broker import AccountInfo, PositionInfo
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.model import Record
from alchemiser_dagster.domain.portfolio.models import TargetAllocation

DRIFT_TOLERANCE = Decimal("0.01")  # one percentage point of equity


class ReconciliationRow(Record):
    symbol: str
    target_weight: Decimal
    actual_weight: Decimal
    drift: Decimal
    qty: Decimal


class Reconciliation(Record):
    """WARN: a weight off by more than the tolerance; ERROR: an intended trade did not happen."""

    session: dt.date
    plan_id: str
    applicable: bool
    note: str
    equity: Decimal
    cash: Decimal
    rows: tuple[ReconciliationRow, ...]
    warnings: tuple[str, ...]
    errors: tuple[str, ...]


def reconcile(
    target: TargetAllocation,
    execution: ExecutionResult,
    account: AccountInfo,
    positions: list[PositionInfo],
    *,
    tolerance: Decimal = DRIFT_TOLERANCE,
) -> Reconciliation:
    if execution.status == "PLAN_ONLY":
        return Reconciliation(
            session=execution.session,
            plan_id=execution.plan_id,
            applicable=False,
            note=f"nothing was placed: {execution.reason}",
            equity=account.equity,
            cash=account.cash,
            rows=(),
            warnings=(),
            errors=(),
        )
    held = {p.symbol: p for p in positions}
    rows = []
    warnings = []
    for symbol in sorted(set(target.weights) | set(held)):
        weight = target.weights.get(symbol, Decimal(0))
        position = held.get(symbol)
        actual = position.market_value / account.equity if position is not None else Decimal(0)
        drift = actual - weight
        rows.append(
            ReconciliationRow(
                symbol=symbol,
                target_weight=weight,
                actual_weight=actual,
                drift=drift,
                qty=position.qty if position is not None else Decimal(0),
            )
        )
        if abs(drift) > tolerance:
            warnings.append(
                f"{symbol}: weight {actual:.4f} vs target {weight:.4f} (off {drift * 100:+.2f} pp)"
            )
    errors = [
        f"{o.symbol}: intended {o.side} of {o.requested_qty} did not happen ({o.status}"
        + (f", code {o.error_code}" if o.error_code is not None else "")
        + ")"
        for o in execution.outcomes
        if o.filled_qty == 0
    ]
    return Reconciliation(
        session=execution.session,
        plan_id=execution.plan_id,
        applicable=True,
        note=f"{len(rows)} symbols compared with tolerance {tolerance * 100} pp",
        equity=account.equity,
        cash=account.cash,
        rows=tuple(rows),
        warnings=tuple(warnings),
        errors=tuple(errors),
    )

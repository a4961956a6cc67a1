"""The fill ledger: one row per order of ours that filled anything, as the broker reports it.

Quantities and prices are the broker's actual `filled_qty` and `filled_avg_price` (never
the requested ones), kept as exact decimals. Each row carries the strategies the symbol's
target came from, so a fill can be attributed to the strategies that wanted it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from decimal import Decimal

import pandas as pd
from pydantic import ValidationError

from alchemiser_dagster.domain.broker import OrderInfo, Side
from alchemiser_dagster.domain.constants import CENT
from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.model import FrozenModel
from alchemiser_dagster.domain.portfolio.models import TargetAllocation

LEDGER_COLUMNS = (
    "session", "plan_id", "client_order_id", "order_id", "symbol", "side",
    "filled_qty", "filled_avg_price", "notional", "filled_at", "attribution",
)  # fmt: skip
#: Attribution fractions are kept to a millionth.
ATTRIBUTION_STEP = Decimal("1e-6")


class LedgerFill(FrozenModel):
    """One order of ours that filled anything: the broker's actual quantity and price."""

    session: dt.date
    plan_id: str
    client_order_id: str
    order_id: str
    symbol: str
    side: Side
    filled_qty: Decimal
    filled_avg_price: Decimal
    notional: Decimal  # filled_qty x filled_avg_price, to the cent
    filled_at: dt.datetime | None
    attribution: dict[str, Decimal]  # strategy -> its fraction of the symbol's target


class FillLedger(FrozenModel):
    """A session's fills; stored as a table of exact decimal strings (`to_frame`)."""

    fills: tuple[LedgerFill, ...] = ()

    @property
    def notional(self) -> Decimal:
        return sum((f.notional for f in self.fills), Decimal(0))

    def to_frame(self) -> pd.DataFrame:
        rows = [
            {
                "session": f.session.isoformat(),
                "plan_id": f.plan_id,
                "client_order_id": f.client_order_id,
                "order_id": f.order_id,
                "symbol": f.symbol,
                "side": f.side,
                "filled_qty": str(f.filled_qty),
                "filled_avg_price": str(f.filled_avg_price),
                "notional": str(f.notional),
                "filled_at": f.filled_at.isoformat() if f.filled_at else None,
                "attribution": json.dumps({k: str(v) for k, v in f.attribution.items()}, sort_keys=True),
            }
            for f in self.fills
        ]
        return pd.DataFrame(rows, columns=list(LEDGER_COLUMNS)).astype({c: "object" for c in LEDGER_COLUMNS})


def read_fill_ledger(frame: pd.DataFrame, source: str) -> FillLedger:
    """The typed ledger of a stored table; a missing column or a bad row is a StorageError
    naming `source` and the row."""
    missing = [c for c in LEDGER_COLUMNS if c not in frame.columns]
    if missing:
        raise StorageError(f"{source}: the fill ledger has no column {', '.join(missing)}")
    fills = []
    for n, record in enumerate(frame.to_dict("records")):
        filled_at = record["filled_at"]
        if isinstance(filled_at, float) and math.isnan(filled_at):  # parquet's missing value
            filled_at = None
        try:
            attribution = json.loads(str(record["attribution"]))
            fills.append(
                LedgerFill.model_validate(
                    {**record, "filled_at": filled_at, "attribution": attribution}, strict=False
                )
            )
        except (json.JSONDecodeError, ValidationError) as error:
            raise StorageError(f"{source}: fill ledger row {n}: {error}") from error
    return FillLedger(fills=tuple(fills))


def fill_ledger(execution: ExecutionResult, target: TargetAllocation) -> FillLedger:
    """The ledger of a session's execution, each fill attributed by the target's sleeves."""
    fills = []
    for order in sorted(execution.orders, key=lambda o: o.client_order_id):
        if order.filled_qty <= 0 or order.filled_avg_price is None:
            continue
        shares = target.attribution(order.symbol)
        total = sum(shares.values(), Decimal(0))
        fills.append(
            LedgerFill(
                session=execution.session,
                plan_id=execution.plan_id,
                client_order_id=order.client_order_id,
                order_id=order.id,
                symbol=order.symbol,
                side=order.side,
                filled_qty=order.filled_qty,
                filled_avg_price=order.filled_avg_price,
                notional=(order.filled_qty * order.filled_avg_price).quantize(CENT),
                filled_at=order.filled_at,
                attribution=(
                    {name: (share / total).quantize(ATTRIBUTION_STEP) for name, share in shares.items()}
                    if total
                    else {}
                ),
            )
        )
    return FillLedger(fills=tuple(fills))


def build_ledger(execution: ExecutionResult, target: TargetAllocation) -> pd.DataFrame:
    """The stored form of `fill_ledger` (what the `fill_ledger` asset materializes)."""
    return fill_ledger(execution, target).to_frame()


def ledger_mismatches(ledger: pd.DataFrame, broker_orders: Iterable[OrderInfo]) -> list[str]:
    """Where the ledger and the broker's own view of our orders disagree (to the cent)."""
    by_id = {o.client_order_id: o for o in broker_orders}
    problems = []
    recorded = set()
    for fill in read_fill_ledger(ledger, "the fill ledger").fills:
        coid = fill.client_order_id
        recorded.add(coid)
        order = by_id.get(coid)
        if order is None:
            problems.append(f"{coid}: in the ledger, unknown to the broker")
            continue
        broker_notional = (order.filled_qty * (order.filled_avg_price or Decimal(0))).quantize(CENT)
        if fill.filled_qty != order.filled_qty or fill.notional != broker_notional:
            problems.append(
                f"{coid}: ledger {fill.filled_qty} for {fill.notional},"
                f" broker {order.filled_qty} for {broker_notional}"
            )
    for coid, order in by_id.items():
        if coid not in recorded and order.filled_qty > 0:
            problems.append(
                f"{coid}: the broker filled {order.filled_qty} {order.symbol}, missing from the ledger"
            )
    return problems

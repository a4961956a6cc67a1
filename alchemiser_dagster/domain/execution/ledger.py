"""The fill ledger: one row per order of ours that filled anything, as the broker reports it.

Quantities and prices are the broker's actual `filled_qty` and `filled_avg_price` (never
the requested ones), kept as exact decimals. Each row carries the strategies the symbol's
target came from, so a fill can be attributed to the strategies that wanted it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal

import pandas as pd

from alchemiser_dagster.domain.broker import OrderInfo
from alchemiser_dagster.domain.constants import CENT
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.portfolio.models import TargetAllocation

LEDGER_COLUMNS = (
    "session", "plan_id", "client_order_id", "order_id", "symbol", "side",
    "filled_qty", "filled_avg_price", "notional", "filled_at", "attribution",
)  # fmt: skip


def build_ledger(execution: ExecutionResult, target: TargetAllocation) -> pd.DataFrame:
    rows = []
    for order in sorted(execution.orders, key=lambda o: o.client_order_id):
        if order.filled_qty <= 0 or order.filled_avg_price is None:
            continue
        shares = target.attribution(order.symbol)
        total = sum(shares.values(), Decimal(0))
        attribution = (
            {name: str((share / total).quantize(Decimal("1e-6"))) for name, share in shares.items()}
            if total
            else {}
        )
        rows.append(
            {
                "session": execution.session.isoformat(),
                "plan_id": execution.plan_id,
                "client_order_id": order.client_order_id,
                "order_id": order.id,
                "symbol": order.symbol,
                "side": order.side,
                "filled_qty": str(order.filled_qty),
                "filled_avg_price": str(order.filled_avg_price),
                "notional": str((order.filled_qty * order.filled_avg_price).quantize(CENT)),
                "filled_at": order.filled_at.isoformat() if order.filled_at else None,
                "attribution": json.dumps(attribution, sort_keys=True),
            }
        )
    return pd.DataFrame(rows, columns=list(LEDGER_COLUMNS)).astype({c: "object" for c in LEDGER_COLUMNS})


def ledger_mismatches(ledger: pd.DataFrame, broker_orders: Iterable[OrderInfo]) -> list[str]:
    """Where the ledger and the broker's own view of our orders disagree (to the cent)."""
    by_id = {o.client_order_id: o for o in broker_orders}
    problems = []
    recorded = set()
    for record in ledger.to_dict("records"):
        coid, qty, notional = (
            str(record["client_order_id"]),
            str(record["filled_qty"]),
            str(record["notional"]),
        )
        recorded.add(coid)
        order = by_id.get(coid)
        if order is None:
            problems.append(f"{coid}: in the ledger, unknown to the broker")
            continue
        broker_notional = (order.filled_qty * (order.filled_avg_price or Decimal(0))).quantize(CENT)
        if Decimal(qty) != order.filled_qty or Decimal(notional) != broker_notional:
            problems.append(
                f"{coid}: ledger {qty} for {notional}, broker {order.filled_qty} for {broker_notional}"
            )
    for coid, order in by_id.items():
        if coid not in recorded and order.filled_qty > 0:
            problems.append(
                f"{coid}: the broker filled {order.filled_qty} {order.symbol}, missing from the ledger"
            )
    return problems

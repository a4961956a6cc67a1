"""What execution did, per plan item and for the run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from alchemiser_dagster.domain.broker import OrderInfo, Side
from alchemiser_dagster.domain.model import Record

ExecutionStatus = Literal["SUCCESS", "PARTIAL", "FAILED", "PLAN_ONLY", "HALTED"]


class OrderOutcome(Record):
    symbol: str
    side: Side
    requested_qty: Decimal
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    arrival_price: Decimal
    slippage_bps: Decimal | None
    client_order_id: str
    order_id: str | None
    status: str
    order_ids: tuple[str, ...] = ()
    adopted: bool
    error_code: int | None = None
    error: str | None = None


class ExecutionResult(Record):
    """SUCCESS: every item filled; PARTIAL: some fill; FAILED: none; PLAN_ONLY: nothing was to
    be placed (past day, market closed); HALTED: the kill switch stopped it."""

    session: dt.date
    plan_id: str
    account_number: str
    status: ExecutionStatus
    reason: str
    outcomes: tuple[OrderOutcome, ...]
    # Every order of ours for the session as the broker reported it when execution ended,
    # whichever run placed it (the fill ledger is built from these).
    orders: tuple[OrderInfo, ...] = ()
    orders_placed: int
    orders_adopted: int
    started_at: dt.datetime
    finished_at: dt.datetime

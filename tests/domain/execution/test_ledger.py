"""The ledger: the broker's actual fills, exact decimals, attribution; mismatches found."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from alchemiser_dagster.domain.broker import OrderInfo
from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.domain.execution.ledger import (
    build_ledger,
    fill_ledger,
    ledger_mismatches,
    read_fill_ledger,
)
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.portfolio.models import StrategySleeve, TargetAllocation

D = dt.date(2024, 6, 28)
T = dt.datetime(2024, 6, 28, 19, 45, tzinfo=dt.UTC)


def order(coid: str, symbol: str, filled: str, price: str | None, status: str = "filled") -> OrderInfo:
    return OrderInfo(
        id=f"id-{coid}", client_order_id=coid, symbol=symbol, side="buy", type="limit", status=status,
        qty=Decimal(10), notional=None, filled_qty=Decimal(filled),
        filled_avg_price=Decimal(price) if price else None, limit_price=Decimal(100), submitted_at=T,
        updated_at=T, filled_at=T if price else None,
    )  # fmt: skip


ORDERS = (
    order("alch-20240628-aaaaaaaa-SPY-b1", "SPY", "0", None, "canceled"),
    order("alch-20240628-aaaaaaaa-SPY-b2", "SPY", "4", "100.02"),
    order("alch-20240628-aaaaaaaa-SPY-b3", "SPY", "6", "100.03"),
    order("alch-20240628-aaaaaaaa-TLT-b1", "TLT", "3.333333", "90.01"),
)
EXECUTION = ExecutionResult(
    session=D, plan_id="a" * 64, account_number="PA1", status="SUCCESS", reason="", outcomes=(), orders=ORDERS,
    orders_placed=4, orders_adopted=0, started_at=T, finished_at=T,
)  # fmt: skip
TARGET = TargetAllocation(
    session=D,
    weights={"SPY": Decimal("0.5"), "TLT": Decimal("0.5")},
    sleeves=(
        StrategySleeve(
            strategy="a.clj", share=Decimal("0.5"), weights={"SPY": Decimal("0.6"), "TLT": Decimal("0.4")}
        ),
        StrategySleeve(
            strategy="b.clj", share=Decimal("0.5"), weights={"SPY": Decimal("0.4"), "TLT": Decimal("0.6")}
        ),
    ),
)


def test_one_row_per_fill_bearing_order_with_actual_quantities() -> None:
    ledger = build_ledger(EXECUTION, TARGET)
    assert list(ledger["client_order_id"]) == [o.client_order_id for o in ORDERS[1:]]
    assert list(ledger["filled_qty"]) == ["4", "6", "3.333333"]
    assert list(ledger["notional"]) == ["400.08", "600.18", "300.03"]  # 3.333333 x 90.01 = 300.0333...
    assert json.loads(ledger["attribution"][0]) == {"a.clj": "0.600000", "b.clj": "0.400000"}


def test_mismatches_are_named() -> None:
    ledger = build_ledger(EXECUTION, TARGET)
    assert ledger_mismatches(ledger, ORDERS) == []
    moved = ORDERS[2].model_copy(update={"filled_qty": Decimal(7)})
    extra = order("alch-20240628-aaaaaaaa-QQQ-b1", "QQQ", "1", "400")
    problems = ledger_mismatches(ledger, (*ORDERS[:2], moved, ORDERS[3], extra))
    assert problems == [
        "alch-20240628-aaaaaaaa-SPY-b3: ledger 6 for 600.18, broker 7 for 700.21",
        "alch-20240628-aaaaaaaa-QQQ-b1: the broker filled 1 QQQ, missing from the ledger",
    ]


def test_the_stored_table_reads_back_as_the_typed_ledger(tmp_path: Path) -> None:
    typed = fill_ledger(EXECUTION, TARGET)
    assert [f.filled_qty for f in typed.fills] == [Decimal(4), Decimal(6), Decimal("3.333333")]
    assert typed.fills[0].attribution == {"a.clj": Decimal("0.6"), "b.clj": Decimal("0.4")}
    assert typed.notional == Decimal("1300.29")
    path = tmp_path / "ledger.parquet"
    build_ledger(EXECUTION, TARGET).to_parquet(path)  # the asset's stored form
    assert read_fill_ledger(pd.read_parquet(path), str(path)) == typed


def test_a_bad_stored_row_is_named() -> None:
    frame = build_ledger(EXECUTION, TARGET)
    frame.loc[1, "filled_qty"] = "six"
    with pytest.raises(StorageError, match=r"(?s)stored\.parquet: fill ledger row 1: .*filled_qty.*six"):
        read_fill_ledger(frame, "stored.parquet")
    with pytest.raises(StorageError, match=r"stored\.parquet: the fill ledger has no column notional"):
        read_fill_ledger(frame.drop(columns=["notional"]), "stored.parquet")

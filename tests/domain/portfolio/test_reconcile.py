"""After the trade: drift warnings and missed-trade errors, computed by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D  # noqa: N817 - reads as money in the hand-computed cases

from alchemiser_dagster.domain.broker import Side
from alchemiser_dagster.domain.execution.models import ExecutionResult, ExecutionStatus, OrderOutcome
from alchemiser_dagster.domain.portfolio.models import TargetAllocation
from alchemiser_dagster.domain.portfolio.reconcile import ReconciliationRow, reconcile
from tests.domain.execution.fake_broker import OPEN_CLOCK, account, position

SESSION = dt.date(2024, 6, 28)
TARGET = TargetAllocation(session=SESSION, weights={"QQQ": D("0.5"), "SPY": D("0.5")}, sleeves=())


def outcome(symbol: str, side: Side, qty: str, filled: str, **extra: object) -> OrderOutcome:
    fields: dict[str, object] = {
        "symbol": symbol, "side": side, "requested_qty": D(qty), "filled_qty": D(filled),
        "filled_avg_price": None, "arrival_price": D("100"), "slippage_bps": None,
        "client_order_id": f"alch-20240628-abcdef01-{symbol}-{side[0]}1", "order_id": None,
        "status": "filled", "adopted": False,
    }  # fmt: skip
    return OrderOutcome.model_validate({**fields, **extra})


def execution(status: ExecutionStatus = "SUCCESS", *outcomes: OrderOutcome) -> ExecutionResult:
    return ExecutionResult(
        session=SESSION, plan_id="abcdef01" * 8, account_number="PA123", status=status, reason="r",
        outcomes=outcomes, orders_placed=len(outcomes), orders_adopted=0,
        started_at=OPEN_CLOCK.timestamp, finished_at=OPEN_CLOCK.timestamp,
    )  # fmt: skip


def test_plan_only_is_not_applicable() -> None:
    result = execution("PLAN_ONLY")
    result = result.model_copy(update={"reason": "the market is closed"})
    rec = reconcile(TARGET, result, account("10000", "250"), [position("SPY", "10", "500")])
    assert rec.applicable is False
    assert rec.note == "nothing was placed: the market is closed"
    assert rec.rows == () and rec.warnings == () and rec.errors == ()
    assert (rec.equity, rec.cash) == (D("10000"), D("250"))


def test_rows_cover_targets_and_held_symbols() -> None:
    # SPY 10 x 495 = 4950 -> 0.495; QQQ 12 x 410 = 4920 -> 0.492; TLT 1 x 90 = 90 -> 0.009
    positions = [position("SPY", "10", "495"), position("QQQ", "12", "410"), position("TLT", "1", "90")]
    rec = reconcile(TARGET, execution(), account("10000", "40"), positions)
    assert rec.applicable is True
    assert rec.rows == (
        ReconciliationRow(
            symbol="QQQ", target_weight=D("0.5"), actual_weight=D("0.492"), drift=D("-0.008"), qty=D("12")
        ),
        ReconciliationRow(
            symbol="SPY", target_weight=D("0.5"), actual_weight=D("0.495"), drift=D("-0.005"), qty=D("10")
        ),
        ReconciliationRow(
            symbol="TLT", target_weight=D("0"), actual_weight=D("0.009"), drift=D("0.009"), qty=D("1")
        ),
    )
    assert rec.warnings == () and rec.errors == ()
    assert rec.note == "3 symbols compared with tolerance 1.00 pp"


def test_drift_beyond_one_point_warns_naming_the_symbol() -> None:
    # SPY 6000 -> 0.6 (+10 pp); QQQ 3900 -> 0.39 (-11 pp)
    positions = [position("SPY", "12", "500"), position("QQQ", "10", "390")]
    rec = reconcile(TARGET, execution(), account("10000", "100"), positions)
    assert rec.warnings == (
        "QQQ: weight 0.3900 vs target 0.5000 (off -11.00 pp)",
        "SPY: weight 0.6000 vs target 0.5000 (off +10.00 pp)",
    )


def test_drift_of_exactly_one_point_does_not_warn() -> None:
    # SPY 5100 -> 0.51, QQQ 4900 -> 0.49: both off by exactly 1 pp
    positions = [position("SPY", "51", "100"), position("QQQ", "49", "100")]
    rec = reconcile(TARGET, execution(), account("10000", "0"), positions)
    assert [r.drift for r in rec.rows] == [D("-0.01"), D("0.01")]
    assert rec.warnings == ()


def test_a_target_not_held_at_all_warns() -> None:
    rec = reconcile(TARGET, execution(), account("10000", "5000"), [position("SPY", "10", "500")])
    assert rec.warnings == ("QQQ: weight 0.0000 vs target 0.5000 (off -50.00 pp)",)
    assert rec.rows[0].qty == D(0) and rec.rows[0].actual_weight == D(0)


def test_an_outcome_that_did_not_fill_is_an_error_with_its_code() -> None:
    positions = [position("SPY", "10", "500"), position("QQQ", "10", "500")]
    result = execution(
        "PARTIAL",
        outcome("SPY", "buy", "10", "10"),
        outcome("QQQ", "buy", "3", "0", status="rejected", error_code=40310000),
        outcome("TLT", "sell", "5", "0", status="canceled"),
    )
    rec = reconcile(TARGET, result, account("10000", "0"), positions)
    assert rec.errors == (
        "QQQ: intended buy of 3 did not happen (rejected, code 40310000)",
        "TLT: intended sell of 5 did not happen (canceled)",
    )
    assert rec.warnings == ()

"""Small helpers that turn domain records into metadata a person can read in the UI."""

import datetime as dt
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd

from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.portfolio.models import (
    AccountSnapshot,
    AllocationComparison,
    RebalancePlan,
    TargetAllocation,
)
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation
from alchemiser_dagster.domain.portfolio.sleeves import SleeveBooks
from alchemiser_dagster.domain.report_markdown import trace_summary, weights_markdown
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation


def session_of(context: dg.AssetExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


def weights_table(weights: Mapping[str, Decimal | float], title: str = "weight") -> dg.MetadataValue:
    return dg.MetadataValue.md(weights_markdown(weights, title))


def seconds_since(started: float) -> float:
    """Seconds since a `time.perf_counter()` reading, to the millisecond."""
    return round(time.perf_counter() - started, 3)


def evaluation_metadata(evaluation: StrategyEvaluation, started: float | None = None) -> dict[str, Any]:
    timing = {} if started is None else {"seconds": seconds_since(started)}
    if evaluation.failure is not None:
        failure = evaluation.failure
        return {
            "strategy": evaluation.strategy,
            "FAILED": f"{failure.location}: {failure.error}: {failure.message}",
            "symbol": failure.symbol or "",
            "indicator": failure.indicator or "",
            **timing,
        }
    return {
        "strategy": evaluation.strategy,
        "weights": weights_table(evaluation.weights),
        "decisions": len(evaluation.trace),
        "trace": dg.MetadataValue.md(trace_summary(evaluation) or "(no decisions)"),
        **timing,
    }


def _table(header: str, align: str, rows: list[str]) -> str:
    return "\n".join([header, align, *rows])


def sleeves_metadata(books: SleeveBooks) -> dict[str, Any]:
    rows = [
        f"| {b.strategy} | {b.setting.label()} | {'yes' if b.traded else 'no'} | {b.reason} |"
        for b in books.sleeves
    ]
    return {
        "sleeves": dg.MetadataValue.md(
            _table("| sleeve | setting | trades | today |", "|---|---|---|---|", rows)
        ),
        "trading": sum(b.traded for b in books.sleeves),
        "origin": books.origin,
        "previous_fills": books.ledger_note,
    }


def target_metadata(target: TargetAllocation, policy: str) -> dict[str, Any]:
    attribution = {
        symbol: ", ".join(f"{s} {float(w) * 100:.2f} %" for s, w in target.attribution(symbol).items())
        for symbol in target.weights
    }
    applied = {
        s.strategy: s.policy + (f" (weights of {s.weights_from})" if s.weights_from else "")
        for s in target.sleeves
        if s.policy is not None
    }
    return {
        "weights": weights_table(target.weights),
        "symbols": len(target.weights),
        "cash_weight": float(target.cash_weight),
        "failed_strategy_policy": policy,
        "policy_applied": dg.MetadataValue.json(applied),
        "trading": dg.MetadataValue.json({s.strategy: f"{s.setting}: {s.trading}" for s in target.sleeves}),
        "attribution": dg.MetadataValue.json(attribution),
    }


def snapshot_metadata(snapshot: AccountSnapshot) -> dict[str, Any]:
    return {
        "equity": float(snapshot.account.equity),
        "cash": float(snapshot.account.cash),
        "positions": len(snapshot.positions),
        "open_orders": len(snapshot.open_orders),
    }


def comparison_metadata(comparison: AllocationComparison) -> dict[str, Any]:
    rows = [
        f"| {r.symbol} | {float(r.current_weight) * 100:.2f} % | {float(r.target_weight) * 100:.2f} % |"
        f" {float(r.delta_value):,.2f} |"
        for r in comparison.rows
    ]
    return {
        "comparison": dg.MetadataValue.md(
            _table("| symbol | current | target | delta $ |", "|---|---:|---:|---:|", rows)
        )
    }


def plan_metadata(plan: RebalancePlan, target: TargetAllocation) -> dict[str, Any]:
    rows = [
        f"| {i.symbol} | {i.side} | {i.qty} | {float(i.est_value):,.2f} | {i.reason} |" for i in plan.items
    ]
    items = _table("| symbol | side | qty | est. value | reason |", "|---|---|---:|---:|---|", rows)
    return {
        "plan_id": plan.plan_id,
        "orders": len(plan.items),
        "skipped": len(plan.skipped),
        "turnover": float(plan.turnover),
        "items": dg.MetadataValue.md(items if plan.items else "(no orders)"),
        "targets": dg.MetadataValue.md(weights_markdown(target.weights)),
    }


def execution_metadata(
    result: ExecutionResult, kill_switch: str, started: float, lock: str
) -> dict[str, Any]:
    return {
        "status": result.status,
        "reason": result.reason,
        "kill_switch": kill_switch,
        "orders_placed": result.orders_placed,
        "orders_adopted": result.orders_adopted,
        "filled": sum(1 for o in result.outcomes if o.filled_qty > 0),
        "seconds": seconds_since(started),
        "lock": lock,
    }


def ledger_metadata(ledger: pd.DataFrame) -> dict[str, Any]:
    return {
        "fills": len(ledger),
        "notional": float(sum((Decimal(v) for v in ledger["notional"]), Decimal(0))),
        "ledger": dg.MetadataValue.md(ledger.drop(columns=["plan_id", "order_id"]).to_markdown(index=False))
        if len(ledger)
        else "(no fills)",
    }


def reconciliation_metadata(result: Reconciliation) -> dict[str, Any]:
    return {
        "applicable": result.applicable,
        "note": result.note,
        "warnings": len(result.warnings),
        "errors": len(result.errors),
        "equity": float(result.equity),
    }


def bars_metadata(bars: pd.DataFrame, symbols: int, longest_window: int, started: float) -> dict[str, Any]:
    return {
        "symbols": symbols,
        "rows": len(bars),
        "first_date": str(bars["date"].min()),
        "longest_window": longest_window,
        "seconds": seconds_since(started),
    }

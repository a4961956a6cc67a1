"""Small helpers that turn domain records into metadata a person can read in the UI."""

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import dagster as dg

from alchemiser_dagster.domain.report import trace_summary, weights_markdown
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation


def session_of(context: dg.AssetExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.partition_key)


def weights_table(weights: Mapping[str, Decimal | float], title: str = "weight") -> dg.MetadataValue:
    return dg.MetadataValue.md(weights_markdown(weights, title))


def evaluation_metadata(evaluation: StrategyEvaluation) -> dict[str, Any]:
    if evaluation.failure is not None:
        failure = evaluation.failure
        return {
            "strategy": evaluation.strategy,
            "FAILED": f"{failure.location}: {failure.error}: {failure.message}",
            "symbol": failure.symbol or "",
            "indicator": failure.indicator or "",
        }
    return {
        "strategy": evaluation.strategy,
        "weights": weights_table(evaluation.weights),
        "decisions": len(evaluation.trace),
        "trace": dg.MetadataValue.md(trace_summary(evaluation) or "(no decisions)"),
    }

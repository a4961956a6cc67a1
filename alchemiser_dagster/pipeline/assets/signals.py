"""signals/<strategy>[D]: one asset per symphony of the allocation config."""

import re
import time
from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from alchemiser_dagster.domain.portfolio.failed_strategy import evaluate_under_policy
from alchemiser_dagster.domain.strategy.allocation import evaluate_on_bars
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation
from alchemiser_dagster.pipeline.metadata import evaluation_metadata, session_of
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import SettingsResource


def strategy_slug(file_name: str) -> str:
    """An asset-key-safe name for a strategy file: `1-KMLM.clj` -> `s1_kmlm`."""
    stem = re.sub(r"\.clj$", "", file_name)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", stem).strip("_").lower()
    return slug if slug[:1].isalpha() else f"s{slug}"


def signal_key(file_name: str) -> dg.AssetKey:
    return dg.AssetKey(["signals", strategy_slug(file_name)])


def build_signal_asset(file_name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=signal_key(file_name),
        partitions_def=nyse_sessions,
        group_name="signals",
        description=f"Weights and decision trace of {file_name} for session D.",
        ins={"market_bars": dg.AssetIn(dg.AssetKey("market_bars"))},
    )
    def _signal(
        context: dg.AssetExecutionContext, market_bars: pd.DataFrame, settings: SettingsResource
    ) -> dg.Output[StrategyEvaluation]:
        started = time.perf_counter()
        path, session = settings.allocation.strategy_path(file_name), session_of(context)
        evaluation = evaluate_under_policy(
            file_name,
            session,
            settings.failed_strategy_policy,
            lambda: evaluate_on_bars(path, market_bars, session),
            context.log.error,
        )
        return dg.Output(evaluation, metadata=evaluation_metadata(evaluation, started))

    return _signal


def evaluations_of(config: AllocationConfig, signals: Mapping[str, Any]) -> dict[str, StrategyEvaluation]:
    """Each configured strategy's evaluation, from a step's inputs keyed by `strategy_slug`."""
    return {name: signals[strategy_slug(name)] for name in config.files}


def build_signal_assets(config: AllocationConfig) -> list[dg.AssetsDefinition]:
    return [build_signal_asset(name) for name in config.files]

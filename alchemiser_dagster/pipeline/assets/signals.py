"""signals/<strategy>[D]: one asset per symphony of the allocation config."""

import re
import time

import dagster as dg
import pandas as pd

from alchemiser_dagster.domain.errors import StrategyError
from alchemiser_dagster.domain.strategy.allocation import evaluate_on_bars, failed_evaluation
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
        path = settings.config().strategy_path(file_name)
        session = session_of(context)
        try:
            evaluation = evaluate_on_bars(path, market_bars, session)
        except StrategyError as error:
            policy = settings.settings().failed_strategy_policy
            if policy == "stop":
                raise
            # Recorded, not swallowed: the failure is the asset's value, its check fails,
            # and target_allocation applies the configured policy to this sleeve.
            context.log.error(f"{error.render()} (failed-strategy policy: {policy})")
            evaluation = failed_evaluation(file_name, session, error)
        metadata = evaluation_metadata(evaluation)
        metadata["seconds"] = round(time.perf_counter() - started, 3)
        return dg.Output(evaluation, metadata=metadata)

    return _signal


def build_signal_assets(config: AllocationConfig) -> list[dg.AssetsDefinition]:
    return [build_signal_asset(name) for name in config.files]

"""market_bars[D]: adjusted history plus D's bar for every symbol the strategies read."""

import time

import dagster as dg
import pandas as pd

from alchemiser_dagster.domain.marketdata.session_bars import fetch_session_bars
from alchemiser_dagster.domain.strategy.allocation import required_market_data
from alchemiser_dagster.pipeline.metadata import bars_metadata, session_of
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import BrokerResource, SettingsResource
from alchemiser_dagster.pipeline.retries import retry_when_retryable


@dg.asset(partitions_def=nyse_sessions, group_name="market", kinds={"pandas"})
@retry_when_retryable()
def market_bars(
    context: dg.AssetExecutionContext, broker: BrokerResource, settings: SettingsResource
) -> dg.Output[pd.DataFrame]:
    """Daily bars through D-1 and a pre-close snapshot bar for D (or D's official bar if past)."""
    started = time.perf_counter()
    symbols, longest_window = required_market_data(settings.allocation)
    bars = fetch_session_bars(broker.client(), symbols, session_of(context), longest_window)
    return dg.Output(bars, metadata=bars_metadata(bars, len(symbols), longest_window, started))

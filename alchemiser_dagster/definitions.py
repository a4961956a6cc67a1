"""The Dagster code location: the daily graph for the configured allocation.

`defs` is lazy (`@dg.definitions`): importing this module builds nothing, so the account
locations (accounts_definitions.py), the CLI and the tests import `build_definitions`
without reading the default settings; Dagster (`dg dev`, `dg check defs`, a code server)
calls it when it loads the location. The settings (mode, allocation config, storage base,
limits) are read once, there; assets never look at the mode (see pipeline/resources.py).
With an account (one code location per account of an accounts file, see accounts.py)
every asset and check key gets the prefix `<account>/` and the broker steps use the pool
`broker-<account>`.
"""

import dagster as dg

from alchemiser_dagster.domain.strategy.config import load_allocation_config
from alchemiser_dagster.pipeline.assets.backtest import backtest_job, backtest_report
from alchemiser_dagster.pipeline.assets.execution import (
    build_execution_result_asset,
    build_reconciliation_asset,
    fill_ledger,
)
from alchemiser_dagster.pipeline.assets.market import market_bars
from alchemiser_dagster.pipeline.assets.portfolio import (
    allocation_comparison,
    build_account_snapshot_asset,
    build_sleeves_asset,
    build_target_allocation_asset,
    rebalance_plan,
)
from alchemiser_dagster.pipeline.assets.report import build_daily_report_asset
from alchemiser_dagster.pipeline.assets.signals import build_signal_assets
from alchemiser_dagster.pipeline.checks import (
    ALL_CHECKS,
    build_ledger_check,
    build_risk_checks,
    build_signal_checks,
    report_delivered,
)
from alchemiser_dagster.pipeline.jobs import build_daily_job
from alchemiser_dagster.pipeline.keys import account_key, broker_pool
from alchemiser_dagster.pipeline.resources import build_resources
from alchemiser_dagster.pipeline.schedules import build_daily_schedule
from alchemiser_dagster.pipeline.sensors import build_alert_sensors
from alchemiser_dagster.settings import Settings, load_settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """The graph for the configured allocation; settings are read here, once."""
    settings = settings or load_settings()
    config = load_allocation_config(settings.config)
    pool = broker_pool(settings.account)
    assets = [
        market_bars,
        *build_signal_assets(config),
        build_sleeves_asset(config),
        build_target_allocation_asset(config),
        build_account_snapshot_asset(pool),
        allocation_comparison,
        rebalance_plan,
        build_execution_result_asset(pool),
        fill_ledger,
        build_reconciliation_asset(pool),
        build_daily_report_asset(config),
        backtest_report,
    ]
    checks = [*ALL_CHECKS, report_delivered, *build_signal_checks(config)]
    if settings.account:
        assets, checks = with_key_prefix(assets, checks, settings.account)
    daily_job = build_daily_job(settings.account)
    return dg.Definitions(
        assets=assets,
        # Checks with inputs beyond their asset are built on prefixed keys directly.
        asset_checks=[*checks, *build_risk_checks(settings.account), build_ledger_check(settings.account)],
        jobs=[daily_job, backtest_job],
        # Runs launched from the asset graph or as asset backfills use Dagster's implicit
        # asset job: in-process too (the graph is a short chain; sqlite locks otherwise).
        executor=dg.in_process_executor,
        schedules=[build_daily_schedule(daily_job)],
        sensors=build_alert_sensors(),
        resources=build_resources(settings),
    )


def with_key_prefix(
    assets: list[dg.AssetsDefinition], checks: list[dg.AssetChecksDefinition], prefix: str
) -> tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]]:
    """Every asset key, dependency and check target under `prefix/`, consistently."""
    keys = {key for a in assets for key in a.keys} | {key.asset_key for c in checks for key in c.check_keys}
    replacements = {key: account_key(prefix, key) for key in keys}
    prefixed = [a.with_attributes(asset_key_replacements=replacements) for a in assets]
    prefixed_checks = [
        c.with_attributes(asset_key_replacements=replacements).coerce_to_checks_def() for c in checks
    ]
    return prefixed, prefixed_checks


@dg.definitions
def defs() -> dg.Definitions:
    """The default location (no account), built from the settings in effect when loaded."""
    return build_definitions()

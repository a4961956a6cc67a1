"""The one Dagster `Definitions` object: the daily graph for the configured allocation.

The settings (mode, allocation config, storage base, limits) are read once, here;
assets never look at the mode (see pipeline/resources.py).
"""

import dagster as dg

from alchemiser_dagster.domain.strategy.config import load_allocation_config
from alchemiser_dagster.pipeline.assets.backtest import backtest_job, backtest_report
from alchemiser_dagster.pipeline.assets.execution import (
    execution_result,
    fill_ledger,
    ledger_matches_broker,
    reconciliation,
)
from alchemiser_dagster.pipeline.assets.market import market_bars
from alchemiser_dagster.pipeline.assets.portfolio import (
    account_snapshot,
    allocation_comparison,
    build_target_allocation_asset,
    rebalance_plan,
)
from alchemiser_dagster.pipeline.assets.report import build_daily_report_asset, report_delivered
from alchemiser_dagster.pipeline.assets.signals import build_signal_assets
from alchemiser_dagster.pipeline.checks import ALL_CHECKS, build_signal_checks
from alchemiser_dagster.pipeline.io_manager import ModelIOManager
from alchemiser_dagster.pipeline.jobs import daily_rebalance_job
from alchemiser_dagster.pipeline.resources import broker_resource, notifier_resource, settings_resource
from alchemiser_dagster.pipeline.risk_checks import RISK_CHECKS
from alchemiser_dagster.pipeline.schedules import build_daily_schedule
from alchemiser_dagster.pipeline.sensors import build_alert_sensors
from alchemiser_dagster.settings import Settings, load_settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """The graph for the configured allocation; settings are read here, once."""
    settings = settings or load_settings()
    config = load_allocation_config(settings.config)
    return dg.Definitions(
        assets=[
            market_bars,
            *build_signal_assets(config),
            build_target_allocation_asset(config),
            account_snapshot,
            allocation_comparison,
            rebalance_plan,
            execution_result,
            fill_ledger,
            reconciliation,
            build_daily_report_asset(config),
            backtest_report,
        ],
        asset_checks=[
            *ALL_CHECKS,
            *RISK_CHECKS,
            ledger_matches_broker,
            report_delivered,
            *build_signal_checks(config),
        ],
        jobs=[daily_rebalance_job, backtest_job],
        schedules=[build_daily_schedule(daily_rebalance_job)],
        sensors=build_alert_sensors(daily_rebalance_job),
        resources={
            "io_manager": ModelIOManager(base=settings.storage),
            "broker": broker_resource(settings),
            "settings": settings_resource(settings),
            "notifier": notifier_resource(settings),
        },
    )


defs = build_definitions()

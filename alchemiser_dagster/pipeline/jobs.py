"""The daily job: every asset of the graph for one session, on the in-process executor.

In-process because the graph is a short chain and sqlite-backed instances lock under
the multiprocess executor.
"""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

DAILY_JOB_NAME = "daily_rebalance_job"
BACKTEST_GROUP = "backtest"

# Run monitoring (deploy/prod/dagster.yaml) fails a run still going after this long: the
# walk itself stops at the close, so an hour means something hangs.
MAX_RUNTIME_SECONDS = 3600
ACCOUNT_TAG = "alchemiser/account"


def build_daily_job(account: str | None = None) -> UnresolvedAssetJobDefinition:
    """The daily job; its runs carry the account (for per-account run limits) and a max runtime."""
    return dg.define_asset_job(
        name=DAILY_JOB_NAME,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups(BACKTEST_GROUP),
        executor_def=dg.in_process_executor,
        tags={ACCOUNT_TAG: account or "default", "dagster/max_runtime": str(MAX_RUNTIME_SECONDS)},
        description="Signals, target, snapshot, plan, execution, reconciliation and report"
        " for one NYSE session.",
    )


daily_rebalance_job = build_daily_job()

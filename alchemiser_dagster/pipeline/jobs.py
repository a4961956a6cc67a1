"""The daily job: every asset of the graph for one session, on the in-process executor.

In-process because the graph is a short chain and sqlite-backed instances lock under
the multiprocess executor.
"""

import dagster as dg

DAILY_JOB_NAME = "daily_rebalance_job"
BACKTEST_GROUP = "backtest"

daily_rebalance_job = dg.define_asset_job(
    name=DAILY_JOB_NAME,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(BACKTEST_GROUP),
    executor_def=dg.in_process_executor,
    description="Signals, target, snapshot, plan, execution, reconciliation and report for one NYSE session.",
)

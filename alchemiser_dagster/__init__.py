"""alchemiser-dagster: a daily multi-strategy rebalancer for US equities on Dagster."""

import warnings

# The instance's structured run log (dagster.yaml `python_logs.dagster_handler_config`) is
# a yaml-defined handler, which Dagster 1.13 flags as beta on every instance that builds it
# (twice per CLI run). The Dagster version is pinned exactly, so the warning is known and
# silenced once here, for every process that imports the package.
warnings.filterwarnings("ignore", message="Handling yaml-defined logging configuration is currently in beta")

"""alchemiser-dagster: a daily multi-strategy portfolio rebalancer on Dagster."""

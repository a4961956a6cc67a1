"""The `Broker` protocol over alpaca-py; see `adapter` for how the SDK is tamed."""

from alchemiser_dagster.broker.alpaca.adapter import AlpacaBroker

__all__ = ["AlpacaBroker"]

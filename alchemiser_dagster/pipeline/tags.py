"""Run tag names the pipeline reads that Dagster itself writes."""

from typing import Final

PARTITION_TAG: Final = "dagster/partition"  # the session a run materializes (ISO date)

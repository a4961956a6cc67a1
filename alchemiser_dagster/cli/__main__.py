"""`python -m alchemiser_dagster.cli`: the `alchemiser` command."""

from alchemiser_dagster.cli import main

main()

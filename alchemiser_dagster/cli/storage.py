"""``alchemiser storage prune``: apply the retention setting to stored asset values.

Retention is a setting (``storage_retention_days``, default none: keep everything), applied
only by this command, never by a run. ``--dry-run`` lists what would go and deletes nothing.
"""

import datetime as dt

import click

from alchemiser_dagster.pipeline.retention import delete, expired
from alchemiser_dagster.settings import load_settings


@click.group()
def storage() -> None:
    """Stored asset values: retention."""


@storage.command()
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
def prune(dry_run: bool) -> None:
    """Delete stored values older than storage_retention_days (never a partition's latest)."""
    settings = load_settings()  # errors (a bad setting, unreadable storage) exit 1 via cli.main
    days = settings.storage_retention_days
    if days is None:
        click.echo("storage_retention_days is not set: everything is kept, nothing to prune")
        return
    doomed = expired(settings.storage, days, dt.datetime.now(dt.UTC))
    for version in doomed:
        click.echo(f"{'would delete' if dry_run else 'delete'} {version.path}")
    if not dry_run:
        delete(doomed)
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{verb} {len(doomed)} stored value(s) older than {days} day(s) under {settings.storage};"
        " the latest value of every partition is kept"
    )

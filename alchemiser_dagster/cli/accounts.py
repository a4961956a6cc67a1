"""`alchemiser accounts`: the accounts file, and a Dagster workspace with one location per account."""

import json
from pathlib import Path

import click

from alchemiser_dagster.accounts import load_accounts
from alchemiser_dagster.settings import load_settings


def _accounts_file(path: Path | None) -> Path:
    chosen = path or load_settings().accounts_file
    if chosen is None:
        raise click.UsageError("no accounts file: pass --file or set ALCHEMISER_ACCOUNTS_FILE")
    return chosen


def workspace_yaml(names: list[str], working_directory: str = ".") -> str:
    """A workspace.yaml loading each account as its own code location."""
    lines = ["# One code location per account (alchemiser accounts workspace).", "load_from:"]
    for name in names:
        lines += [
            "  - python_module:",
            "      module_name: alchemiser_dagster.accounts_definitions",
            f"      attribute: {name}",
            f"      location_name: {name}",
            f"      working_directory: {working_directory}",
        ]
    return "\n".join(lines) + "\n"


@click.group()
def accounts() -> None:
    """Broker accounts of the accounts file (ALCHEMISER_ACCOUNTS_FILE)."""


@accounts.command("list")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def list_command(path: Path | None, as_json: bool) -> None:
    """Each account: mode, allocation config, where its keys are (references only), its pool."""
    loaded = load_accounts(_accounts_file(path))
    rows = [
        {
            "name": a.name,
            "mode": a.mode,
            "config": str(a.config),
            "api_key_secret": a.api_key_secret,
            "secret_key_secret": a.secret_key_secret,
            "pool": a.pool,
        }
        for a in loaded.accounts
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        click.echo(f"{row['name']:<16} {row['mode']:<9} {row['pool']:<24} {row['config']}")


@accounts.command("workspace")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--working-directory", default=".", show_default=True)
def workspace_command(path: Path | None, working_directory: str) -> None:
    """Print a workspace.yaml with one code location per account."""
    loaded = load_accounts(_accounts_file(path))
    click.echo(workspace_yaml(loaded.names, working_directory), nl=False)


@accounts.command("pools")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--limit", default=1, show_default=True, type=click.IntRange(min=1))
def pools_command(path: Path | None, limit: int) -> None:
    """Create each account's broker pool in the Dagster instance (DAGSTER_HOME), once, before
    the first run.

    Dagster creates a pool from `default_limit` only when it first sees a queued run using it,
    and in that same pass it does not yet block on it: runs of one account queued together
    (a backfill on a new instance) would all start. A pool that already exists keeps its limit.
    """
    import dagster as dg

    loaded = load_accounts(_accounts_file(path))
    with dg.DagsterInstance.get() as instance:
        existing = instance.event_log_storage.get_concurrency_keys()
        for account in loaded.accounts:
            if account.pool in existing:
                slots = instance.event_log_storage.get_concurrency_info(account.pool).slot_count
                click.echo(f"{account.pool}: exists, limit {slots}")
                continue
            instance.event_log_storage.set_concurrency_slots(account.pool, limit)
            click.echo(f"{account.pool}: created, limit {limit}")

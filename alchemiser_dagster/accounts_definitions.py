"""One code location per account of the accounts file (`ALCHEMISER_ACCOUNTS_FILE`).

A workspace entry names the account as the attribute to load:

    load_from:
      - python_module: {module_name: alchemiser_dagster.accounts_definitions, attribute: alice,
                        location_name: alice, working_directory: .}

`alchemiser accounts workspace` prints such a workspace for every account of the file.
Each location builds only its own account's graph, in its own process, so accounts never
share a broker resource, and an asset backfill over several accounts runs per account.
Nothing is built at import, the default location's graph never (definitions.py is lazy).
"""

import dagster as dg

from alchemiser_dagster.accounts import account_settings, load_accounts
from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.settings import load_settings


def definitions_for(name: str) -> dg.Definitions:
    shared = load_settings()
    if shared.accounts_file is None:
        raise ConfigError("ALCHEMISER_ACCOUNTS_FILE is not set: no accounts to load")
    account = load_accounts(shared.accounts_file).get(name)
    return build_definitions(account_settings(shared, account))


def __getattr__(name: str) -> dg.Definitions:
    if name.startswith("__"):
        raise AttributeError(name)
    return definitions_for(name)

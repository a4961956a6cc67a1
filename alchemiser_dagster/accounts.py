"""Many broker accounts: an accounts file, and the settings of each account.

An accounts file (TOML) lists the accounts; each is one Dagster code location with its own
asset graph under the key prefix `<name>/`, its own daily job and schedule, its own broker
pool `broker-<name>`, and its own stand-in state in embedded mode:

    [[accounts]]
    name = "alice"                       # lower case, digits, underscores
    mode = "paper"                       # embedded | paper | live
    config = "strategies/allocations.prod.json"   # relative to this file
    api_key_secret = "aws-sm:alchemiser/alice#api_key"
    secret_key_secret = "aws-sm:alchemiser/alice#secret_key"
    # live_confirm, broker_url, failed_strategy_policy, planning, risk, execution: optional

Everything else (storage, alerts, logs) comes from the shared settings. The file holds
references to keys, never keys.
"""

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.secrets import validate_reference
from alchemiser_dagster.settings import Settings

ACCOUNT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
OVERRIDABLE = ("failed_strategy_policy", "planning", "risk", "execution")


class Account(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    name: str
    mode: Literal["embedded", "paper", "live"] = "paper"
    config: Path
    api_key_secret: str = "env:ALPACA_API_KEY"
    secret_key_secret: str = "env:ALPACA_SECRET_KEY"
    live_confirm: str | None = None
    broker_url: str | None = None
    failed_strategy_policy: Literal["stop", "cash", "last_target"] | None = None
    planning: dict[str, Any] | None = None
    risk: dict[str, Any] | None = None
    execution: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ACCOUNT_NAME.match(value):
            raise ValueError("must be lower case letters, digits and underscores, starting with a letter")
        return value

    @field_validator("api_key_secret", "secret_key_secret")
    @classmethod
    def _reference(cls, value: str) -> str:
        return validate_reference(value)

    @property
    def pool(self) -> str:
        return f"broker-{self.name}"


class AccountsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    accounts: tuple[Account, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "AccountsFile":
        names = [a.name for a in self.accounts]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"account names must be unique: {', '.join(duplicates)}")
        return self

    def get(self, name: str) -> Account:
        for account in self.accounts:
            if account.name == name:
                return account
        raise ConfigError(f"no account {name!r} in the accounts file (have: {', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.accounts]


def load_accounts(path: Path) -> AccountsFile:
    """Read and validate the accounts file; config paths become absolute (next to the file)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the accounts file: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from error
    try:
        accounts = AccountsFile.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(_describe(e["loc"], e["msg"], raw) for e in error.errors())
        raise ConfigError(f"{path}: {problems}") from error
    resolved = tuple(
        a.model_copy(update={"config": (path.parent / a.config).resolve()}) for a in accounts.accounts
    )
    missing = [f"{a.name}: {a.config}" for a in resolved if not a.config.is_file()]
    if missing:
        raise ConfigError(f"{path}: allocation configs not found: {'; '.join(missing)}")
    return AccountsFile(accounts=resolved)


def _describe(loc: tuple[int | str, ...], message: str, raw: dict[str, Any]) -> str:
    """`accounts.0.api_key_secret (account 'alice'): message`; the value itself is never shown."""
    where = ".".join(str(part) for part in loc)
    entries = raw.get("accounts")
    if len(loc) > 1 and loc[0] == "accounts" and isinstance(loc[1], int) and isinstance(entries, list):
        entry = entries[loc[1]] if loc[1] < len(entries) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and ACCOUNT_NAME.match(name):
            where += f" (account {name!r})"
    return f"{where}: {message.removeprefix('Value error, ')}"


def account_settings(shared: Settings, account: Account) -> Settings:
    """The shared settings with the account's broker, keys, strategies and limits."""
    update: dict[str, Any] = {
        "account": account.name,
        "mode": account.mode,
        "config": account.config,
        "api_key_secret": account.api_key_secret,
        "secret_key_secret": account.secret_key_secret,
        "live_confirm": account.live_confirm,
        "broker_url": account.broker_url,
        "sim_state": shared.sim_state / account.name,
    }
    values = shared.model_dump()
    for field in OVERRIDABLE:
        override = getattr(account, field)
        if isinstance(override, dict):
            update[field] = {**values[field], **override}
        elif override is not None:
            update[field] = override
    try:
        return Settings.model_validate({**values, **update})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"account {account.name}: {problems}") from error

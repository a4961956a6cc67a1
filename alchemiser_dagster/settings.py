"""Every setting of the product in one validated model, read once from env and file.

Sources, highest first: environment variables (``ALCHEMISER_<NAME>``, nested groups with
``__``, e.g. ``ALCHEMISER_RISK__MAX_ORDER_USD=25000``), then a TOML file
(``ALCHEMISER_SETTINGS_FILE``, default ``alchemiser.toml`` in the working directory when
it exists), then the spec's defaults. A bad value fails with a message naming the
setting and the source. Broker keys are not settings: they stay in environment
variables and reach the broker only at run time.
"""

import datetime as dt
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.execution.engine import ExecutionSettings
from alchemiser_dagster.domain.portfolio.models import PlanningSettings
from alchemiser_dagster.domain.risk.limits import RiskLimits
from alchemiser_dagster.notify.settings import AlertSettings
from alchemiser_dagster.secrets import validate_reference

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SETTINGS_FILE = "alchemiser.toml"

Mode = Literal["embedded", "paper", "live"]
FailedStrategyPolicy = Literal["stop", "cash", "last_target"]


class Settings(BaseSettings):
    """The product's settings; see the README's table for each one's meaning."""

    model_config = SettingsConfigDict(
        env_prefix="ALCHEMISER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    mode: Mode = "embedded"
    config: Path = REPO_ROOT / "strategies" / "allocations.prod.json"
    storage: str = str(REPO_ROOT / ".alchemiser" / "storage")
    sim_state: Path = REPO_ROOT / ".alchemiser" / "sim"
    sim_date: dt.date | None = None
    sim_time: dt.time = dt.time(15, 45)
    broker_url: str | None = None
    api_key_secret: str = "env:ALPACA_API_KEY"
    secret_key_secret: str = "env:ALPACA_SECRET_KEY"
    live_confirm: str | None = None
    accounts_file: Path | None = None
    account: str | None = None
    failed_strategy_policy: FailedStrategyPolicy = "stop"
    broker_timeout_seconds: float = Field(default=10.0, gt=0)
    planning: PlanningSettings = PlanningSettings()
    risk: RiskLimits = RiskLimits()
    execution: ExecutionSettings = ExecutionSettings()
    alerts: AlertSettings = AlertSettings()
    log_dir: Path = REPO_ROOT / ".alchemiser" / "logs"
    log_json_stderr: bool = False
    report_history_sessions: int = Field(default=30, ge=1, le=500)

    @field_validator("api_key_secret", "secret_key_secret")
    @classmethod
    def _reference(cls, value: str) -> str:
        return validate_reference(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, settings_file()))


def settings_file() -> Path | None:
    """The TOML file in effect: ALCHEMISER_SETTINGS_FILE (must exist), else ./alchemiser.toml if present."""
    named = os.environ.get("ALCHEMISER_SETTINGS_FILE")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"ALCHEMISER_SETTINGS_FILE={named}: no such file")
        return path
    default = Path(DEFAULT_SETTINGS_FILE)
    return default if default.is_file() else None


def load_settings() -> Settings:
    """Read and validate the settings; any bad value is a ConfigError naming the setting."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(_describe(e) for e in error.errors())
        source = settings_file()
        where = f" (environment and {source})" if source else " (environment)"
        raise ConfigError(f"invalid settings{where}: {problems}") from error
    except ValueError as error:  # a malformed TOML file or nested JSON value
        raise ConfigError(f"invalid settings: {error}") from error


def _describe(error: object) -> str:
    assert isinstance(error, dict)
    path = ".".join(str(part) for part in error["loc"])
    env_name = "ALCHEMISER_" + "__".join(str(part).upper() for part in error["loc"])
    return f"{path} ({env_name}): {error['msg']} (got {error.get('input')!r})"

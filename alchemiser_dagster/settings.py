"""Every setting of the product in one validated model, read once from env and file.

Sources, highest first: environment variables (``ALCHEMISER_<NAME>``, nested groups with
``__``, e.g. ``ALCHEMISER_RISK__MAX_ORDER_USD=25000``), then a TOML file
(``ALCHEMISER_SETTINGS_FILE``, default ``alchemiser.toml`` in the working directory when
it exists), then the spec's defaults. Default paths, the default settings file and relative
paths given in settings lie in the project folder (``ALCHEMISER_HOME``, else the working
directory; see ``project.py``), never in the installed package. A bad value fails with a message naming the
setting and where it came from (the variable, or the TOML file and key). Broker keys are
not settings: they stay in environment variables and reach the broker only at run time,
so a value rejected for a key-like setting (``*_secret``, ``*key*``, ``*password*``,
``*token*``) or an unknown key is never repeated in a message: it may be a pasted key.
An ``ALCHEMISER_*`` variable that is no setting (a typo such as ``ALCHEMISER_MODEE``) is
reported once per process on stderr with the closest known name; one inside a group
(``ALCHEMISER_EXECUTION__WALKSTEPS``) is not ignored: the load refuses it, naming the closest
setting of the group. Secret references follow the rules of ``secrets.py``.
"""

import datetime as dt
import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.execution.engine import ExecutionSettings
from alchemiser_dagster.domain.portfolio.allocation import FailedStrategyPolicy
from alchemiser_dagster.domain.portfolio.models import PlanningSettings
from alchemiser_dagster.domain.risk.limits import RiskLimits
from alchemiser_dagster.notify.settings import AlertSettings
from alchemiser_dagster.project import HOME_VARIABLE, project_path, project_root
from alchemiser_dagster.secrets import validate_reference

DEFAULT_SETTINGS_FILE = "alchemiser.toml"

Mode = Literal["embedded", "paper", "live"]


class Settings(BaseSettings):
    """The product's settings; see the README's table for each one's meaning."""

    model_config = SettingsConfigDict(
        env_prefix="ALCHEMISER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    mode: Mode = "embedded"
    config: Path = Field(default_factory=lambda: project_path("strategies", "allocations.prod.json"))
    storage: str = Field(default_factory=lambda: str(project_path(".alchemiser", "storage")))
    sim_state: Path = Field(default_factory=lambda: project_path(".alchemiser", "sim"))
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
    log_dir: Path = Field(default_factory=lambda: project_path(".alchemiser", "logs"))
    log_json_stderr: bool = False
    report_history_sessions: int = Field(default=30, ge=1, le=500)
    # Days a stored asset value is kept; None keeps everything. Applied only by
    # `alchemiser storage prune`, never by a run.
    storage_retention_days: int | None = Field(default=None, ge=1)

    @field_validator("config", "sim_state", "log_dir", "accounts_file")
    @classmethod
    def _in_the_project(cls, value: Path | None) -> Path | None:
        """A relative path means the same file from any working directory: the project's."""
        return value if value is None else project_root() / value

    @field_validator("storage")
    @classmethod
    def _storage_in_the_project(cls, value: str) -> str:
        """A local relative base lies in the project folder; a URL (s3://...) is kept as is."""
        return value if "://" in value else str(project_root() / value)

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
    """The TOML file in effect: ALCHEMISER_SETTINGS_FILE (must exist), else the project's alchemiser.toml."""
    named = os.environ.get("ALCHEMISER_SETTINGS_FILE")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"ALCHEMISER_SETTINGS_FILE={named}: no such file")
        return path
    # Named as the user knows it: relative when the project is the working directory.
    default = (
        project_path(DEFAULT_SETTINGS_FILE) if HOME_VARIABLE in os.environ else Path(DEFAULT_SETTINGS_FILE)
    )
    return default if default.is_file() else None


ENV_PREFIX = "ALCHEMISER_"
# Variables read outside the settings model (deployment and tooling), so they are not typos.
OTHER_VARIABLES = frozenset(
    {
        "ALCHEMISER_SETTINGS_FILE",
        HOME_VARIABLE,
        "ALCHEMISER_LOCATION",
        "ALCHEMISER_CORPUS",
        "ALCHEMISER_SHARED",
        "ALCHEMISER_RUN_TASK_DEFINITION",
        "ALCHEMISER_PG_PASSWORD_SECRET_ARN",
        "ALCHEMISER_ECS_CLUSTER",
    }
)
SECRET_WORDS = ("secret", "key", "password", "token")

_log = logging.getLogger(__name__)
_warned: set[str] = set()


def load_settings() -> Settings:
    """Read and validate the settings; any bad value is a ConfigError naming the setting."""
    warn_unknown_variables(os.environ)
    try:
        return Settings()
    except ValidationError as error:
        source = settings_file()
        problems = "; ".join(_describe(e, source, os.environ) for e in error.errors())
        where = f" (environment and {source})" if source else " (environment)"
        raise ConfigError(f"invalid settings{where}: {problems}") from error
    except ValueError as error:  # a malformed TOML file or nested JSON value
        raise ConfigError(f"invalid settings: {_name_the_source(error)}") from error


def known_variables() -> frozenset[str]:
    """Every ALCHEMISER_* name the product reads: one per setting, one per nested setting."""
    names = set(OTHER_VARIABLES)
    for name, field in Settings.model_fields.items():
        names.add(ENV_PREFIX + name.upper())
        group = field.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            names.update(f"{ENV_PREFIX}{name.upper()}__{sub.upper()}" for sub in group.model_fields)
    return frozenset(names)


def _group(name: str) -> type[BaseModel] | None:
    """The model of the settings group `name` (planning, risk, ...), None for a plain setting."""
    field = Settings.model_fields.get(name.lower())
    group = field.annotation if field is not None else None
    return group if isinstance(group, type) and issubclass(group, BaseModel) else None


def _refused_by_load(suffix: str) -> bool:
    """A nested name under a group that forbids unknown keys: the load fails on it (and names it)."""
    group_name, delimiter, _ = suffix.partition("__")
    group = _group(group_name)
    return bool(delimiter) and group is not None and group.model_config.get("extra") == "forbid"


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Each ALCHEMISER_* variable that is no setting and is ignored, with the closest known name.

    A typo inside a group (``ALCHEMISER_EXECUTION__WALKSTEPS``) is not listed: it is not
    ignored, the load refuses it with the closest nested setting (see :func:`_describe`).
    """
    known = known_variables()
    suffixes = sorted(name[len(ENV_PREFIX) :] for name in known)  # the prefix would make all alike
    found = []
    for name in sorted(environ):
        upper = name.upper()
        suffix = upper[len(ENV_PREFIX) :]
        if upper.startswith(ENV_PREFIX) and upper not in known and not _refused_by_load(suffix):
            close = difflib.get_close_matches(suffix, suffixes, n=1, cutoff=0.6)
            found.append((name, ENV_PREFIX + close[0] if close else None))
    return found


def warn_unknown_variables(environ: Mapping[str, str]) -> None:
    """Log a warning (once per process and name) for each unknown ALCHEMISER_* variable."""
    for name, close in unknown_variables(environ):
        if name in _warned:
            continue
        _warned.add(name)
        hint = f"; did you mean {close}?" if close else ""
        _log.warning("%s is not a setting of alchemiser and is ignored%s", name, hint)


def _is_secret_like(loc: Iterable[object]) -> bool:
    return any(word in str(part).lower() for part in loc for word in SECRET_WORDS)


def _describe(error: object, source: Path | None, environ: Mapping[str, str]) -> str:
    """`path (where): message (got value)`; no value for key-like settings or unknown keys."""
    assert isinstance(error, dict)
    loc = tuple(error["loc"])
    path = ".".join(str(part) for part in loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "not a setting" + _closest_setting(loc, environ)
        shown = ""
    elif _is_secret_like(loc):
        shown = "" if "not shown" in message else " (the value is not shown: it may be a key)"
    else:
        shown = f" (got {error.get('input')!r})"
    return f"{path} ({_where(loc, source, environ)}): {message}{shown}"


def _closest_setting(loc: tuple[object, ...], environ: Mapping[str, str]) -> str:
    """`; did you mean X?` for an unknown key, X spelt as the user spelt the key (variable or TOML)."""
    model = Settings if len(loc) == 1 else _group(str(loc[0])) if len(loc) == 2 else None
    fields = list(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(str(loc[-1]).lower(), fields, n=1, cutoff=0.6)
    if not close:
        return ""
    parts = [str(part) for part in loc[:-1]] + close
    variable = ENV_PREFIX + "__".join(str(part).upper() for part in loc)
    if variable in {name.upper() for name in environ}:
        return f"; did you mean {ENV_PREFIX}{'__'.join(part.upper() for part in parts)}?"
    return f"; did you mean {'.'.join(parts)}?"


def _where(loc: tuple[object, ...], source: Path | None, environ: Mapping[str, str]) -> str:
    """The variable that set `loc` (itself or its group as JSON), else the TOML file and key."""
    present = {name.upper() for name in environ}
    names = [str(part).upper() for part in loc if isinstance(part, str)]
    for depth in range(len(names), 0, -1):
        variable = ENV_PREFIX + "__".join(names[:depth])
        if variable in present:
            return variable
    if source is not None:
        return f"key {'.'.join(str(part) for part in loc)} in {source}"
    return ENV_PREFIX + "__".join(names)


def _name_the_source(error: ValueError) -> str:
    """A TOML syntax error names the file; a nested JSON error names the variable."""
    text = str(error)
    for name in Settings.model_fields:
        if f'field "{name}" from source "EnvSettingsSource"' in text:
            return f"{ENV_PREFIX}{name.upper()} is not valid JSON for the group {name!r}"
    source = settings_file()
    return f"{source}: {text}" if source is not None else text

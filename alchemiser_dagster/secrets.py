"""Secret references: settings name where a secret lives, never the secret itself.

A reference is ``env:NAME`` (an environment variable read at the moment of use). The
settings, the run config and every log show the reference only.
"""

import os

from alchemiser_dagster.domain.errors import ConfigError

ENV_SCHEME = "env:"


def validate_reference(reference: str) -> str:
    if not reference.startswith(ENV_SCHEME) or not reference[len(ENV_SCHEME) :]:
        raise ValueError(f"a secret reference looks like 'env:NAME', got {reference!r}")
    return reference


def resolve_secret(reference: str, setting: str) -> str:
    """The secret's value; a missing one is a ConfigError naming the setting and the reference."""
    name = validate_reference(reference)[len(ENV_SCHEME) :]
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"{setting} = {reference!r}: the environment variable {name} is not set")
    return value

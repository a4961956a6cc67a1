"""Secret references: settings name where a secret lives, never the secret itself.

- ``env:NAME``: the environment variable NAME, read at the moment of use.
- ``aws-sm:SECRET_ID`` or ``aws-sm:SECRET_ID#FIELD``: AWS Secrets Manager, read at the moment
  of use (a run's start) with the standard AWS credential chain; ``#FIELD`` picks one field
  of a JSON secret. ``AWS_ENDPOINT_URL`` points it at a compatible server.

The settings, the run config, the UI and every log show the reference only; a failure to
resolve names the setting and the reference, never a value.
"""

import json
import os
from collections.abc import Mapping

from alchemiser_dagster.domain.errors import ConfigError

ENV_SCHEME = "env:"
AWS_SECRETS_MANAGER_SCHEME = "aws-sm:"
SCHEMES = (ENV_SCHEME, AWS_SECRETS_MANAGER_SCHEME)


def validate_reference(reference: str) -> str:
    """The reference unchanged; anything else is refused without repeating it (it may be a key)."""
    scheme = next((s for s in SCHEMES if reference.startswith(s)), None)
    if scheme is None or not reference[len(scheme) :].strip("#"):
        raise ValueError(
            "a secret reference looks like 'env:NAME' or 'aws-sm:SECRET_ID[#FIELD]'; "
            f"got {_shape(reference)} (not shown: if it is a key itself, remove it from the "
            "settings, put it in an environment variable or a secret store, and rotate it if it was shared)"
        )
    return reference


def _shape(value: str) -> str:
    """What a rejected reference looks like without its content: its length and scheme, if any."""
    scheme, colon, _ = value.partition(":")
    if f"{scheme}{colon}" in SCHEMES:
        return f"'{scheme}{colon}' with nothing after it"
    if colon and scheme.isalpha() and len(scheme) <= 10:
        return f"a value of {len(value)} characters with the unknown scheme '{scheme}:'"
    return f"a value of {len(value)} characters with no scheme"


def env_name(reference: str) -> str | None:
    """The variable an ``env:`` reference names (None for other schemes)."""
    return reference[len(ENV_SCHEME) :] if reference.startswith(ENV_SCHEME) else None


def resolve_secret(reference: str, setting: str, environ: Mapping[str, str] | None = None) -> str:
    """The secret's value; a missing one is a ConfigError naming the setting and the reference."""
    validate_reference(reference)
    name = env_name(reference)
    if name is not None:
        value = (os.environ if environ is None else environ).get(name, "").strip()
        if not value:
            raise ConfigError(f"{setting} = {reference!r}: the environment variable {name} is not set")
        return value
    return _from_secrets_manager(reference, setting)


def _from_secrets_manager(reference: str, setting: str) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    secret_id, _, field = reference[len(AWS_SECRETS_MANAGER_SCHEME) :].partition("#")
    try:
        answer = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise ConfigError(f"{setting} = {reference!r}: AWS Secrets Manager answered {code}") from None
    except BotoCoreError as error:
        raise ConfigError(
            f"{setting} = {reference!r}: AWS Secrets Manager unreachable ({type(error).__name__})"
        ) from None
    text = answer.get("SecretString")
    if text is None:
        raise ConfigError(f"{setting} = {reference!r}: the secret is binary, expected a string")
    if not field:
        return str(text).strip()
    try:
        value = json.loads(text)[field]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ConfigError(
            f"{setting} = {reference!r}: the secret is not a JSON object with {field!r}"
        ) from None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{setting} = {reference!r}: field {field!r} is empty or not a string")
    return value.strip()

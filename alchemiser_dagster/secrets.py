"""Secret references: settings name where a secret lives, never the secret itself.

- ``env:NAME``: the environment variable NAME, read at the moment of use.
- ``aws-sm:SECRET_ID`` or ``aws-sm:SECRET_ID#FIELD``: AWS Secrets Manager, read at the moment
  of use (a run's start) with the standard AWS credential chain; ``#FIELD`` picks one field
  of a JSON secret. ``AWS_ENDPOINT_URL`` points it at a compatible server.

The settings, the run config, the UI and every log show the reference only; a failure to
resolve names the setting and the reference, never a value.

A key pasted where a reference belongs (bare, or after a scheme: ``env:PK…``) must never be
printed back, so a reference is accepted only when it has the shape of a name:

- NAME is a conventional variable name (letters, digits, ``_``; not starting with a digit);
- SECRET_ID is a Secrets Manager name or ARN (letters, digits and ``/_+=.@-:``), FIELD a
  JSON key (letters, digits and ``_.-``);
- no part between separators looks like a credential: 16 or more characters mixing letters
  and digits (Alpaca key ids are 20 such characters, secrets 40; ``ALPACA_SECRET_KEY`` or
  ``prod/alpaca-AbCdEf`` are made of short words).

Anything else is refused with its length and scheme only, and every message prints a
reference through :func:`shown`, which applies the same rules.
"""

import json
import os
import re
from collections.abc import Mapping

from alchemiser_dagster.domain.errors import ConfigError

ENV_SCHEME = "env:"
AWS_SECRETS_MANAGER_SCHEME = "aws-sm:"
SCHEMES = (ENV_SCHEME, AWS_SECRETS_MANAGER_SCHEME)

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SECRET_ID = re.compile(r"[A-Za-z0-9/_+=.@:-]+")
SECRET_FIELD = re.compile(r"[A-Za-z0-9_.-]+")
KEY_LIKE_LENGTH = 16  # a name part this long mixing letters and digits is taken for a key
_NAME_PARTS = re.compile(r"[^A-Za-z0-9]+")

_ROTATE = "rotate the key if it was shared"


def validate_reference(reference: str) -> str:
    """The reference unchanged; anything else is refused without repeating it (it may be a key)."""
    problem = reference_problem(reference)
    if problem is not None:
        raise ValueError(problem)
    return reference


def check_reference(reference: str, setting: str) -> str:
    """:func:`validate_reference` for use outside settings validation: a ConfigError naming the setting."""
    problem = reference_problem(reference)
    if problem is not None:
        raise ConfigError(f"{setting}: {problem}")
    return reference


def shown(reference: str) -> str:
    """The reference as a message may print it: quoted when well formed, else only its shape."""
    return repr(reference) if reference_problem(reference) is None else _shape(reference)


def reference_problem(reference: str) -> str | None:
    """What is wrong with a reference, in words that never repeat it; None when it is fine."""
    scheme = next((s for s in SCHEMES if reference.startswith(s)), None)
    rest = reference[len(scheme) :] if scheme else ""
    if scheme is None or not rest.strip("#"):
        return (
            "a secret reference looks like 'env:NAME' or 'aws-sm:SECRET_ID[#FIELD]'; "
            f"got {_shape(reference)} (not shown: if it is a key itself, remove it from the "
            "settings, put it in an environment variable or a secret store, and rotate it if it was shared)"
        )
    if scheme == ENV_SCHEME:
        if _looks_like_a_key(rest):
            return (
                f"got {_shape(reference)}, which looks like a key, not a variable name (not shown): "
                f"put the key in an environment variable and reference that (env:NAME); {_ROTATE}"
            )
        if not VARIABLE_NAME.fullmatch(rest):
            return (
                f"got {_shape(reference)} (not shown): 'env:' takes a variable name of letters, "
                "digits and underscores, not starting with a digit"
            )
        return None
    secret_id, hashed, field = rest.partition("#")
    if _looks_like_a_key(secret_id) or _looks_like_a_key(field):
        return (
            f"got {_shape(reference)}, which looks like a key, not a secret name (not shown): "
            f"store the key in AWS Secrets Manager and reference its name or ARN; {_ROTATE}"
        )
    if not SECRET_ID.fullmatch(secret_id) or (hashed and not SECRET_FIELD.fullmatch(field)):
        return (
            f"got {_shape(reference)} (not shown): 'aws-sm:' takes a secret name or ARN (letters, "
            "digits and /_+=.@-:), optionally '#' and a JSON field (letters, digits and _.-)"
        )
    return None


def _looks_like_a_key(name: str) -> bool:
    """A part of a name (between separators) of 16+ characters mixing letters and digits."""
    return any(
        len(part) >= KEY_LIKE_LENGTH and any(c.isalpha() for c in part) and any(c.isdigit() for c in part)
        for part in _NAME_PARTS.split(name)
    )


def _shape(value: str) -> str:
    """What a rejected reference looks like without its content: its length and scheme, if any."""
    scheme = next((s for s in SCHEMES if value.startswith(s)), None)
    if scheme is not None:
        rest = value[len(scheme) :]
        if not rest.strip("#"):
            return f"'{scheme}' with nothing after it"
        return f"'{scheme}' followed by {len(rest)} characters"
    prefix, colon, _ = value.partition(":")
    if colon and prefix.isalpha() and len(prefix) <= 10:
        return f"a value of {len(value)} characters with the unknown scheme '{prefix}:'"
    return f"a value of {len(value)} characters with no scheme"


def env_name(reference: str) -> str | None:
    """The variable a well-formed ``env:`` reference names (None for other schemes)."""
    if not reference.startswith(ENV_SCHEME):
        return None
    return reference[len(ENV_SCHEME) :] if reference_problem(reference) is None else None


def resolve_secret(reference: str, setting: str, environ: Mapping[str, str] | None = None) -> str:
    """The secret's value; a missing one is a ConfigError naming the setting and the reference."""
    check_reference(reference, setting)
    name = env_name(reference)
    if name is not None:
        value = (os.environ if environ is None else environ).get(name, "").strip()
        if not value:
            raise ConfigError(f"{setting} = {shown(reference)}: the environment variable {name} is not set")
        return value
    return _from_secrets_manager(reference, setting)


def _from_secrets_manager(reference: str, setting: str) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"{setting} = {shown(reference)}"
    secret_id, _, field = reference[len(AWS_SECRETS_MANAGER_SCHEME) :].partition("#")
    try:
        answer = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise ConfigError(f"{where}: AWS Secrets Manager answered {code}") from None
    except BotoCoreError as error:
        raise ConfigError(f"{where}: AWS Secrets Manager unreachable ({type(error).__name__})") from None
    text = answer.get("SecretString")
    if text is None:
        raise ConfigError(f"{where}: the secret is binary, expected a string")
    if not field:
        return str(text).strip()
    try:
        value = json.loads(text)[field]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ConfigError(f"{where}: the secret is not a JSON object with {field!r}") from None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: field {field!r} is empty or not a string")
    return value.strip()

"""Secret references: names are accepted, a key pasted after a scheme is refused and never shown.

A reference is echoed in many messages (a missing variable, a Secrets Manager error, the
broker's "mode needs X set"), so the rules are checked where a reference enters (settings
validation) and again where one is printed (`shown`, `resolve_secret`, `broker_keys`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alchemiser_dagster.broker.session import broker_keys
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.secrets import resolve_secret, shown, validate_reference
from alchemiser_dagster.settings import Settings

ALPACA_KEY_ID = "PKQ7ZJ3M9XW2LB4TN8RC"  # 20 characters, like an Alpaca key id
ALPACA_SECRET = "hN3vX9pQ2rT7yW4zK8mB1cD6fG5jL0sAq2Wx8Zk4"  # 40 characters, like an Alpaca secret
PASTED = "hN3vX9pQ2rT7yW4zK8mB1cD6fG5jL0sA"  # the 32 characters of the reported leak
KEYS = (ALPACA_KEY_ID, ALPACA_SECRET, PASTED)

GOOD = (
    "env:ALPACA_SECRET_KEY",
    "env:APCA_API_SECRET_KEY",
    "env:TEST_SMTP_PASSWORD",
    "env:_private_name2",
    "aws-sm:prod/alpaca#secret",
    "aws-sm:alchemiser/paper-1a2b3c4d#api_key",
    "aws-sm:arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/alpaca-AbCdEf#key",
    "aws-sm:team+bot=ops.alpaca@example-1",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("ALCHEMISER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no alchemiser.toml


def pasted_references(key: str) -> list[str]:
    return [f"env:{key}", f"aws-sm:{key}", f"aws-sm:prod/{key}#secret", f"aws-sm:prod/alpaca#{key}"]


@pytest.mark.parametrize("reference", GOOD)
def test_names_and_arns_are_references(reference: str) -> None:
    assert validate_reference(reference) == reference
    assert shown(reference) == repr(reference)


@pytest.mark.parametrize("reference", [r for key in KEYS for r in pasted_references(key)])
def test_a_key_after_a_scheme_is_refused_and_never_shown(reference: str) -> None:
    key = next(k for k in KEYS if k in reference)
    with pytest.raises(ValueError) as refused:
        validate_reference(reference)
    assert key not in str(refused.value)
    assert "looks like a key" in str(refused.value) and "rotate" in str(refused.value)
    assert key not in shown(reference) and "characters" in shown(reference)
    with pytest.raises(ConfigError) as unresolved:
        resolve_secret(reference, "secret_key_secret", environ={key: "value"})
    assert key not in str(unresolved.value) and str(unresolved.value).startswith("secret_key_secret: ")


@pytest.mark.parametrize(
    "reference", ["env:MY-VARIABLE", "env:1ST_KEY", "env:A B", "aws-sm:prod alpaca", "aws-sm:prod/alpaca#a b"]
)
def test_a_reference_that_is_no_name_is_refused_by_its_shape(reference: str) -> None:
    with pytest.raises(ValueError, match="not shown") as refused:
        validate_reference(reference)
    assert reference[reference.index(":") + 1 :] not in str(refused.value)


def test_a_variable_that_is_not_set_is_named_with_its_setting() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_secret("env:ALPACA_SECRET_KEY_H1_UNSET", "secret_key_secret", environ={})
    assert str(raised.value) == (
        "secret_key_secret = 'env:ALPACA_SECRET_KEY_H1_UNSET': "
        "the environment variable ALPACA_SECRET_KEY_H1_UNSET is not set"
    )


def test_the_broker_keys_message_never_prints_a_pasted_key() -> None:
    """Settings copied without validation (model_copy) still cannot echo a key through a reference."""
    settings = Settings(mode="paper").model_copy(update={"secret_key_secret": f"env:{PASTED}"})
    with pytest.raises(ConfigError) as raised:
        broker_keys(settings, environ={"ALPACA_API_KEY": "k"})
    assert PASTED not in str(raised.value) and "secret_key_secret" in str(raised.value)


def test_the_broker_keys_message_names_a_missing_variable() -> None:
    settings = Settings(mode="paper", secret_key_secret="env:APCA_API_SECRET_KEY")
    with pytest.raises(ConfigError, match="paper mode needs APCA_API_SECRET_KEY set in the environment"):
        broker_keys(settings, environ={"ALPACA_API_KEY": "k"})

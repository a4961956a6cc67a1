"""Settings messages: a pasted key is never repeated, each problem names its source, typos warn.

The key test runs the real `alchemiser` command in a subprocess, so everything that could
print the rejected value (our messages, pydantic's, a chained traceback) is covered.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from alchemiser_dagster import settings as settings_module
from alchemiser_dagster.accounts import load_accounts
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.settings import load_settings, unknown_variables

ROOT = Path(__file__).resolve().parent.parent
PASTED_KEY = "PKQ7ZJ3M9XW2LB4TN8RC"  # shaped like an Alpaca key id
PASTED_SECRET = "hN3vX9pQ2rT7yW4zK8mB1cD6fG5jL0sA-secret"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("ALCHEMISER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(settings_module, "_warned", set())


def alchemiser(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALCHEMISER_")}
    return subprocess.run(
        [sys.executable, "-m", "alchemiser_dagster.cli", *args],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_not_echoed(result: subprocess.CompletedProcess[str], *values: str) -> None:
    assert result.returncode == 1, result.stderr
    for value in values:
        assert value not in result.stderr and value not in result.stdout, result.stderr


def test_a_key_pasted_into_the_environment_is_never_echoed(tmp_path: Path) -> None:
    env = {"ALCHEMISER_API_KEY_SECRET": PASTED_KEY, "ALCHEMISER_SECRET_KEY_SECRET": PASTED_SECRET}
    result = alchemiser("killswitch", "status", env=env, cwd=tmp_path)
    assert_not_echoed(result, PASTED_KEY, PASTED_SECRET)
    assert "api_key_secret (ALCHEMISER_API_KEY_SECRET)" in result.stderr
    assert "secret_key_secret (ALCHEMISER_SECRET_KEY_SECRET)" in result.stderr
    assert "env:NAME" in result.stderr  # says what belongs there instead


def test_a_key_pasted_into_the_settings_file_is_never_echoed(tmp_path: Path) -> None:
    toml = tmp_path / "alchemiser.toml"
    toml.write_text(
        f'api_key_secret = "{PASTED_KEY}"\nsecret_key = "{PASTED_SECRET}"\n'
        f'[alerts]\nwebhook_url_secret = "https://hooks.example/{PASTED_SECRET}"\n'
    )
    result = alchemiser("killswitch", "status", env={}, cwd=tmp_path)
    assert_not_echoed(result, PASTED_KEY, PASTED_SECRET)
    assert f"api_key_secret (key api_key_secret in {toml.name})" in result.stderr
    assert "secret_key (key secret_key in" in result.stderr
    assert "did you mean secret_key_secret?" in result.stderr
    assert "alerts.webhook_url_secret" in result.stderr


def test_a_key_pasted_into_an_accounts_file_is_never_echoed(tmp_path: Path) -> None:
    (tmp_path / "allocations.json").write_text("{}")
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        "[[accounts]]\n"
        'name = "alice"\nconfig = "allocations.json"\n'
        f'api_key_secret = "{PASTED_KEY}"\nsecret_key_secret = "{PASTED_SECRET}"\n'
        f'api_key = "{PASTED_KEY}"\n'
    )
    result = alchemiser("accounts", "list", "--file", str(accounts), env={}, cwd=tmp_path)
    assert_not_echoed(result, PASTED_KEY, PASTED_SECRET)
    assert "accounts.0.api_key_secret" in result.stderr and "accounts.0.secret_key_secret" in result.stderr


KEY_40 = "hN3vX9pQ2rT7yW4zK8mB1cD6fG5jL0sAq2Wx8Zk4"  # 40 characters, like an Alpaca secret


@pytest.mark.parametrize("scheme", ["env:", "aws-sm:"])
def test_a_key_pasted_after_a_scheme_into_the_environment_is_never_echoed(
    tmp_path: Path, scheme: str
) -> None:
    """The reported leak: `paper mode needs <key> set in the environment`."""
    env = {"ALCHEMISER_MODE": "paper", "ALCHEMISER_SECRET_KEY_SECRET": scheme + KEY_40}
    args = ("--symbols", "SPY", "--start", "2024-06-03", "--end", "2024-06-28", "--out", "x.parquet")
    result = alchemiser("data", "fetch", *args, env=env, cwd=tmp_path)
    assert_not_echoed(result, KEY_40)
    assert "secret_key_secret (ALCHEMISER_SECRET_KEY_SECRET)" in result.stderr
    assert f"'{scheme}' followed by 40 characters" in result.stderr and "looks like a key" in result.stderr


@pytest.mark.parametrize("scheme", ["env:", "aws-sm:"])
def test_a_key_pasted_after_a_scheme_into_the_settings_file_is_never_echoed(
    tmp_path: Path, scheme: str
) -> None:
    (tmp_path / "alchemiser.toml").write_text(f'api_key_secret = "{scheme}{KEY_40}"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = f"{raised.value} {raised.value.__cause__}"
    assert KEY_40 not in message
    assert "api_key_secret (key api_key_secret in alchemiser.toml)" in str(raised.value)


@pytest.mark.parametrize("scheme", ["env:", "aws-sm:"])
def test_a_key_pasted_after_a_scheme_into_an_accounts_file_is_never_echoed(
    tmp_path: Path, scheme: str
) -> None:
    (tmp_path / "allocations.json").write_text("{}")
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        f'[[accounts]]\nname = "alice"\nconfig = "allocations.json"\nsecret_key_secret = "{scheme}{KEY_40}"\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_accounts(accounts)
    message = f"{raised.value} {raised.value.__cause__}"
    assert KEY_40 not in message
    assert str(raised.value).startswith(f"{accounts}: accounts.0.secret_key_secret (account 'alice'): ")
    result = alchemiser("accounts", "list", "--json", "--file", str(accounts), env={}, cwd=tmp_path)
    assert_not_echoed(result, KEY_40)


def test_an_ordinary_bad_value_is_still_shown() -> None:
    os.environ["ALCHEMISER_MODE"] = "lve"
    try:
        with pytest.raises(ConfigError, match=r"mode \(ALCHEMISER_MODE\): .*\(got 'lve'\)"):
            load_settings()
    finally:
        del os.environ["ALCHEMISER_MODE"]


def test_a_bad_value_from_the_settings_file_names_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "alchemiser.toml").write_text('[risk]\nmax_order_usd = "lots"\n')
    with pytest.raises(
        ConfigError, match=r"risk\.max_order_usd \(key risk\.max_order_usd in alchemiser\.toml\)"
    ):
        load_settings()


def test_a_malformed_settings_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "alchemiser.toml").write_text("mode = \n")
    with pytest.raises(ConfigError, match=r"invalid settings: alchemiser\.toml: "):
        load_settings()


def test_a_malformed_json_group_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALCHEMISER_RISK", "{not json")
    with pytest.raises(ConfigError, match=r"ALCHEMISER_RISK is not valid JSON"):
        load_settings()


def test_unknown_variables_are_named_with_the_closest_setting() -> None:
    environ = {
        "ALCHEMISER_MODEE": "live",
        "ALCHEMISER_RISK__MAX_ORDER_USDD": "5",  # inside a group: the load refuses it, not ignored
        "ALCHEMISER_RISKK__MAX_ORDER_USD": "5",
        "ALCHEMISER_ZZZZZZZZ": "1",
        "ALCHEMISER_MODE": "paper",
        "ALCHEMISER_SETTINGS_FILE": "x.toml",
        "alchemiser_storage": "lower case is a setting too",
        "OTHER": "x",
    }
    assert unknown_variables(environ) == [
        ("ALCHEMISER_MODEE", "ALCHEMISER_MODE"),
        ("ALCHEMISER_RISKK__MAX_ORDER_USD", "ALCHEMISER_RISK__MAX_ORDER_USD"),
        ("ALCHEMISER_ZZZZZZZZ", None),
    ]


def test_a_typo_inside_a_group_is_one_error_naming_the_closest_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Not announced as ignored and then refused: the load refuses it, once, with the fix."""
    monkeypatch.setenv("ALCHEMISER_EXECUTION__WALKSTEPS", "[0.5]")
    with (
        caplog.at_level(logging.WARNING, logger="alchemiser_dagster.settings"),
        pytest.raises(ConfigError) as raised,
    ):
        load_settings()
    assert str(raised.value) == (
        "invalid settings (environment): execution.walksteps (ALCHEMISER_EXECUTION__WALKSTEPS): "
        "not a setting; did you mean ALCHEMISER_EXECUTION__WALK_STEPS?"
    )
    assert not [r for r in caplog.records if "WALKSTEPS" in r.getMessage()]


def test_a_typo_inside_a_group_in_the_settings_file_names_the_closest_key(tmp_path: Path) -> None:
    (tmp_path / "alchemiser.toml").write_text("[execution]\nwalkstep = [0.5]\n")
    with pytest.raises(
        ConfigError,
        match=r"execution\.walkstep \(key execution\.walkstep in alchemiser\.toml\): "
        r"not a setting; did you mean execution\.walk_steps\?",
    ):
        load_settings()


def test_every_variable_named_in_help_and_readme_is_read() -> None:
    """`--help` and the README name only variables the product reads (was ALCHEMISER_SIMDATE)."""
    import click

    from alchemiser_dagster.cli import cli

    texts = {"README.md": (ROOT / "README.md").read_text(encoding="utf-8")}

    def collect(command: click.Command, path: str, parent: click.Context | None) -> None:
        context = click.Context(command, info_name=path.rsplit(" ", 1)[-1], parent=parent)
        texts[path] = command.get_help(context)
        if isinstance(command, click.Group):
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                assert sub is not None
                collect(sub, f"{path} {name}", context)

    collect(cli, "alchemiser", None)
    known = settings_module.known_variables()
    deliberate = {"ALCHEMISER_MODEE", "ALCHEMISER_EXECUTION__WALKSTEPS"}  # the README's typo examples
    unknown = {
        (where, name)
        for where, text in texts.items()
        for name in re.findall(r"ALCHEMISER_[A-Z0-9_]*[A-Z0-9]", text)
        if name not in known and name not in deliberate and not any(k.startswith(name + "__") for k in known)
    }
    assert not unknown
    assert "ALCHEMISER_SIM_DATE" in texts["alchemiser data fetch"]


def test_a_typo_warns_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("ALCHEMISER_MODEE", "live")
    with caplog.at_level(logging.WARNING, logger="alchemiser_dagster.settings"):
        assert load_settings().mode == "embedded"
        load_settings()
    warnings = [r.getMessage() for r in caplog.records if "ALCHEMISER_MODEE" in r.getMessage()]
    assert warnings == [
        "ALCHEMISER_MODEE is not a setting of alchemiser and is ignored; did you mean ALCHEMISER_MODE?"
    ]


def test_a_typo_is_reported_on_the_real_commands_stderr(tmp_path: Path) -> None:
    result = alchemiser(
        "killswitch",
        "status",
        env={"ALCHEMISER_MODEE": "live", "ALCHEMISER_STORAGE": str(tmp_path / "s")},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "ALCHEMISER_MODEE is not a setting" in result.stderr and "ALCHEMISER_MODE?" in result.stderr

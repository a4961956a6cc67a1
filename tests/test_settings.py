"""One settings model: defaults from the spec, env over file, every bad value named."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ALCHEMISER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no alchemiser.toml here unless a test writes one


def test_defaults_are_the_specs() -> None:
    s = load_settings()
    assert s.mode == "embedded" and s.failed_strategy_policy == "stop"
    assert (s.planning.cash_reserve_pct, s.planning.min_trade_usd, s.planning.drift_band) == (
        Decimal("0.01"), Decimal("5"), Decimal("0"),
    )  # fmt: skip
    assert s.risk.max_order_usd == Decimal("1000000") and s.risk.max_turnover_pct_equity == Decimal("2.0")
    assert s.execution.deadline_minutes_before_close == 2.0


def test_file_then_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "alchemiser.toml").write_text(
        'mode = "paper"\nfailed_strategy_policy = "cash"\n[risk]\nmax_order_usd = "2500"\nrestricted_symbols = ["tqqq"]\n'
    )
    s = load_settings()
    assert s.mode == "paper" and s.failed_strategy_policy == "cash"
    assert s.risk.max_order_usd == Decimal("2500") and s.risk.restricted_symbols == ("TQQQ",)
    monkeypatch.setenv("ALCHEMISER_RISK__MAX_ORDER_USD", "900")
    monkeypatch.setenv("ALCHEMISER_MODE", "live")
    s = load_settings()
    assert s.risk.max_order_usd == Decimal("900") and s.mode == "live"
    assert s.risk.restricted_symbols == ("TQQQ",)  # the rest of the file still applies


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("ALCHEMISER_MODE", "paperr", "mode (ALCHEMISER_MODE)"),
        ("ALCHEMISER_RISK__MAX_ORDER_USD", "lots", "risk.max_order_usd (ALCHEMISER_RISK__MAX_ORDER_USD)"),
        ("ALCHEMISER_PLANNING__CASH_RESERVE_PCT", "1.5", "planning.cash_reserve_pct"),
        ("ALCHEMISER_FAILED_STRATEGY_POLICY", "hope", "failed_strategy_policy"),
        ("ALCHEMISER_EXECUTION__MAX_POLLS", "0", "execution.max_polls"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="invalid settings") as info:
        load_settings()
    assert fragment in str(info.value) and repr(value) in str(info.value)


def test_named_settings_file_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALCHEMISER_SETTINGS_FILE", "/nowhere/alchemiser.toml")
    with pytest.raises(ConfigError, match=r"/nowhere/alchemiser\.toml"):
        load_settings()


def test_malformed_toml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "alchemiser.toml").write_text("mode = \n")
    with pytest.raises(ConfigError, match="invalid settings"):
        load_settings()

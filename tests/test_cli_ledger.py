"""`alchemiser ledger`: the session's stored fills, read through the graph's IO manager."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from alchemiser_dagster.cli.ledger import ledger
from alchemiser_dagster.domain.broker import OrderInfo, Side
from alchemiser_dagster.domain.execution.ledger import build_ledger
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.portfolio.models import StrategySleeve, TargetAllocation
from alchemiser_dagster.pipeline.io_manager import ModelIOManager
from alchemiser_dagster.pipeline.partitions import nyse_sessions

D = dt.date(2024, 6, 28)
AT = dt.datetime(2024, 6, 28, 19, 45, tzinfo=dt.UTC)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALCHEMISER_SETTINGS_FILE", raising=False)
    monkeypatch.delenv("ALCHEMISER_ACCOUNT", raising=False)
    base = tmp_path / "storage"
    monkeypatch.setenv("ALCHEMISER_STORAGE", str(base))
    return base


def order(coid: str, symbol: str, side: Side, qty: str, price: str) -> OrderInfo:
    return OrderInfo(
        id=f"id-{coid}", client_order_id=coid, symbol=symbol, side=side, type="limit", status="filled",
        qty=Decimal(qty), notional=None, filled_qty=Decimal(qty), filled_avg_price=Decimal(price),
        limit_price=Decimal(price), submitted_at=AT, updated_at=AT, filled_at=AT,
    )  # fmt: skip


def stored_ledger(base: Path, prefix: tuple[str, ...] = ()) -> pd.DataFrame:
    """A ledger built by the domain and stored by the graph's own IO manager."""
    orders = (
        order("alch-20240628-abcdef01-QQQ-b2", "QQQ", "buy", "40.5", "480.12"),
        order("alch-20240628-abcdef01-TLT-s1", "TLT", "sell", "10", "90.5"),
        order("alch-20240628-abcdef01-SPY-b1", "SPY", "buy", "3", "545.25"),
    )
    execution = ExecutionResult(
        session=D, plan_id="abcdef01" * 8, account_number="PA1", status="SUCCESS", reason="3 orders filled",
        outcomes=(), orders=orders, orders_placed=3, orders_adopted=0, started_at=AT, finished_at=AT,
    )  # fmt: skip
    target = TargetAllocation(
        session=D,
        weights={"QQQ": Decimal("0.6"), "SPY": Decimal("0.4")},
        sleeves=(
            StrategySleeve(strategy="growth", share=Decimal("0.75"), weights={"QQQ": Decimal("0.6")}),
            StrategySleeve(
                strategy="core", share=Decimal("0.25"), weights={"QQQ": Decimal("0.2"), "SPY": Decimal("1.6")}
            ),
        ),
    )
    frame = build_ledger(execution, target)

    @dg.asset(key=dg.AssetKey([*prefix, "fill_ledger"]), partitions_def=nyse_sessions)
    def fill_ledger() -> pd.DataFrame:
        return frame

    stored = dg.materialize(
        [fill_ledger], partition_key=D.isoformat(), resources={"io_manager": ModelIOManager(base=str(base))}
    )
    assert stored.success
    return frame


def invoke(*args: str) -> Result:
    return CliRunner().invoke(ledger, list(args))


def test_json_lists_every_stored_fill_with_the_brokers_numbers(storage: Path) -> None:
    frame = stored_ledger(storage)
    result = invoke("--date", D.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    fills = json.loads(result.output)
    assert fills == [
        {"symbol": "QQQ", "side": "buy", "qty": "40.5", "price": "480.12",
         "client_order_id": "alch-20240628-abcdef01-QQQ-b2", "strategy": "growth, core"},
        {"symbol": "SPY", "side": "buy", "qty": "3", "price": "545.25",
         "client_order_id": "alch-20240628-abcdef01-SPY-b1", "strategy": "core"},
        {"symbol": "TLT", "side": "sell", "qty": "10", "price": "90.5",
         "client_order_id": "alch-20240628-abcdef01-TLT-s1", "strategy": ""},
    ]  # fmt: skip
    assert len(fills) == len(frame)


def test_the_table_totals_buys_and_sells(storage: Path) -> None:
    stored_ledger(storage)
    result = invoke("--date", D.isoformat())
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    bought = Decimal("40.5") * Decimal("480.12") + 3 * Decimal("545.25")
    assert first == f"Session {D}: 3 fills, bought {bought:,.2f}, sold 905.00"
    assert "alch-20240628-abcdef01-QQQ-b2" in result.output


def test_an_accounts_ledger_is_read_under_its_prefix(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stored_ledger(storage, prefix=("alice",))
    monkeypatch.setenv("ALCHEMISER_ACCOUNT", "alice")
    result = invoke("--date", D.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == 3


def test_no_stored_ledger_is_an_error_naming_the_file(storage: Path) -> None:
    command = [sys.executable, "-m", "alchemiser_dagster.cli", "ledger", "--date", D.isoformat(), "--json"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "ALCHEMISER_STORAGE": str(storage)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert f"no fill ledger stored for {D}" in line and str(storage / "fill_ledger" / str(D)) in line


def test_a_day_without_a_session_is_refused(storage: Path) -> None:
    result = invoke("--date", "2024-06-29")
    assert result.exit_code != 0 and "not an NYSE session" in result.output

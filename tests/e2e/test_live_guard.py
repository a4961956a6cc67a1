"""The live guard: orders only for the broker's current session while the market is open,
and live mode only with the account number confirmed."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.pipeline.failures import failure_reasons
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
D = dt.date(2024, 6, 28)
CONFIG = ROOT / "strategies" / "allocations.prod.json"


def run(settings: Settings, day: dt.date = D) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    with dg.instance_for_test() as instance:
        return job.execute_in_process(partition_key=day.isoformat(), instance=instance, raise_on_error=False)


def order_count(state: Path) -> int:
    with SimulatorServer(state) as server:
        return len(
            AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url).get_orders(status="all")
        )


def test_market_closed_places_nothing(tmp_path: Path) -> None:
    settings = Settings(
        config=CONFIG,
        storage=str(tmp_path / "s"),
        sim_state=tmp_path / "sim",
        sim_date=D,
        sim_time=dt.time(17, 0),
    )
    result = run(settings)
    assert result.success
    execution = result.asset_value("execution_result")
    assert execution.status == "PLAN_ONLY" and "market is closed" in execution.reason
    assert result.asset_value("rebalance_plan").items  # the plan is still made and visible
    assert order_count(tmp_path / "sim") == 0


def test_partition_other_than_the_brokers_session_places_nothing(tmp_path: Path) -> None:
    settings = Settings(config=CONFIG, storage=str(tmp_path / "s"), sim_state=tmp_path / "sim", sim_date=D)
    result = run(settings, day=dt.date(2024, 6, 27))
    assert result.success
    assert result.asset_value("execution_result").status == "PLAN_ONLY"
    assert order_count(tmp_path / "sim") == 0


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A stand-in playing 'Alpaca live', reached through broker_url with real-looking keys."""
    server = SimulatorServer(
        tmp_path / "live", now=session_time(D), api_key="AKLIVE", secret_key="secret"
    ).start()
    monkeypatch.setenv("ALPACA_API_KEY", "AKLIVE")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "secret")
    yield server
    server.stop()


@pytest.mark.parametrize("confirm", [None, "WRONG-ACCOUNT"])
def test_live_without_the_right_confirmation_fails_before_any_order(
    tmp_path: Path, stand_in: SimulatorServer, confirm: str | None
) -> None:
    settings = Settings(
        mode="live",
        broker_url=stand_in.base_url,
        live_confirm=confirm,
        config=CONFIG,
        storage=str(tmp_path / "s"),
    )
    result = run(settings)
    assert not result.success
    messages = [message for _, message in failure_reasons(result.all_events)]
    assert any("ALCHEMISER_LIVE_CONFIRM" in m for m in messages), messages
    broker = AlpacaBroker("AKLIVE", "secret", base_url=stand_in.base_url)
    assert broker.get_orders(status="all") == []


def test_live_with_the_confirmed_account_trades(tmp_path: Path, stand_in: SimulatorServer) -> None:
    broker = AlpacaBroker("AKLIVE", "secret", base_url=stand_in.base_url)
    number = broker.get_account().account_number
    settings = Settings(
        mode="live",
        broker_url=stand_in.base_url,
        live_confirm=number,
        config=CONFIG,
        storage=str(tmp_path / "s"),
    )
    result = run(settings)
    assert result.success
    assert result.asset_value("execution_result").orders_placed > 0
    assert len(broker.get_orders(status="all")) == result.asset_value("execution_result").orders_placed

"""Failed-strategy policies end to end: stop, cash and last_target on the stand-in."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.domain.portfolio.models import TargetAllocation
from alchemiser_dagster.pipeline.failures import step_failures
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings

D1, D2 = dt.date(2024, 6, 27), dt.date(2024, 6, 28)
GOOD = '(defsymphony "good" {} (asset "SPY"))'
# 2,500 sessions of SPY reach back before the stand-in's data (2018): InsufficientHistory.
FAILING = '(defsymphony "bad" {} (if (> (moving-average-price "SPY" {:window 2500}) 1) [(asset "SPY")] [(asset "TLT")]))'


def write_config(folder: Path, second: str) -> Path:
    (folder / "good.clj").write_text(GOOD)
    (folder / "second.clj").write_text(second)
    config = folder / "alloc.json"
    config.write_text(
        '{"files": ["good.clj", "second.clj"], "allocations": {"good.clj": 0.5, "second.clj": 0.5}}'
    )
    return config


def run(tmp_path: Path, config: Path, day: dt.date, policy: str) -> dg.ExecuteInProcessResult:
    settings = Settings(
        mode="embedded",
        config=config,
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
        sim_date=day,
        failed_strategy_policy=policy,  # type: ignore[arg-type]
    )
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    with dg.instance_for_test() as instance:
        return job.execute_in_process(partition_key=day.isoformat(), instance=instance, raise_on_error=False)


def orders(tmp_path: Path) -> list[tuple[str, str]]:
    with SimulatorServer(tmp_path / "sim") as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        return sorted((o.symbol, o.side) for o in broker.get_orders(status="all"))


def check(result: dg.ExecuteInProcessResult, name: str, asset: str) -> dg.AssetCheckEvaluation:
    (found,) = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == name
        and e.asset_check_evaluation_data.asset_key.to_user_string() == asset
    ]
    return found


def test_stop_fails_the_run_and_places_nothing(tmp_path: Path) -> None:
    result = run(tmp_path, write_config(tmp_path, FAILING), D2, "stop")
    assert not result.success
    failures = step_failures(result.all_events)
    assert [f.where for f in failures] == ["signals__second"]
    message = failures[0].message
    assert "second.clj:1:" in message and "InsufficientHistory" in message
    assert orders(tmp_path) == []


def test_cash_keeps_the_failed_sleeve_in_cash_and_the_check_fails(tmp_path: Path) -> None:
    result = run(tmp_path, write_config(tmp_path, FAILING), D2, "cash")
    assert result.success
    target: TargetAllocation = result.asset_value("target_allocation")
    assert target.weights == {"SPY": Decimal("0.5")} and target.cash_weight == Decimal("0.5")
    assert check(result, "strategy_evaluated", "signals/second").passed is False
    assert check(result, "strategy_evaluated", "signals/good").passed is True
    assert set(orders(tmp_path)) == {("SPY", "buy")}  # one or more walk steps, all SPY
    equity = result.asset_value("reconciliation").equity
    spy = result.asset_value("execution_result").outcomes[0]
    assert spy.filled_qty * spy.filled_avg_price == pytest.approx(
        equity * Decimal("0.495"), rel=Decimal("0.001")
    )


def test_last_target_reuses_the_previous_days_weights(tmp_path: Path) -> None:
    config = write_config(tmp_path, '(defsymphony "second" {} (asset "GLD"))')
    first = run(tmp_path, config, D1, "last_target")
    assert first.success
    assert first.asset_value("target_allocation").weights == {"GLD": Decimal("0.5"), "SPY": Decimal("0.5")}
    (tmp_path / "second.clj").write_text(FAILING)
    second = run(tmp_path, config, D2, "last_target")
    assert second.success
    target: TargetAllocation = second.asset_value("target_allocation")
    (sleeve,) = [s for s in target.sleeves if s.strategy == "second.clj"]
    assert (sleeve.policy, sleeve.weights_from, sleeve.weights) == ("last_target", D1, {"GLD": Decimal(1)})
    assert target.weights == {"GLD": Decimal("0.5"), "SPY": Decimal("0.5")}

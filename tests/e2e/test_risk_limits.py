"""Each pre-trade limit, broken by a real plan, stops the run before execution: zero orders."""

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
D = dt.date(2024, 6, 28)

# The prod config on a fresh $100,000 account buys 4-6 names, the largest at 40 % (TLT).
CASES: list[tuple[str, dict[str, Any]]] = [
    ("order_notional_within_limit", {"max_order_usd": "5000"}),
    ("order_size_within_equity_limit", {"max_order_pct_equity": "0.05"}),
    ("turnover_within_limit", {"max_turnover_pct_equity": "0.5"}),
    ("position_weight_within_limit", {"max_position_weight": "0.3"}),
    ("no_restricted_symbols", {"restricted_symbols": ["TLT"]}),
]


@pytest.mark.parametrize(("rule", "limits"), CASES, ids=[c[0] for c in CASES])
def test_breaking_a_limit_places_nothing(tmp_path: Path, rule: str, limits: dict[str, Any]) -> None:
    settings = Settings(
        config=ROOT / "strategies" / "allocations.prod.json",
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
        sim_date=D,
        risk=limits,  # type: ignore[arg-type]
    )
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(partition_key=D.isoformat(), instance=instance, raise_on_error=False)
    assert not result.success
    evaluations = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.asset_key.to_user_string() == "rebalance_plan"
    }
    assert evaluations[rule].passed is False
    assert [name for name, check in evaluations.items() if not check.passed] == [rule]
    materialized = {
        e.asset_key.to_user_string() for e in result.get_asset_materialization_events() if e.asset_key
    }
    assert "rebalance_plan" in materialized and "execution_result" not in materialized
    with SimulatorServer(tmp_path / "sim") as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        assert broker.get_orders(status="all") == []

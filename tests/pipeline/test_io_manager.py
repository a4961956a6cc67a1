"""The typed IO manager: every model and frame round-trips with its identity; corruption is loud."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from pydantic import BaseModel

from alchemiser_dagster.domain.broker import (
    AccountInfo,
    AssetInfo,
    OrderInfo,
    PositionInfo,
    QuoteInfo,
    TradeInfo,
)
from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.domain.execution.ledger import build_ledger
from alchemiser_dagster.domain.execution.models import ExecutionResult, OrderOutcome
from alchemiser_dagster.domain.portfolio.models import (
    AccountSnapshot,
    AllocationComparison,
    ComparisonRow,
    PlanItem,
    PlanningSettings,
    RebalancePlan,
    SkippedItem,
    StrategySleeve,
    TargetAllocation,
)
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation, ReconciliationRow
from alchemiser_dagster.domain.report import AlertLine, DailyReport, build_daily_report
from alchemiser_dagster.domain.strategy.trace import (
    FilterTrace,
    IfTrace,
    InverseVolatilityTrace,
    OperandValue,
    RankedCandidate,
    StrategyEvaluation,
    VolatilityShare,
)
from alchemiser_dagster.pipeline.io_manager import ModelIOManager
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from tests.stored import latest_stored

D = dt.date(2024, 6, 28)
T = dt.datetime(2024, 6, 28, 19, 45, tzinfo=dt.UTC)
KEY = "2024-06-28"


def samples() -> dict[str, BaseModel | pd.DataFrame]:
    account = AccountInfo(
        account_number="PA1",
        status="ACTIVE",
        currency="USD",
        cash=Decimal("10.5"),
        equity=Decimal("100000.01"),
        buying_power=Decimal("10.5"),
        trading_blocked=False,
        account_blocked=False,
    )
    position = PositionInfo(
        symbol="SPY",
        qty=Decimal("1.5"),
        side="long",
        market_value=Decimal("750.3"),
        avg_entry_price=Decimal("500"),
        current_price=Decimal("500.2"),
    )
    order = OrderInfo(
        id="o1",
        client_order_id="alch-20240628-abcdef12-SPY-b1",
        symbol="SPY",
        side="buy",
        type="market",
        status="filled",
        qty=Decimal("1.5"),
        notional=None,
        filled_qty=Decimal("1.5"),
        filled_avg_price=Decimal("500.01"),
        limit_price=None,
        submitted_at=T,
        updated_at=T,
        filled_at=T,
    )
    snapshot = AccountSnapshot(
        session=D,
        taken_at=T,
        account=account,
        positions=(position,),
        open_orders=(order,),
        assets={
            "SPY": AssetInfo(symbol="SPY", tradable=True, fractionable=True, shortable=True, status="active")
        },
        quotes={
            "SPY": QuoteInfo(
                symbol="SPY",
                bid=Decimal("500.1"),
                ask=Decimal("500.3"),
                bid_size=Decimal(1),
                ask_size=Decimal(2),
                timestamp=T,
            )
        },
        trades={"SPY": TradeInfo(symbol="SPY", price=Decimal("500.2"), size=Decimal(10), timestamp=T)},
    )
    evaluation = StrategyEvaluation(
        strategy="s",
        source="s.clj",
        session=D,
        weights={"SPY": 0.25, "TLT": 0.75},
        options={"rebalance-threshold": 0.1},
        trace=(
            IfTrace(
                node="s.clj:1:2",
                op=">",
                lhs=OperandValue(
                    expr='(rsi "SPY" {:window 10})',
                    value=71.2,
                    symbol="SPY",
                    indicator="rsi",
                    window=10,
                    last_bar_date=D,
                ),
                rhs=OperandValue(expr="70", value=70.0),
                result=True,
                branch="then",
            ),
            FilterTrace(
                node="s.clj:2:3",
                key="(rsi {:window 10})",
                select="top",
                n=1,
                candidates=(
                    RankedCandidate(
                        label="G", score=1.5, rank=1, selected=True, stream_returns=(0.01, -0.02)
                    ),
                ),
            ),
            InverseVolatilityTrace(
                node="s.clj:3:4", window=5, children=(VolatilityShare(label="TLT", sigma=0.4, share=1.0),)
            ),
        ),
    )
    target = TargetAllocation(
        session=D,
        weights={"SPY": Decimal("0.25"), "TLT": Decimal("0.75")},
        sleeves=(
            StrategySleeve(
                strategy="s.clj", share=Decimal(1), weights={"SPY": Decimal("0.25"), "TLT": Decimal("0.75")}
            ),
        ),
    )
    item = PlanItem(
        symbol="SPY",
        side="buy",
        qty=Decimal("1.5"),
        est_price=Decimal("500.2"),
        est_value=Decimal("750.3"),
        current_weight=Decimal(0),
        target_weight=Decimal("0.25"),
        reason="new",
    )
    plan = RebalancePlan(
        plan_id="abc",
        session=D,
        account_number="PA1",
        items=(item,),
        skipped=(SkippedItem(symbol="TLT", reason="no_cash"),),
        turnover=Decimal("750.3"),
        settings=PlanningSettings(),
    )
    outcome = OrderOutcome(
        symbol="SPY",
        side="buy",
        requested_qty=Decimal("1.5"),
        filled_qty=Decimal("1.5"),
        filled_avg_price=Decimal("500.3"),
        arrival_price=Decimal("500.2"),
        slippage_bps=Decimal("2.00"),
        client_order_id="c",
        order_id="o1",
        status="filled",
        adopted=False,
    )
    execution = ExecutionResult(
        session=D,
        plan_id="abc",
        account_number="PA1",
        status="SUCCESS",
        reason="ok",
        outcomes=(outcome,),
        orders_placed=1,
        orders_adopted=0,
        started_at=T,
        finished_at=T,
    )
    reconciliation = Reconciliation(
        session=D,
        plan_id="abc",
        applicable=True,
        note="n",
        equity=Decimal(1),
        cash=Decimal(0),
        rows=(
            ReconciliationRow(
                symbol="SPY",
                target_weight=Decimal("0.25"),
                actual_weight=Decimal("0.24"),
                drift=Decimal("-0.01"),
                qty=Decimal("1.5"),
            ),
        ),
        warnings=("w",),
        errors=(),
    )
    comparison = AllocationComparison(
        session=D,
        equity=Decimal(100),
        deployable=Decimal(99),
        rows=(
            ComparisonRow(
                symbol="SPY",
                qty=Decimal(0),
                price=Decimal(1),
                current_value=Decimal(0),
                current_weight=Decimal(0),
                target_weight=Decimal("0.25"),
                target_value=Decimal("24.75"),
                delta_value=Decimal("24.75"),
            ),
        ),
    )
    report = build_daily_report(
        {"s.clj": evaluation},
        target,
        snapshot,
        comparison,
        plan,
        execution,
        build_ledger(execution, target),
        reconciliation,
        alerts=(AlertLine(severity="WARN", where="x / y", reason="z"),),
    )
    return {
        "snapshot": snapshot,
        "evaluation": evaluation,
        "target": target,
        "comparison": comparison,
        "plan": plan,
        "execution": execution,
        "reconciliation": reconciliation,
        "report": report,
        "bars": pd.DataFrame(
            {
                "symbol": ["SPY", "TLT"],
                "date": [D, D],
                "open": [1.0, 2.0],
                "high": [1.0, 2.0],
                "low": [1.0, 2.0],
                "close": [1.0, 2.0],
                "volume": [10.0, 20.0],
            }
        ),
    }


def build_pair(name: str, value: BaseModel | pd.DataFrame) -> list[dg.AssetsDefinition]:
    @dg.asset(name=f"produce_{name}", partitions_def=nyse_sessions)
    def produce() -> object:
        return value

    @dg.asset(
        name=f"consume_{name}", partitions_def=nyse_sessions, ins={"upstream": dg.AssetIn(f"produce_{name}")}
    )
    def consume(upstream: object) -> None:
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(upstream, value)
        else:
            assert upstream == value and type(upstream) is type(value)

    return [produce, consume]


@pytest.mark.parametrize("name", list(samples()))
def test_every_model_and_frame_round_trips(name: str, tmp_path: Path) -> None:
    value = samples()[name]
    io_manager = ModelIOManager(base=str(tmp_path))
    produce, consume = build_pair(name, value)
    result = dg.materialize([produce, consume], partition_key=KEY, resources={"io_manager": io_manager})
    assert result.success
    suffix = "parquet" if isinstance(value, pd.DataFrame) else "json"
    stored = latest_stored(tmp_path, f"produce_{name}", partition=KEY, suffix=f".{suffix}")
    assert stored.name.endswith(f"-{result.run_id}.{suffix}")
    if suffix == "json":
        envelope = json.loads(stored.read_text())
        assert envelope["schema_version"] == 1
        assert envelope["correlation_id"] == f"{result.run_id}:{KEY}"
        assert envelope["causation_id"] == []


def test_causation_names_the_upstream_materialization(tmp_path: Path) -> None:
    @dg.asset(partitions_def=nyse_sessions)
    def first() -> DailyReport:
        report = samples()["report"]
        assert isinstance(report, DailyReport)
        return report

    @dg.asset(partitions_def=nyse_sessions)
    def second(first: DailyReport) -> DailyReport:
        return first.model_copy(update={"headline": "b"})

    io_manager = ModelIOManager(base=str(tmp_path))
    one = dg.materialize([first], partition_key=KEY, resources={"io_manager": io_manager})
    two = dg.materialize(
        [first.to_source_asset(), second], partition_key=KEY, resources={"io_manager": io_manager}
    )
    envelope = json.loads(latest_stored(tmp_path, "second", partition=KEY).read_text())
    assert envelope["correlation_id"] == f"{two.run_id}:{KEY}"
    assert envelope["causation_id"] == [f"first@{one.run_id}:{KEY}"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"{not json", "corrupted"), (b'{"model": "os:system", "value": {}}', "refusing")],
)
def test_corrupted_file_is_a_clear_error(tmp_path: Path, content: bytes, fragment: str) -> None:
    value = samples()["report"]
    produce, consume = build_pair("report", value)
    io_manager = ModelIOManager(base=str(tmp_path))
    assert dg.materialize([produce], partition_key=KEY, resources={"io_manager": io_manager}).success
    stored = latest_stored(tmp_path, "produce_report", partition=KEY)
    stored.write_bytes(content)
    with pytest.raises(StorageError, match=fragment) as info:
        dg.materialize(
            [produce.to_source_asset(), consume], partition_key=KEY, resources={"io_manager": io_manager}
        )
    assert str(stored) in str(info.value)


def test_missing_upstream_is_a_clear_error(tmp_path: Path) -> None:
    produce, consume = build_pair("report", samples()["report"])
    with pytest.raises(StorageError, match="materialize it first"):
        dg.materialize(
            [produce.to_source_asset(), consume],
            partition_key=KEY,
            resources={"io_manager": ModelIOManager(base=str(tmp_path))},
        )


# --- append-only: a rerun never replaces what an earlier run stored ---------------------------


def test_a_second_run_of_a_partition_adds_a_value_and_keeps_the_first(tmp_path: Path) -> None:
    io_manager = ModelIOManager(base=str(tmp_path))
    plan = samples()["plan"]
    assert isinstance(plan, RebalancePlan)
    rerun_plan = plan.model_copy(update={"plan_id": "rerun"})
    runs = []
    for value in (plan, rerun_plan):
        produce, _ = build_pair("plan", value)
        result = dg.materialize([produce], partition_key=KEY, resources={"io_manager": io_manager})
        assert result.success
        runs.append(result.run_id)
    stored = io_manager.stored_models(["produce_plan"], KEY)
    assert [version.run_id for version, _ in stored] == runs  # oldest first, one per run
    assert [value for _, value in stored] == [plan, rerun_plan]
    assert io_manager.stored_model(["produce_plan"], KEY) == rerun_plan  # "latest" is the newest
    assert len(list((tmp_path / "produce_plan" / KEY).iterdir())) == 2


def test_a_step_loads_what_its_own_run_stored_even_when_another_run_wrote_later(tmp_path: Path) -> None:
    io_manager = ModelIOManager(base=str(tmp_path))
    plan = samples()["plan"]
    assert isinstance(plan, RebalancePlan)
    first_run_plan = plan.model_copy(update={"plan_id": "first"})
    produce, _ = build_pair("plan", first_run_plan)
    assert dg.materialize([produce], partition_key=KEY, resources={"io_manager": io_manager}).success
    version = io_manager.latest(["produce_plan"], KEY)
    assert version is not None and version.run_id is not None
    # A later value from another run: the first run's own value still wins for that run.
    later, _ = build_pair("plan", plan.model_copy(update={"plan_id": "later"}))
    assert dg.materialize([later], partition_key=KEY, resources={"io_manager": io_manager}).success
    own = io_manager.latest(["produce_plan"], KEY, run_id=version.run_id)
    newest = io_manager.latest(["produce_plan"], KEY)
    assert own == version
    assert newest is not None and newest != version
    assert io_manager.read_version(own)[0] == first_run_plan


def test_a_value_stored_by_the_earlier_one_file_layout_is_still_read(tmp_path: Path) -> None:
    """Storage written before the append-only layout: `<asset>/<partition>.json` is the oldest value."""
    io_manager = ModelIOManager(base=str(tmp_path))
    plan = samples()["plan"]
    produce, consume = build_pair("plan", plan)
    assert dg.materialize([produce], partition_key=KEY, resources={"io_manager": io_manager}).success
    value_file = latest_stored(tmp_path, "produce_plan", partition=KEY)
    legacy = tmp_path / "produce_plan" / f"{KEY}.json"
    value_file.rename(legacy)
    (tmp_path / "produce_plan" / KEY).rmdir()
    assert dg.materialize(
        [produce.to_source_asset(), consume], partition_key=KEY, resources={"io_manager": io_manager}
    ).success
    assert io_manager.stored_model(["produce_plan"], KEY) == plan
    # The next run's value is newer than the legacy one, which stays first in the record.
    assert dg.materialize([produce], partition_key=KEY, resources={"io_manager": io_manager}).success
    versions = io_manager.versions(["produce_plan"], KEY)
    assert [v.run_id is None for v in versions] == [True, False]

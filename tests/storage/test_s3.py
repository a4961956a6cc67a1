"""Storage on S3: every stored file of the product against moto's S3 server on loopback.

No mocks: the product's own code (universal-pathlib -> s3fs -> aiobotocore) talks HTTP to
the server, and the assertions read the bucket back through boto3.
"""

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest
from upath import UPath

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.control.alert_log import AlertLog, AlertRecord
from alchemiser_dagster.control.documents import control_path
from alchemiser_dagster.control.execution_journal import ExecutionJournal
from alchemiser_dagster.control.killswitch_store import KillSwitchStore
from alchemiser_dagster.domain.alerts import Alert
from alchemiser_dagster.domain.backtest.engine import BacktestSettings, run_backtest
from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.domain.execution.models import ExecutionResult
from alchemiser_dagster.domain.portfolio.models import RebalancePlan
from alchemiser_dagster.domain.report import DailyReport
from alchemiser_dagster.domain.risk.killswitch import KillSwitchLog
from alchemiser_dagster.domain.strategy.config import load_allocation_config
from alchemiser_dagster.pipeline.io_manager import PARQUET_KEY, ModelIOManager
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.reporting.backtest_files import write_backtest
from alchemiser_dagster.storage import read_bytes, storage_path, write_bytes
from tests.pipeline.test_io_manager import KEY, build_pair, samples
from tests.storage.conftest import S3, clear_s3fs_caches

ROOT = Path(__file__).resolve().parents[2]
D = dt.date(2024, 6, 28)
AT = dt.datetime(2024, 6, 28, 19, 45, tzinfo=dt.UTC)
PREFIX = "alchemiser/storage"


# --- the endpoint ------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"])
def test_the_product_reaches_the_endpoint_named_by_the_standard_aws_variables(
    s3: S3, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv(variable, s3.endpoint)
    clear_s3fs_caches()
    path = storage_path(s3.url(PREFIX, "probe", "written-by-product.json"))
    write_bytes(path, b'{"by": "product"}')
    assert s3.get(f"{PREFIX}/probe/written-by-product.json") == b'{"by": "product"}'
    s3.put(f"{PREFIX}/probe/written-by-boto3.json", b'{"by": "boto3"}')
    assert read_bytes(storage_path(s3.url(PREFIX, "probe", "written-by-boto3.json"))) == b'{"by": "boto3"}'
    assert path.fs.s3.meta.endpoint_url == s3.endpoint  # s3fs's own client, not AWS
    assert path.storage_options == {"use_listings_cache": False}


# --- the IO manager ------------------------------------------------------------------------


def only_key(s3: S3, prefix: str) -> str:
    """The one object stored under `prefix` (a partition's folder holds one value per run)."""
    keys = s3.keys(prefix)
    assert len(keys) == 1, keys
    return keys[0]


def test_every_model_and_frame_round_trips_through_s3(s3: S3) -> None:
    values = samples()  # pydantic models of every kind the graph stores, and a DataFrame
    pairs = {name: build_pair(name, value) for name, value in values.items()}
    io_manager = ModelIOManager(base=s3.url(PREFIX))
    assets = [asset for pair in pairs.values() for asset in pair]
    result = dg.materialize(assets, partition_key=KEY, resources={"io_manager": io_manager})
    assert result.success  # each `consume_*` loaded its value back from S3 and compared it
    events = result.get_asset_materialization_events()
    paths = {e.asset_key: e.materialization.metadata.get("path") for e in events}
    expected = set()
    for name, value in values.items():
        suffix = "parquet" if isinstance(value, pd.DataFrame) else "json"
        key = only_key(s3, f"{PREFIX}/produce_{name}/{KEY}/")
        assert key.endswith(f"-{result.run_id}.{suffix}")
        expected.add(key)
        if suffix == "json":
            identity = json.loads(s3.get(key))
            assert identity["model"].endswith(f":{type(value).__qualname__}")
        else:
            identity = json.loads(pq.read_schema(io.BytesIO(s3.get(key))).metadata[PARQUET_KEY])
        assert identity["schema_version"] == 1
        assert identity["correlation_id"] == f"{result.run_id}:{KEY}"
        assert identity["causation_id"] == []
        assert (identity["asset_key"], identity["partition"]) == (f"produce_{name}", KEY)
        assert paths[pairs[name][0].key] == dg.MetadataValue.path(s3.url(key))
    assert set(s3.keys()) == expected


def test_a_rerun_reads_the_upstream_back_from_s3_and_names_it_as_its_cause(s3: S3) -> None:
    @dg.asset(partitions_def=nyse_sessions)
    def first() -> DailyReport:
        report = samples()["report"]
        assert isinstance(report, DailyReport)
        return report

    @dg.asset(partitions_def=nyse_sessions)
    def second(first: DailyReport) -> DailyReport:
        return first.model_copy(update={"headline": "b"})

    one = dg.materialize(
        [first], partition_key=KEY, resources={"io_manager": ModelIOManager(base=s3.url(PREFIX))}
    )
    clear_s3fs_caches()  # as if the second run were another process: nothing kept in memory
    two = dg.materialize(
        [first.to_source_asset(), second],
        partition_key=KEY,
        resources={"io_manager": ModelIOManager(base=s3.url(PREFIX))},
    )
    assert one.success and two.success
    assert two.asset_value("second") == samples()["report"].model_copy(update={"headline": "b"})  # type: ignore[union-attr]
    envelope = json.loads(s3.get(only_key(s3, f"{PREFIX}/second/{KEY}/")))
    assert envelope["correlation_id"] == f"{two.run_id}:{KEY}"
    assert envelope["causation_id"] == [f"first@{one.run_id}:{KEY}"]
    first_value = only_key(s3, f"{PREFIX}/first/{KEY}/")
    assert json.loads(s3.get(first_value))["correlation_id"] == f"{one.run_id}:{KEY}"


def test_a_missing_partition_is_a_storage_error_naming_the_s3_path(s3: S3) -> None:
    produce, consume = build_pair("report", samples()["report"])
    with pytest.raises(StorageError, match="materialize it first") as info:
        dg.materialize(
            [produce.to_source_asset(), consume],
            partition_key=KEY,
            resources={"io_manager": ModelIOManager(base=s3.url(PREFIX))},
        )
    assert s3.url(PREFIX, "produce_report", KEY) in str(info.value)


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("report", b"{not json", "stored value is corrupted"),
        ("bars", b"PAR1 not a parquet file", "stored table is corrupted"),
    ],
)
def test_a_corrupted_object_is_a_storage_error_naming_it(
    s3: S3, name: str, content: bytes, fragment: str
) -> None:
    value = samples()[name]
    produce, consume = build_pair(name, value)
    io_manager = ModelIOManager(base=s3.url(PREFIX))
    assert dg.materialize([produce], partition_key=KEY, resources={"io_manager": io_manager}).success
    key = only_key(s3, f"{PREFIX}/produce_{name}/{KEY}/")
    s3.put(key, content)  # replaced behind the product's back (another writer, a bad upload)
    with pytest.raises(StorageError, match=fragment) as info:
        dg.materialize(
            [produce.to_source_asset(), consume], partition_key=KEY, resources={"io_manager": io_manager}
        )
    assert s3.url(key) in str(info.value)


def test_stored_lookups_of_other_partitions(s3: S3) -> None:
    io_manager = ModelIOManager(base=s3.url(PREFIX))
    produce, _ = build_pair("plan", samples()["plan"])
    assert dg.materialize([produce], partition_key=KEY, resources={"io_manager": io_manager}).success
    assert io_manager.stored_model(["produce_plan"], KEY) == samples()["plan"]
    assert io_manager.stored_model(["produce_plan"], "2024-06-27") is None
    assert io_manager.stored_frame(["produce_plan"], KEY) is None


def test_a_second_run_of_a_partition_keeps_the_first_value_on_s3(s3: S3) -> None:
    io_manager = ModelIOManager(base=s3.url(PREFIX))
    plan = samples()["plan"]
    assert isinstance(plan, RebalancePlan)
    changed = plan.model_copy(update={"plan_id": "second"})
    for value in (plan, changed):
        produce, _ = build_pair("plan", value)
        assert dg.materialize([produce], partition_key=KEY, resources={"io_manager": io_manager}).success
        clear_s3fs_caches()
    assert len(s3.keys(f"{PREFIX}/produce_plan/{KEY}/")) == 2
    assert [v for _, v in io_manager.stored_models(["produce_plan"], KEY)] == [plan, changed]
    assert io_manager.stored_model(["produce_plan"], KEY) == changed


# --- the daily graph -------------------------------------------------------------------------


def broker_orders(state: Path) -> list[str]:
    with SimulatorServer(state) as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        return sorted(o.client_order_id for o in broker.get_orders(status="all"))


def test_the_daily_graph_on_s3_then_a_rerun_finishes_the_journaled_plan(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alchemiser_dagster.definitions import build_definitions

    monkeypatch.setenv("ALCHEMISER_MODE", "embedded")
    monkeypatch.setenv("ALCHEMISER_STORAGE", s3.url(PREFIX))
    monkeypatch.setenv("ALCHEMISER_SIM_STATE", str(tmp_path / "sim"))
    monkeypatch.setenv("ALCHEMISER_SIM_DATE", D.isoformat())
    monkeypatch.setenv("ALCHEMISER_CONFIG", str(ROOT / "strategies" / "allocations.prod.json"))

    def run() -> dg.ExecuteInProcessResult:
        job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
        with dg.instance_for_test() as instance:
            return job.execute_in_process(partition_key=D.isoformat(), instance=instance)

    first = run()
    assert first.success
    plan: RebalancePlan = first.asset_value("rebalance_plan")
    execution: ExecutionResult = first.asset_value("execution_result")
    assert plan.items and execution.status == "SUCCESS"
    assert execution.orders_placed >= len(plan.items)
    orders = broker_orders(tmp_path / "sim")
    assert len(orders) == execution.orders_placed

    # Every materialized asset is in the bucket under its own path, with the partition's name.
    keys = set(s3.keys())
    materialized = {e.asset_key for e in first.get_asset_materialization_events() if e.asset_key}
    assert len(materialized) >= 10
    for asset_key in materialized:
        folder = f"{PREFIX}/{'/'.join(asset_key.path)}/{D}/"
        stored = [key for key in keys if key.startswith(folder) and not key.endswith(".html")]
        assert len(stored) == 1 and stored[0].endswith(
            (f"-{first.run_id}.json", f"-{first.run_id}.parquet")
        ), asset_key
    assert {f"{PREFIX}/daily_report/{D}.html", f"{PREFIX}/daily_report/{D}-weights.png",
            f"{PREFIX}/daily_report/{D}-equity.png"} <= keys  # fmt: skip
    # Each run's page is kept beside the run's stored report value.
    assert any(
        k.startswith(f"{PREFIX}/daily_report/{D}/") and k.endswith(f"-{first.run_id}.html") for k in keys
    )
    assert s3.get(f"{PREFIX}/daily_report/{D}-weights.png").startswith(b"\x89PNG")
    assert "<html" in s3.get(f"{PREFIX}/daily_report/{D}.html").decode().lower()
    journal_key = f"alchemiser/control/executions/{D}-{plan.account_number}.json"
    assert journal_key in keys
    assert RebalancePlan.model_validate_json(s3.get(journal_key)).plan_id == plan.plan_id
    assert not any(key.startswith(f"{PREFIX}/control/") for key in keys)  # control/ sits beside storage/

    # The rerun (a fresh process as far as S3 goes) finds the journaled plan and places nothing.
    clear_s3fs_caches()
    second = run()
    assert second.success
    rerun: ExecutionResult = second.asset_value("execution_result")
    assert rerun.plan_id == plan.plan_id
    assert rerun.orders_placed == 0 and rerun.orders_adopted == len(plan.items)
    assert broker_orders(tmp_path / "sim") == orders
    # Both runs' values are kept; the first run's execution (the one that traded) is intact.
    values = sorted(s3.keys(f"{PREFIX}/execution_result/{D}/"))
    assert len(values) == 2
    envelopes = [json.loads(s3.get(key)) for key in values]
    assert [e["correlation_id"] for e in envelopes] == [f"{first.run_id}:{D}", f"{second.run_id}:{D}"]
    assert (
        ExecutionResult.model_validate_json(json.dumps(envelopes[0]["value"])).orders_placed
        == execution.orders_placed
    )


# --- the control documents ------------------------------------------------------------------


def test_the_kill_switch_on_s3_survives_a_new_store_and_keeps_its_history(s3: S3) -> None:
    base = s3.url("prefix", "storage")
    store = KillSwitchStore(base)
    assert store.location == s3.url("prefix", "control", "killswitch.json") and not store.is_local
    assert store.current() == "ACTIVE"  # never flipped
    store.flip("HALTED", "broker outage", who="alice", now=AT)
    assert KillSwitchStore(base).current() == "HALTED"
    KillSwitchStore(base).flip("ACTIVE", "all clear", who="bob", now=AT + dt.timedelta(hours=1))
    assert store.current() == "ACTIVE"
    log = KillSwitchLog.model_validate_json(s3.get("prefix/control/killswitch.json"))
    assert [(f.state, f.who, f.why) for f in log.flips] == [
        ("HALTED", "alice", "broker outage"),
        ("ACTIVE", "bob", "all clear"),
    ]
    # A flip made elsewhere (the CLI on another machine) is in force at this store's next read,
    # even after this process listed control/ (a listing cache would answer from then on).
    assert "killswitch.json" in {path.name for path in control_path(base).iterdir()}
    s3.put("prefix/control/killswitch.json", log.with_flip(log.flips[0]).model_dump_json().encode())
    assert store.current() == "HALTED"


@pytest.mark.parametrize("content", [b"{not json", b'{"flips": [{"state": "PAUSED"}]}', b""])
def test_a_corrupted_kill_switch_on_s3_fails_closed(s3: S3, content: bytes) -> None:
    base = s3.url("prefix", "storage")
    s3.put("prefix/control/killswitch.json", content)
    store = KillSwitchStore(base)
    with pytest.raises(StorageError, match="kill-switch file is corrupted") as info:
        store.current()
    assert store.location in str(info.value)
    with pytest.raises(StorageError):
        store.flip("ACTIVE", "start over", who="alice", now=AT)
    assert s3.get("prefix/control/killswitch.json") == content  # nothing overwritten


def test_the_execution_journal_on_s3_keeps_the_first_plan(s3: S3) -> None:
    plan = samples()["plan"]
    assert isinstance(plan, RebalancePlan)
    base = s3.url("prefix", "storage")
    assert ExecutionJournal(base).started(plan.session, plan.account_number) is None
    ExecutionJournal(base).record(plan)
    ExecutionJournal(base).record(plan.model_copy(update={"plan_id": "later"}))
    assert ExecutionJournal(base).started(plan.session, plan.account_number) == plan
    location = ExecutionJournal(base).location(plan.session, plan.account_number)
    assert location == s3.url("prefix", "control", "executions", f"{plan.session}-{plan.account_number}.json")
    s3.put(f"prefix/control/executions/{plan.session}-{plan.account_number}.json", b"{}")
    with pytest.raises(StorageError, match="execution journal is corrupted"):
        ExecutionJournal(base).started(plan.session, plan.account_number)


def alert(n: int, session: dt.date | None = D) -> Alert:
    return Alert(
        alert_id=f"run-{n}:check:weights_sum_to_one",
        kind="check",
        severity="ERROR",
        session=session,
        asset="target_allocation",
        check="weights_sum_to_one",
        step=None,
        reason=f"problem {n}",
        run_id=f"run-{n}",
        run_url=f"http://127.0.0.1:3000/runs/run-{n}",
        occurred_at=AT + dt.timedelta(minutes=n),
    )


def test_the_alert_log_on_s3_records_and_lists_a_session(s3: S3) -> None:
    log = AlertLog(s3.url("prefix", "storage"))
    assert log.for_session(D) == []  # nothing yet: no "folder" exists on S3
    log.record(alert(2), "email")
    log.record(alert(1), "webhook")
    log.record(alert(2), "webhook")
    log.record(alert(3, session=None), "email")
    assert log.delivered(alert(2)) == {"email", "webhook"}
    assert [(r.alert.reason, r.delivered) for r in log.for_session(D)] == [
        ("problem 1", ("webhook",)),
        ("problem 2", ("email", "webhook")),
    ]
    assert all(k.startswith("prefix/control/alerts/") for k in s3.keys("prefix/"))
    assert len(s3.keys(f"prefix/control/alerts/{D}/")) == 2
    assert len(s3.keys("prefix/control/alerts/no-session/")) == 1

    # Records written by another process (a second sensor daemon) are seen at once, even
    # though this process has just listed the folder.
    [record_1, _] = log.for_session(D)
    folder = f"prefix/control/alerts/{D}"
    s3.put(
        f"{folder}/written-elsewhere.json",
        AlertRecord(alert=alert(4), delivered=("email",)).model_dump_json().encode(),
    )
    key_1 = next(
        k for k in s3.keys(f"{folder}/") if AlertRecord.model_validate_json(s3.get(k)).alert == alert(1)
    )
    s3.put(key_1, record_1.model_copy(update={"delivered": ("email", "webhook")}).model_dump_json().encode())
    assert [r.alert.reason for r in log.for_session(D)] == ["problem 1", "problem 2", "problem 4"]
    assert log.delivered(alert(1)) == {"email", "webhook"}


# --- the backtest writer -------------------------------------------------------------------


SWITCH = '(defsymphony "switch" {} (if (> (current-price "AAA") 10) [(asset "AAA")] [(asset "BBB")]))'
DAYS = [dt.date(2024, 6, day) for day in (24, 25, 26, 27, 28)]


def test_the_backtest_writer_to_an_s3_folder(s3: S3, tmp_path: Path) -> None:
    (tmp_path / "switch.clj").write_text(SWITCH)
    (tmp_path / "allocations.json").write_text(
        json.dumps({"files": ["switch.clj"], "allocations": {"switch.clj": 1.0}})
    )
    closes = {"AAA": [20, 22, 8, 9, 12], "BBB": [50, 48, 40, 44, 45]}
    bars = pd.DataFrame(
        [
            {"symbol": s, "date": d, "open": c, "high": c, "low": c, "close": c, "volume": 1000.0}
            for s, series in closes.items()
            for d, c in zip(DAYS, series, strict=True)
        ]
    )
    config = load_allocation_config(tmp_path / "allocations.json")
    result = run_backtest(config, bars, None, None, BacktestSettings(cash=Decimal(10000)))
    inputs = {"config": "allocations.json", "bars": "bars.parquet"}

    paths = write_backtest(
        result, UPath(s3.url("prefix", "storage", "backtests", "run-1")), "Backtest", inputs
    )
    local = write_backtest(result, UPath(tmp_path / "local"), "Backtest", inputs)
    assert set(paths) == set(local)
    for name, path in paths.items():
        key = path.path.removeprefix(f"{s3.bucket}/")
        assert s3.get(key) == local[name].read_bytes(), name  # the same bytes as on a disk
    assert {p.name for p in paths.values()} >= {
        "report.html",
        "metrics.json",
        "equity.parquet",
        "trades.parquet",
    }
    page = read_bytes(storage_path(s3.url("prefix", "storage", "backtests", "run-1", "report.html")))
    assert page is not None and "Backtest" in page.decode()
    metrics = json.loads(s3.get("prefix/storage/backtests/run-1/metrics.json"))
    assert metrics["inputs"] == inputs
    equity = pd.read_parquet(io.BytesIO(s3.get("prefix/storage/backtests/run-1/equity.parquet")))
    assert len(equity) == len(DAYS)


def test_a_write_to_a_missing_bucket_is_a_storage_error_and_creates_nothing(s3: S3) -> None:
    missing = f"{s3.bucket}-missing"
    with pytest.raises(StorageError, match=f"s3://{missing}/prefix/control/killswitch.json: cannot write"):
        KillSwitchStore(f"s3://{missing}/prefix/storage").flip("HALTED", "x", who="alice", now=AT)
    assert missing not in {b["Name"] for b in s3.client.list_buckets()["Buckets"]}

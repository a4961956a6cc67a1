"""A Composer score-JSON export runs in the daily graph as it stands, beside its text form.

The config names the same symphony twice: once as Composer's score JSON (written by
`strategy convert`) and once as its canonical text. The daily job materializes a
`signals/*` asset for each file; both must give exactly the same weights and trading
setting, and the JSON sleeve must appear in target_allocation like any other.
"""

import datetime as dt
import json
from pathlib import Path

import dagster as dg

from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.domain.portfolio.models import TargetAllocation
from alchemiser_dagster.domain.strategy.compiler import parse_symphony
from alchemiser_dagster.domain.strategy.score_writer import to_score_json
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation
from alchemiser_dagster.pipeline.assets.signals import signal_key
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.settings import Settings

TEXT = (
    '(defsymphony "json twin" {:rebalance-frequency :weekly}'
    ' (if (> (rsi "SPY" {:window 10}) 50) [(asset "TQQQ")] [(weight-equal [(asset "BIL") (asset "SPY")])]))'
)
SESSION = dt.date(2024, 6, 5)


def test_a_score_json_symphony_runs_in_the_daily_graph_like_its_text(tmp_path: Path) -> None:
    (tmp_path / "twin.clj").write_text(TEXT)
    score = to_score_json(parse_symphony(TEXT, source="twin.clj"))
    (tmp_path / "twin.json").write_text(json.dumps(score))
    config = tmp_path / "alloc.json"
    config.write_text(
        json.dumps({"files": ["twin.json", "twin.clj"], "allocations": {"twin.json": 0.5, "twin.clj": 0.5}})
    )
    settings = Settings(
        config=config,
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
        sim_date=dt.date(2024, 6, 7),
    )
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(partition_key=SESSION.isoformat(), instance=instance)
    assert result.success
    from_json: StrategyEvaluation = result.asset_value(signal_key("twin.json"))
    from_text: StrategyEvaluation = result.asset_value(signal_key("twin.clj"))
    assert from_json.failure is None and from_json.weights
    assert from_json.weights == from_text.weights
    assert from_json.options.get("rebalance-frequency") == "weekly"
    target: TargetAllocation = result.asset_value("target_allocation")
    by_name = {sleeve.strategy: sleeve for sleeve in target.sleeves}
    assert by_name["twin.json"].weights == by_name["twin.clj"].weights
    assert by_name["twin.json"].trading == by_name["twin.clj"].trading

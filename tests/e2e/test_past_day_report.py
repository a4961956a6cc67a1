"""A past session's daily report says it compares with a later account, not that day's.

The stand-in broker's clock stands in today's session; a run for an earlier session reads
today's account (it only plans), and its report must not pass that off as the day's state.
"""

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from alchemiser_dagster.definitions import build_definitions
from alchemiser_dagster.domain.calendar import latest_session_on_or_before
from alchemiser_dagster.domain.portfolio.models import AccountSnapshot
from alchemiser_dagster.domain.report import DailyReport
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NY = ZoneInfo("America/New_York")


def test_a_past_sessions_report_says_it_compares_with_a_later_account(tmp_path: Path) -> None:
    today = latest_session_on_or_before(dt.datetime.now(NY).date())
    sessions = nyse_sessions.get_partition_keys()
    past = sessions[sessions.index(today.isoformat()) - 3]
    settings = Settings(
        config=ROOT / "strategies" / "allocations.prod.json",
        storage=str(tmp_path / "storage"),
        sim_state=tmp_path / "sim",
    )
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(partition_key=past, instance=instance)
    assert result.success
    snapshot: AccountSnapshot = result.asset_value("account_snapshot")
    report: DailyReport = result.asset_value("daily_report")
    read_on = snapshot.taken_at.astimezone(NY).date()
    assert read_on > dt.date.fromisoformat(past)  # the stand-in's clock is in a later session
    assert report.snapshot_taken_at == snapshot.taken_at
    assert f"as read at {read_on}" in report.account_basis
    assert f"after the session: that later state, not the account of {past}." in report.account_basis

    # What the operator reads: the Dagster page's markdown and the stored HTML page.
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("daily_report")
    ]
    metadata = event.materialization.metadata
    assert report.account_basis in str(metadata["report"].value)
    assert report.account_basis in Path(str(metadata["html"].value)).read_text()

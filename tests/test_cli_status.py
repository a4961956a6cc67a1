"""`alchemiser status` over a real Dagster instance with real runs of the daily job."""

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from click.testing import CliRunner, Result
from dagster._daemon.types import DaemonHeartbeat

from alchemiser_dagster.cli import main
from alchemiser_dagster.cli.status import next_scheduled_run, public_location, status
from alchemiser_dagster.control.killswitch_store import KillSwitchStore
from alchemiser_dagster.domain.calendar import calendar_bounds
from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
from alchemiser_dagster.pipeline.schedules import decide_tick

ROOT = Path(__file__).resolve().parent.parent
NY = ZoneInfo("America/New_York")
UTC = dt.UTC
HINT = "stopped (start it in the UI: Automation -> daily_rebalance_schedule)"


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=NY)


# --- the next scheduled run (pure) ----------------------------------------------------------

NEXT_RUNS = [
    # a normal Tuesday before the run: the same day at 15:45
    ("weekday morning", ny(2026, 12, 8, 10, 0), ny(2026, 12, 8, 15, 45)),
    ("a second before", ny(2026, 12, 8, 15, 44, 59), ny(2026, 12, 8, 15, 45)),
    # at or after the run: the next session
    ("at the run itself", ny(2026, 12, 8, 15, 45), ny(2026, 12, 9, 15, 45)),
    ("weekday evening", ny(2026, 12, 8, 16, 30), ny(2026, 12, 9, 15, 45)),
    # the weekend: Monday
    ("friday evening", ny(2026, 12, 4, 18, 0), ny(2026, 12, 7, 15, 45)),
    ("saturday", ny(2026, 12, 5, 12, 0), ny(2026, 12, 7, 15, 45)),
    # the day before Thanksgiving: the holiday is skipped, the day after is a half day
    ("before thanksgiving", ny(2026, 11, 25, 16, 0), ny(2026, 11, 27, 12, 45)),
    ("half day morning", ny(2026, 11, 27, 9, 0), ny(2026, 11, 27, 12, 45)),
    ("half day after its run", ny(2026, 11, 27, 12, 50), ny(2026, 11, 30, 15, 45)),
    # Christmas Eve is a half day; Christmas (Friday) a holiday; then the weekend
    ("christmas eve after the run", ny(2026, 12, 24, 13, 30), ny(2026, 12, 28, 15, 45)),
    # 2026-07-03 (Friday) is the observed Independence Day; summer time (EDT)
    ("before independence day", ny(2026, 7, 2, 17, 0), ny(2026, 7, 6, 15, 45)),
    # UTC inputs: 20:44 UTC is 15:44 EST, 19:46 UTC is 15:46 EDT
    ("utc input, winter", dt.datetime(2026, 12, 8, 20, 44, tzinfo=UTC), ny(2026, 12, 8, 15, 45)),
    ("utc input, summer", dt.datetime(2026, 7, 6, 19, 46, tzinfo=UTC), ny(2026, 7, 7, 15, 45)),
]


@pytest.mark.parametrize(("after", "expected"), [c[1:] for c in NEXT_RUNS], ids=[c[0] for c in NEXT_RUNS])
def test_next_scheduled_run(after: dt.datetime, expected: dt.datetime) -> None:
    run_at = next_scheduled_run(after)
    assert run_at == expected
    assert run_at is not None and run_at.tzinfo is not None
    assert run_at.utcoffset() == expected.utcoffset()  # New York time, DST included
    # It is a tick the real schedule turns into a run request for that session.
    request = decide_tick(run_at)
    assert isinstance(request, dg.RunRequest) and request.partition_key == run_at.date().isoformat()


def test_next_scheduled_run_in_utc() -> None:
    run_at = next_scheduled_run(ny(2026, 7, 6, 9, 0))
    assert run_at is not None
    assert run_at.astimezone(UTC) == dt.datetime(2026, 7, 6, 19, 45, tzinfo=UTC)
    half_day = next_scheduled_run(ny(2026, 11, 27, 0, 0))
    assert half_day is not None
    assert half_day.astimezone(UTC) == dt.datetime(2026, 11, 27, 17, 45, tzinfo=UTC)


def test_next_scheduled_run_refuses_naive_and_does_not_guess_past_the_calendar() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_scheduled_run(dt.datetime(2026, 12, 8, 10, 0))
    _, last = calendar_bounds()
    assert next_scheduled_run(ny(last.year, last.month, last.day, 23, 0) + dt.timedelta(days=1)) is None


def test_public_location_masks_credentials_in_urls() -> None:
    assert public_location("/srv/alchemiser/storage") == "/srv/alchemiser/storage"
    assert public_location("s3://bucket/prefix/storage") == "s3://bucket/prefix/storage"
    assert public_location("s3://KEY:SECRET@bucket/prefix/storage") == "s3://***@bucket/prefix/storage"


# --- the command over a real instance -------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """A DAGSTER_HOME with real runs of the daily job, and the env the runs used."""

    env: dict[str, str]
    run_ids: dict[str, list[str]]  # partition -> run ids, oldest first
    plan_items: dict[str, int]  # partition -> items in its (latest successful) plan


def make_env(base: Path) -> dict[str, str]:
    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        "DAGSTER_HOME": str(home),
        "ALCHEMISER_MODE": "embedded",
        "ALCHEMISER_STORAGE": str(base / "storage"),
        "ALCHEMISER_SIM_STATE": str(base / "sim"),
        "ALCHEMISER_CONFIG": str(ROOT / "strategies" / "allocations.prod.json"),
    }


def execute(day: str, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    from alchemiser_dagster.definitions import build_definitions

    job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
    with dg.DagsterInstance.get() as instance:
        return job.execute_in_process(partition_key=day, instance=instance, raise_on_error=raise_on_error)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """Past sessions (plan only, no orders): 06-27 ok; 06-28 ok then failed on a $1 order limit;
    07-01 created and never launched (NOT_STARTED)."""
    env = make_env(tmp_path_factory.mktemp("status"))
    run_ids: dict[str, list[str]] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ALCHEMISER_SETTINGS_FILE", raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        first = execute("2024-06-27")
        plan_items = {"2024-06-27": len(first.asset_value("rebalance_plan").items)}
        run_ids["2024-06-27"] = [first.run_id]
        run_ids["2024-06-28"] = [execute("2024-06-28").run_id]
        mp.setenv("ALCHEMISER_RISK__MAX_ORDER_USD", "1")
        run_ids["2024-06-28"].append(execute("2024-06-28", raise_on_error=False).run_id)
        mp.delenv("ALCHEMISER_RISK__MAX_ORDER_USD")

        from alchemiser_dagster.definitions import build_definitions

        job = build_definitions().resolve_job_def(DAILY_JOB_NAME)
        with dg.DagsterInstance.get() as instance:
            created = instance.create_run_for_job(job, tags={"dagster/partition": "2024-07-01"})
        run_ids["2024-07-01"] = [created.run_id]
    yield Instance(env, run_ids, plan_items)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No settings file from the working directory, no inherited ALCHEMISER_* or DAGSTER_HOME."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("ALCHEMISER_") or name == "DAGSTER_HOME":
            monkeypatch.delenv(name)
    return tmp_path


def invoke(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(status, list(args), env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def invoke_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    payload = json.loads(invoke(env, "--json", *args).output)
    assert isinstance(payload, dict)
    return payload


def run_rows(output: str) -> list[list[str]]:
    """The table's rows: session, short run id, status, then the rest."""
    lines = output.split("Runs of daily_rebalance_job:")[1].splitlines()[2:]
    return [line.split() for line in lines if line.startswith("  20")]


def test_lists_the_latest_run_of_each_session_newest_first(runs: Instance, in_tmp: Path) -> None:
    output = invoke(runs.env).output
    assert "latest run of the 3 most recent of 3 sessions with runs" in output
    rows = run_rows(output)
    assert [r[0] for r in rows] == ["2024-07-01", "2024-06-28", "2024-06-27"]
    assert [r[1] for r in rows] == [
        runs.run_ids[s][-1][:8] for s in ("2024-07-01", "2024-06-28", "2024-06-27")
    ]
    assert [r[2] for r in rows] == ["NOT_STARTED", "FAILURE", "SUCCESS"]
    assert [r[-5] for r in rows] == ["1", "2", "1"]  # runs per session
    # never started: no start time, no duration, no outcome; the others show New York start and a duration
    assert rows[0][3:] == ["-", "-", "1", "-", "-", "-", "-"]
    # outcome, plan items, broker orders, traded dollars: past sessions plan only; 06-28 failed
    # at a blocking check before execution
    items = str(runs.plan_items["2024-06-27"])
    assert rows[2][-4:] == ["PLAN_ONLY", items, "0", "0.00"] and int(items) > 0
    assert rows[1][-4:] == ["FAILED", "-", "-", "-"]
    assert rows[1][5] in {"EST", "EDT"} and rows[1][7] == "s"
    # the failed run: the failed step and the root cause, then the failed check and why
    failure = output.split("2024-06-28")[1].split("2024-06-27")[0]
    assert (
        "rebalance_plan_order_notional_within_limit: dagster._core.errors.DagsterAssetCheckFailedError:"
        " 1 blocking asset check failed" in failure
    )
    assert "check rebalance_plan:order_notional_within_limit: TLT: buy of $" in failure
    assert "exceeds max_order_usd $1.00" in failure


def test_sessions_limits_the_list(runs: Instance, in_tmp: Path) -> None:
    output = invoke(runs.env, "--sessions", "2").output
    assert "latest run of the 2 most recent of 3 sessions with runs" in output
    assert [r[0] for r in run_rows(output)] == ["2024-07-01", "2024-06-28"]
    assert [r["session"] for r in invoke_json(runs.env, "--sessions", "1")["runs"]] == ["2024-07-01"]
    bad = CliRunner().invoke(status, ["--sessions", "0"], env=runs.env)
    assert bad.exit_code == 2 and "0 is not in the range x>=1" in bad.output


def test_json_has_the_same_facts(runs: Instance, in_tmp: Path) -> None:
    payload = invoke_json(runs.env)
    assert payload["dagster_home"] == runs.env["DAGSTER_HOME"]
    assert payload["job"] == "daily_rebalance_job" and payload["partitions_with_runs"] == 3
    rows = {r["session"]: r for r in payload["runs"]}
    assert list(rows) == ["2024-07-01", "2024-06-28", "2024-06-27"]
    assert {s: (r["run_id"], r["status"], r["runs"]) for s, r in rows.items()} == {
        "2024-07-01": (runs.run_ids["2024-07-01"][-1], "NOT_STARTED", 1),
        "2024-06-28": (runs.run_ids["2024-06-28"][-1], "FAILURE", 2),
        "2024-06-27": (runs.run_ids["2024-06-27"][-1], "SUCCESS", 1),
    }
    created, failed, ok = rows.values()
    assert created["start"] is None and created["duration_seconds"] is None and created["failures"] == []
    assert ok["failures"] == [] and 0 < ok["duration_seconds"] < 600
    start, end = dt.datetime.fromisoformat(ok["start"]), dt.datetime.fromisoformat(ok["end"])
    assert start.utcoffset() == dt.timedelta(0) and start < end
    steps = [f["step"] for f in failed["failures"]]
    assert steps == [
        "rebalance_plan_order_notional_within_limit",
        "check rebalance_plan:order_notional_within_limit",
    ]
    assert "DagsterAssetCheckFailedError" in failed["failures"][0]["reason"]
    glance = {
        s: (r["outcome"], r["items"], r["broker_orders"], r["traded_notional_usd"]) for s, r in rows.items()
    }
    assert glance == {
        "2024-07-01": (None, None, None, None),
        "2024-06-28": ("FAILED", None, None, None),
        "2024-06-27": ("PLAN_ONLY", runs.plan_items["2024-06-27"], 0, "0.00"),
    }
    assert "TLT: buy of $" in failed["failures"][1]["reason"]
    # settings in effect, and nothing else (no broker URL, keys or confirmations)
    assert payload["settings"] == {
        "mode": "embedded",
        "config": runs.env["ALCHEMISER_CONFIG"],
        "storage": runs.env["ALCHEMISER_STORAGE"],
        "settings_file": None,
    }
    assert payload["kill_switch"]["state"] == "ACTIVE" and payload["kill_switch"]["last_flip"] is None
    schedule = payload["schedule"]
    assert schedule["name"] == "daily_rebalance_schedule"
    assert (schedule["status"], schedule["running"]) == ("STOPPED", False)
    now = dt.datetime.fromisoformat(payload["now"])
    expected = next_scheduled_run(now)
    assert expected is not None
    assert schedule["next_run"] == {
        "session": expected.date().isoformat(),
        "new_york": expected.isoformat(),
        "utc": expected.astimezone(UTC).isoformat(),
    }


def test_text_shows_settings_kill_switch_and_schedule(runs: Instance, in_tmp: Path) -> None:
    output = invoke(runs.env).output
    assert f"DAGSTER_HOME={runs.env['DAGSTER_HOME']}" in output
    assert "  mode:          embedded" in output
    assert f"  config:        {runs.env['ALCHEMISER_CONFIG']}" in output
    assert f"  storage:       {runs.env['ALCHEMISER_STORAGE']}" in output
    assert "Kill switch: ACTIVE" in output and "never flipped (ACTIVE by default)" in output
    assert f"Schedule daily_rebalance_schedule: {HINT}" in output
    [next_line] = [line for line in output.splitlines() if "next run" in line]
    assert "New York" in next_line and "UTC" in next_line and "for session 20" in next_line


def test_an_empty_instance_has_no_runs_yet(in_tmp: Path) -> None:
    env = make_env(in_tmp)
    output = invoke(env).output
    assert "Runs of daily_rebalance_job: no runs yet" in output
    assert "Kill switch: ACTIVE" in output
    payload = invoke_json(env)
    assert payload["runs"] == [] and payload["partitions_with_runs"] == 0


def test_the_kill_switch_state_and_its_last_flip(in_tmp: Path) -> None:
    env = make_env(in_tmp)
    store = KillSwitchStore(env["ALCHEMISER_STORAGE"])
    store.flip("REDUCING", "earnings week", who="alice", now=dt.datetime(2026, 12, 1, 14, 0, tzinfo=UTC))
    store.flip("HALTED", "broker incident", who="ops", now=dt.datetime(2026, 12, 4, 15, 30, tzinfo=UTC))
    output = invoke(env).output
    assert "Kill switch: HALTED" in output
    assert f"  file: {in_tmp / 'control' / 'killswitch.json'}" in output
    assert "  last flip (2 in all): HALTED at 2026-12-04T15:30:00+00:00 by ops: broker incident" in output
    assert invoke_json(env)["kill_switch"] == {
        "state": "HALTED",
        "file": str(in_tmp / "control" / "killswitch.json"),
        "flips": 2,
        "last_flip": {
            "state": "HALTED",
            "at": "2026-12-04T15:30:00+00:00",
            "who": "ops",
            "why": "broker incident",
        },
    }


def test_a_started_schedule_and_the_scheduler_daemon(in_tmp: Path) -> None:
    env = make_env(in_tmp)
    dagster_cli = str(Path(sys.executable).parent / "dagster")
    # Started the way an operator would outside the UI: Dagster's own CLI over the repo's workspace.
    started = subprocess.run(
        [dagster_cli, "schedule", "start", "daily_rebalance_schedule", "-w", "workspace.yaml"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    assert "never seen by this instance" in invoke(env).output
    beat = time.time() - 12
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        instance.add_daemon_heartbeat(DaemonHeartbeat(beat, "SCHEDULER", "daemon-1"))
    output = invoke(env).output
    assert "Schedule daily_rebalance_schedule: running" in output
    assert "stopped" not in output
    beat_iso = dt.datetime.fromtimestamp(beat, UTC).isoformat(timespec="seconds")
    assert f"scheduler daemon: last heartbeat {beat_iso}" in output
    schedule = invoke_json(env)["schedule"]
    assert (schedule["status"], schedule["running"]) == ("RUNNING", True)
    assert schedule["scheduler_daemon_heartbeat"] == beat_iso


def test_errors_are_the_clis_one_line_errors(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = make_env(in_tmp)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["alchemiser", "status"])

    monkeypatch.setenv("ALCHEMISER_MODE", "bogus")
    with pytest.raises(SystemExit) as bad_setting:
        main()
    out, err = capsys.readouterr()
    assert bad_setting.value.code == 1 and out == ""
    assert err.startswith("error: invalid settings (environment): mode (ALCHEMISER_MODE)")

    monkeypatch.setenv("ALCHEMISER_MODE", "embedded")
    killswitch_file = in_tmp / "control" / "killswitch.json"
    killswitch_file.parent.mkdir(parents=True)
    killswitch_file.write_text("{not json")
    with pytest.raises(SystemExit) as bad_file:
        main()
    out, err = capsys.readouterr()
    assert bad_file.value.code == 1 and out == ""
    assert err.startswith(f"error: {killswitch_file}: kill-switch file is corrupted")
    assert "Traceback" not in err

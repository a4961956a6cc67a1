"""The execution lock on a local folder: one holder, a bounded wait that names it, SIGKILL-safe."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from upath import UPath

from alchemiser_dagster.control.execution_journal import ExecutionJournal
from alchemiser_dagster.control.execution_lock import ExecutionLock, session_lock
from alchemiser_dagster.control.lease import Busy, FileLease, LeaseHolder
from alchemiser_dagster.domain.errors import ExecutionLocked

D = dt.date(2024, 6, 28)
ROOT = Path(__file__).resolve().parents[2]


def lock_for(storage: Path, wait: float = 0.0) -> ExecutionLock:
    journal = ExecutionJournal(str(storage))
    return session_lock(journal, D, "PA123", wait_seconds=wait, stale_seconds=60)


def test_the_lock_sits_beside_the_journal_of_the_same_session_and_account(tmp_path: Path) -> None:
    journal = ExecutionJournal(str(tmp_path / "storage"), "alice")
    assert journal.location(D, "PA1").removesuffix(".json") == str(journal.lock_path(D, "PA1")).removesuffix(
        ".lock"
    )
    assert lock_for(tmp_path / "storage").location == str(
        tmp_path / "control" / "executions" / f"{D}-PA123.lock"
    )


def test_a_second_holder_waits_then_stops_naming_the_run_that_holds_it(tmp_path: Path) -> None:
    first, second = lock_for(tmp_path / "storage"), lock_for(tmp_path / "storage", wait=0.3)
    first.acquire("run-one")
    seen: list[Busy] = []
    started = time.monotonic()
    with pytest.raises(ExecutionLocked) as locked:
        second.acquire("run-two", seen.append)
    assert time.monotonic() - started >= 0.3  # it waited the bound
    assert locked.value.holder_run_id == "run-one" and locked.value.holder_pid == os.getpid()
    assert "run run-one" in str(locked.value) and first.location in str(locked.value)
    assert [b.holder.run_id for b in seen if b.holder] == ["run-one"]  # announced once
    first.release()
    second.acquire("run-two")
    assert second.held
    second.release()


def test_a_waiting_run_gets_the_lock_when_the_holder_releases_it(tmp_path: Path) -> None:
    first, second = lock_for(tmp_path / "storage"), lock_for(tmp_path / "storage", wait=30)
    first.acquire("run-one")
    sleeps: list[float] = []

    def release_on_third_wait(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            first.release()

    waiting = ExecutionLock(second._lease, wait_seconds=30, stale_seconds=60, sleep=release_on_third_wait)
    waiting.acquire("run-two")
    assert waiting.held and len(sleeps) == 3
    waiting.release()


def test_acquiring_twice_in_one_run_keeps_the_lock(tmp_path: Path) -> None:
    lock = lock_for(tmp_path / "storage")
    lock.acquire("run-one")
    lock.acquire("run-one")  # a step retried within the run
    assert lock.held
    lock.release()
    lock.release()  # releasing twice is harmless
    assert not lock.held


def test_the_holder_is_written_into_the_lock_file_and_cleared_on_release(tmp_path: Path) -> None:
    lease = FileLease(UPath(tmp_path / "x.lock"))
    me = LeaseHolder.for_this_process("run-one")
    assert lease.try_acquire(me) is None
    assert LeaseHolder.model_validate_json((tmp_path / "x.lock").read_bytes()) == me
    lease.release()
    assert (tmp_path / "x.lock").read_bytes() == b""


HOLD_AND_WAIT = """
import sys, time
from alchemiser_dagster.control.execution_journal import ExecutionJournal
from alchemiser_dagster.control.execution_lock import session_lock
import datetime as dt
lock = session_lock(ExecutionJournal(sys.argv[1]), dt.date(2024, 6, 28), "PA123", wait_seconds=0, stale_seconds=600)
lock.acquire("killed-run")
print("held", flush=True)
time.sleep(600)
"""


def test_a_holder_killed_with_sigkill_leaves_a_lock_taken_over_at_once(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_WAIT, str(storage)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(ExecutionLocked, match="killed-run"):
            lock_for(storage).acquire("rerun")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    rerun = lock_for(storage)  # no wait, no stale timeout: the kernel released the dead holder's lock
    rerun.acquire("rerun")
    assert rerun.held
    rerun.release()

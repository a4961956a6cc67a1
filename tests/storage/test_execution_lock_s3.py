"""The execution lock on S3 (moto on loopback): conditional create, heartbeat, safe takeover."""

import datetime as dt
import socket
import subprocess
import sys
import time

import pytest
from upath import UPath

from alchemiser_dagster.control.execution_journal import ExecutionJournal
from alchemiser_dagster.control.execution_lock import ExecutionLock, session_lock
from alchemiser_dagster.control.lease import LeaseHolder, ObjectLease, lease_at
from alchemiser_dagster.domain.errors import ConfigError, ExecutionLocked, ExecutionLockLost
from tests.storage.conftest import S3

D = dt.date(2024, 6, 28)
KEY = f"prefix/control/executions/{D}-PA123.lock"


def lock_on(s3: S3, wait: float = 0.0, stale: float = 60.0) -> ExecutionLock:
    journal = ExecutionJournal(s3.url("prefix", "storage"))
    return session_lock(journal, D, "PA123", wait_seconds=wait, stale_seconds=stale)


def holder(run_id: str, host: str, pid: int) -> LeaseHolder:
    at = dt.datetime.now(dt.UTC)
    return LeaseHolder(run_id=run_id, host=host, pid=pid, acquired_at=at, heartbeat_at=at)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_one_holder_at_a_time_and_the_waiting_run_is_told_who(s3: S3) -> None:
    first, second = lock_on(s3), lock_on(s3, wait=0.2)
    first.acquire("run-one")
    assert first.location == s3.url(KEY)
    assert LeaseHolder.model_validate_json(s3.get(KEY)).run_id == "run-one"
    with pytest.raises(ExecutionLocked, match="run run-one") as locked:
        second.acquire("run-two")
    assert locked.value.holder_host == socket.gethostname()
    first.release()
    assert s3.keys(KEY) == []  # released: the object is gone
    second.acquire("run-two")
    assert LeaseHolder.model_validate_json(s3.get(KEY)).run_id == "run-two"
    second.release()


def test_a_live_holder_on_another_host_keeps_the_lock_until_its_heartbeat_is_stale(s3: S3) -> None:
    s3.put(KEY, holder("elsewhere-run", "another-host", 1).model_dump_json().encode())
    with pytest.raises(ExecutionLocked, match="elsewhere-run"):
        lock_on(s3, stale=60).acquire("rerun")
    time.sleep(2.1)  # S3's Last-Modified has one-second resolution
    late = lock_on(s3, stale=1)
    late.acquire("rerun")  # the heartbeat is older than the stale bound: taken over
    assert LeaseHolder.model_validate_json(s3.get(KEY)).run_id == "rerun"
    late.release()


def test_a_dead_holder_on_this_host_is_taken_over_at_once(s3: S3) -> None:
    s3.put(KEY, holder("killed-run", socket.gethostname(), dead_pid()).model_dump_json().encode())
    rerun = lock_on(s3, stale=600)
    rerun.acquire("rerun")
    assert LeaseHolder.model_validate_json(s3.get(KEY)).run_id == "rerun"
    rerun.release()


def test_of_two_runs_taking_over_the_same_stale_lease_only_one_wins(s3: S3) -> None:
    s3.put(KEY, holder("killed-run", socket.gethostname(), dead_pid()).model_dump_json().encode())
    path = UPath(s3.url(KEY))
    one, two = ObjectLease(path, 600), ObjectLease(path, 600)
    stale = one._read()
    assert stale is not None and two._read() is not None
    # Both judged the same version stale; each now puts with If-Match on that version.
    assert one._put(holder("run-one", "h", 1), IfMatch=stale[1])
    assert not two._put(holder("run-two", "h", 2), IfMatch=stale[1])
    assert LeaseHolder.model_validate_json(s3.get(KEY)).run_id == "run-one"


def test_the_holder_heartbeats_and_learns_when_its_lock_was_taken_over(s3: S3) -> None:
    lock = ExecutionLock(lease_at(UPath(s3.url(KEY)), 0.4), wait_seconds=0, stale_seconds=0.4)
    lock.acquire("run-one")
    first = s3.client.head_object(Bucket=s3.bucket, Key=KEY)["ETag"]
    time.sleep(0.6)
    assert s3.client.head_object(Bucket=s3.bucket, Key=KEY)["ETag"] != first  # refreshed
    lock.confirm_held()
    s3.put(KEY, holder("usurper", "another-host", 1).model_dump_json().encode())  # taken over
    time.sleep(0.6)
    with pytest.raises(ExecutionLockLost, match="taken over"):
        lock.confirm_held()
    lock.release()
    assert LeaseHolder.model_validate_json(s3.get(KEY)).run_id == "usurper"  # not released: not ours


def test_only_local_folders_and_s3_are_supported() -> None:
    with pytest.raises(ConfigError, match="local folder or S3"):
        lease_at(UPath("memory://somewhere/x.lock"), 60)

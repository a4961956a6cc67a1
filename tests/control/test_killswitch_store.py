"""The kill-switch store on a real (temporary) filesystem: restart, audit trail, failing closed."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import threading
import uuid
from pathlib import Path

import pytest

from alchemiser_dagster.control.killswitch_store import KillSwitchStore
from alchemiser_dagster.domain.errors import ConfigError, StorageError

AT = dt.datetime(2024, 6, 28, 19, 45, tzinfo=dt.UTC)


@pytest.fixture
def base(tmp_path: Path) -> str:
    return str(tmp_path / "storage")


def test_a_flip_survives_a_restart(base: str, tmp_path: Path) -> None:
    KillSwitchStore(base).flip("HALTED", "broker outage", who="alice", now=AT)
    restarted = KillSwitchStore(base)
    assert restarted.current() == "HALTED"
    [flip] = restarted.read().flips
    assert (flip.state, flip.who, flip.why, flip.at) == ("HALTED", "alice", "broker outage", AT)
    assert (tmp_path / "control" / "killswitch.json").is_file()


def test_every_flip_is_kept_with_who_why_and_time(base: str) -> None:
    store = KillSwitchStore(base)
    store.flip("halted", "outage", who="alice", now=AT)
    store.flip("Reducing", "outage over, unwinding", who="bob", now=AT + dt.timedelta(hours=1))
    store.flip("ACTIVE", "all clear", now=AT + dt.timedelta(hours=2))
    log = KillSwitchStore(base).read()
    assert [(f.state, f.who, f.why, f.at) for f in log.flips] == [
        ("HALTED", "alice", "outage", AT),
        ("REDUCING", "bob", "outage over, unwinding", AT + dt.timedelta(hours=1)),
        ("ACTIVE", getpass.getuser(), "all clear", AT + dt.timedelta(hours=2)),
    ]
    assert log.current == "ACTIVE"


def test_flip_returns_the_recorded_flip_with_a_default_time(base: str) -> None:
    before = dt.datetime.now(dt.UTC)
    flip = KillSwitchStore(base).flip("REDUCING", "de-risk")
    assert before <= flip.at <= dt.datetime.now(dt.UTC)
    assert flip.who == getpass.getuser()
    assert KillSwitchStore(base).read().flips == (flip,)


def test_a_missing_file_is_active_with_no_flips(base: str) -> None:
    store = KillSwitchStore(base)
    assert store.current() == "ACTIVE"
    assert store.read().flips == ()
    assert not Path(store.location).exists()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b'{"flips": [{"state": "PAUSED", "at": "2024-06-28T19:45:00Z", "who": "a", "why": "b"}]}',
        b'{"flips": [{"state": "HALTED", "at": "2024-06-28T19:45:00", "who": "a", "why": "b"}]}',
        b"\xff\xfe garbage",
    ],
)
def test_a_corrupted_file_is_a_storage_error_naming_the_path(base: str, content: bytes) -> None:
    store = KillSwitchStore(base)
    path = Path(store.location)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(StorageError) as error:
        store.current()
    assert str(path) in str(error.value)
    assert "corrupted" in str(error.value)
    # Flipping over a corrupted file must not silently start a fresh log either.
    with pytest.raises(StorageError):
        store.flip("HALTED", "try anyway", who="alice", now=AT)
    assert path.read_bytes() == content


def test_an_unreadable_location_is_a_storage_error(base: str) -> None:
    store = KillSwitchStore(base)
    Path(store.location).mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(StorageError, match=r"killswitch\.json: cannot read"):
        store.read()


def test_a_dangling_symlink_at_the_file_fails_closed_naming_it(base: str, tmp_path: Path) -> None:
    store = KillSwitchStore(base)
    path = Path(store.location)
    path.parent.mkdir(parents=True)
    path.symlink_to(tmp_path / "moved-away" / "killswitch.json")  # the target was moved or unmounted
    with pytest.raises(StorageError, match=r"killswitch\.json: cannot read \(symlink .*does not exist"):
        store.current()
    with pytest.raises(StorageError):
        store.flip("ACTIVE", "must not start a fresh log over a broken link", who="alice", now=AT)
    assert path.is_symlink()


def test_a_dangling_symlinked_control_folder_fails_closed(base: str, tmp_path: Path) -> None:
    store = KillSwitchStore(base)
    control = Path(store.location).parent
    control.symlink_to(tmp_path / "unmounted-volume" / "control")
    with pytest.raises(StorageError, match=f"symlink {control} points at"):
        store.current()


def test_a_live_symlink_to_a_missing_file_in_an_existing_folder_is_still_never_flipped(
    base: str, tmp_path: Path
) -> None:
    # The control folder may legitimately live elsewhere; only a broken link fails closed.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    control = Path(KillSwitchStore(base).location).parent
    control.symlink_to(elsewhere)
    store = KillSwitchStore(base)
    assert store.current() == "ACTIVE"
    store.flip("HALTED", "through the link", who="alice", now=AT)
    assert KillSwitchStore(base).current() == "HALTED"
    assert (elsewhere / "killswitch.json").is_file()


def test_the_file_lives_beside_a_local_storage_base(tmp_path: Path) -> None:
    store = KillSwitchStore(str(tmp_path / "data" / "storage"))
    assert store.location == str(tmp_path / "data" / "control" / "killswitch.json")
    assert store.is_local


def test_the_file_lives_beside_an_s3_storage_base() -> None:
    store = KillSwitchStore("s3://bucket/prefix/storage")
    assert store.location == "s3://bucket/prefix/control/killswitch.json"
    assert not store.is_local


def test_a_storage_base_without_a_parent_is_refused() -> None:
    with pytest.raises(ConfigError, match="no parent folder"):
        KillSwitchStore("/")


def test_a_remote_filesystem_round_trips_through_open() -> None:
    # fsspec's in-memory filesystem exercises the non-local write path without a server.
    base = f"memory://killswitch-{uuid.uuid4().hex}/prefix/storage"
    KillSwitchStore(base).flip("HALTED", "remote", who="alice", now=AT)
    KillSwitchStore(base).flip("ACTIVE", "remote again", who="bob", now=AT)
    store = KillSwitchStore(base)
    assert store.location.endswith("/prefix/control/killswitch.json")
    assert [f.who for f in store.read().flips] == ["alice", "bob"]


@pytest.mark.parametrize(
    ("state", "why", "problem"),
    [("PAUSED", "x", "unknown kill-switch state 'PAUSED'"), ("HALTED", "  ", "why must not be empty")],
)
def test_a_bad_flip_is_a_config_error_and_writes_nothing(
    base: str, state: str, why: str, problem: str
) -> None:
    store = KillSwitchStore(base)
    with pytest.raises(ConfigError, match=problem):
        store.flip(state, why, who="alice", now=AT)
    assert not Path(store.location).exists()


def test_a_naive_time_is_refused(base: str) -> None:
    with pytest.raises(ConfigError, match="timezone-aware"):
        KillSwitchStore(base).flip("HALTED", "x", now=dt.datetime(2024, 6, 28, 15, 45))


def test_interleaved_flips_from_two_stores_are_all_kept(base: str) -> None:
    first, second = KillSwitchStore(base), KillSwitchStore(base)
    states = ["HALTED", "ACTIVE", "REDUCING"] * 3  # ends on REDUCING
    for n, state in enumerate(states):
        store = first if n % 2 == 0 else second
        store.flip(state, f"flip {n}", who=f"op{n % 2}", now=AT)
    log = KillSwitchStore(base).read()
    assert [f.state for f in log.flips] == states
    assert [f.why for f in log.flips] == [f"flip {n}" for n in range(9)]
    assert [f.who for f in log.flips] == ["op0", "op1"] * 4 + ["op0"]
    assert first.current() == second.current() == "REDUCING"


def test_concurrent_local_flips_are_all_kept(base: str) -> None:
    def worker(name: str) -> None:
        store = KillSwitchStore(base)
        for n in range(5):
            store.flip("REDUCING", f"{name}-{n}", who=name, now=AT)

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = KillSwitchStore(base).read()
    assert sorted(f.why for f in log.flips) == sorted(f"t{i}-{n}" for i in range(4) for n in range(5))
    # The file on disk is one complete JSON document (atomic replace, no torn writes).
    document = json.loads(Path(KillSwitchStore(base).location).read_text())
    assert len(document["flips"]) == 20
    leftovers = [p.name for p in Path(KillSwitchStore(base).location).parent.iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


def test_a_log_from_a_newer_release_is_refused_not_read_as_today_shape(base: str) -> None:
    store = KillSwitchStore(base)
    store.flip("HALTED", "outage", who="alice", now=AT)
    path = Path(store.location)
    stored = json.loads(path.read_text())
    stored["schema_version"] = 99
    path.write_text(json.dumps(stored))
    with pytest.raises(
        StorageError, match=r"killswitch\.json: kill-switch file has schema_version 99, written by a newer"
    ):
        store.current()


def test_a_log_written_before_records_carried_a_version_still_reads(base: str) -> None:
    store = KillSwitchStore(base)
    store.flip("REDUCING", "de-risk", who="alice", now=AT)
    path = Path(store.location)
    stored = json.loads(path.read_text())
    del stored["schema_version"]
    path.write_text(json.dumps(stored))
    assert store.current() == "REDUCING"

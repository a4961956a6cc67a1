"""The per-day session table cache: read back equal to a fresh build, rebuilt when damaged."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from alchemiser_dagster.domain import calendar


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calendar._session_table.cache_clear()
    yield tmp_path
    calendar._session_table.cache_clear()


def _fresh() -> tuple[np.ndarray, np.ndarray]:
    """A table built by exchange_calendars in this process, bypassing every cache."""
    calendar._session_table.cache_clear()
    path = calendar._cache_path()
    path.unlink(missing_ok=True)
    days, close_ns = calendar._session_table()
    calendar._session_table.cache_clear()
    return days.copy(), close_ns.copy()


def test_cached_table_equals_a_fresh_build(cache_home: Path) -> None:
    days, close_ns = _fresh()
    path = calendar._cache_path()
    assert path.is_file() and path.is_relative_to(cache_home)
    cached_days, cached_close = calendar._session_table()
    np.testing.assert_array_equal(cached_days, days)
    np.testing.assert_array_equal(cached_close, close_ns)
    assert calendar.session_days()[0] == np.datetime64("2000-01-03")


def test_a_damaged_cache_file_is_rebuilt(cache_home: Path) -> None:
    days, close_ns = _fresh()
    path = calendar._cache_path()
    path.write_bytes(b"not an npz")
    assert calendar._read_cached(path) is None
    rebuilt_days, rebuilt_close = calendar._session_table()
    np.testing.assert_array_equal(rebuilt_days, days)
    np.testing.assert_array_equal(rebuilt_close, close_ns)
    assert calendar._read_cached(path) is not None


def test_older_days_files_are_dropped(cache_home: Path) -> None:
    stale = calendar._cache_path().with_name("xnys-0.0-2000-01-01-1999-01-01.npz")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"old")
    _fresh()
    calendar._session_table()
    assert not stale.exists()
    assert [p.name for p in stale.parent.iterdir()] == [calendar._cache_path().name]


def test_an_unwritable_cache_is_named_in_a_warning_and_the_table_still_built(
    cache_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    days, _ = _fresh()
    blocker = cache_home / "alchemiser-dagster"
    for child in blocker.iterdir():
        child.unlink()
    blocker.rmdir()
    blocker.write_text("a file where the cache folder should be")
    calendar._session_table.cache_clear()
    with caplog.at_level("WARNING", logger=calendar.__name__):
        built_days, _ = calendar._session_table()
    np.testing.assert_array_equal(built_days, days)
    assert "calendar cache not written" in caplog.text
    assert str(calendar._cache_path()) in caplog.text

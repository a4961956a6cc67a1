"""`alchemiser killswitch` through click: set, status, and its one-line errors."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from alchemiser_dagster.cli.killswitch import killswitch


@pytest.fixture
def storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ALCHEMISER_STORAGE in a temp dir, and no settings file from the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALCHEMISER_SETTINGS_FILE", raising=False)
    base = tmp_path / "somewhere" / "storage"
    monkeypatch.setenv("ALCHEMISER_STORAGE", str(base))
    return base


def invoke(*args: str) -> Result:
    return CliRunner().invoke(killswitch, list(args))


def test_status_of_a_fresh_storage_is_active(storage: Path) -> None:
    result = invoke("status")
    assert result.exit_code == 0, result.output
    assert "kill switch: ACTIVE" in result.output
    assert str(storage.parent / "control" / "killswitch.json") in result.output
    assert "never flipped" in result.output


def test_set_then_status_shows_the_flip_the_user_and_why(storage: Path) -> None:
    result = invoke("set", "halted", "--why", "broker outage")
    assert result.exit_code == 0, result.output
    assert "kill switch: HALTED (was ACTIVE)" in result.output
    assert "broker outage" in result.output

    status = invoke("status")
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert lines[0] == "kill switch: HALTED"
    assert lines[1] == f"file: {storage.parent / 'control' / 'killswitch.json'}"
    [flip_line] = [line for line in lines if "broker outage" in line]
    assert "HALTED" in flip_line
    assert getpass.getuser() in flip_line
    # ALCHEMISER_STORAGE is where the flip went.
    assert (storage.parent / "control" / "killswitch.json").is_file()


def test_status_shows_the_last_ten_flips(storage: Path) -> None:
    for n in range(12):
        assert invoke("set", "REDUCING" if n % 2 else "ACTIVE", "--why", f"reason {n}").exit_code == 0
    output = invoke("status").output
    assert "kill switch: REDUCING" in output
    assert "last 10 of 12 flips" in output
    assert "reason 0" not in output
    assert "reason 1 " not in output and not output.rstrip().endswith("reason 1")
    assert all(f"reason {n}" in output for n in range(2, 12))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "paused", "--why", "x"], "unknown kill-switch state 'paused'"),
        (["set", "HALTED"], "--why is required"),
        (["set", "HALTED", "--why", "  "], "--why is required"),
    ],
)
def test_bad_input_exits_1_with_one_clear_line(storage: Path, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (storage.parent / "control" / "killswitch.json").exists()


def test_a_corrupted_file_exits_1_naming_it(storage: Path) -> None:
    path = storage.parent / "control" / "killswitch.json"
    path.parent.mkdir(parents=True)
    path.write_text("{oops")
    for args in (["status"], ["set", "ACTIVE", "--why", "reset"]):
        result = invoke(*args)
        assert result.exit_code == 1
        assert str(path) in result.stderr
        assert result.stderr.strip().count("\n") == 0
    assert path.read_text() == "{oops"


def test_a_bad_setting_exits_1_without_traceback(storage: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALCHEMISER_MODE", "yolo")
    result = invoke("status")
    assert result.exit_code == 1
    assert "invalid settings" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)

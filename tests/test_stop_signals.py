"""Long-running commands stop cleanly on SIGTERM and SIGINT, also when started in the background.

A background job of a non-interactive shell inherits SIGINT (and, under some supervisors,
SIGTERM) as ignored; each test starts a real subprocess with both ignored, as such a shell
would leave them, and checks that the command still stops on the signal, in time, with
exit code 0, and leaves no process behind.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALCHEMISER = [sys.executable, "-m", "alchemiser_dagster.cli"]


def start_in_background(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Started as `cmd &` in a script (or by a careless supervisor): SIGINT and SIGTERM ignored."""
    return subprocess.Popen(
        ["sh", "-c", 'trap "" INT TERM; exec "$@"', "sh", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc), so a leftover child is noticed."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALCHEMISER_", "DAGSTER_"))}
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "ALCHEMISER_MODE": "embedded",
        "ALCHEMISER_STORAGE": str(tmp_path / "storage"),
        "ALCHEMISER_SIM_STATE": str(tmp_path / "sim"),
        "ALCHEMISER_CONFIG": str(ROOT / "strategies" / "allocations.prod.json"),
    }


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sim_serve_stops_cleanly_on_the_signal_started_in_the_background(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    command = [*ALCHEMISER, "sim", "serve", "--port", "0", "--state", str(tmp_path / "state"),
               "--date", "2024-06-28"]  # fmt: skip
    proc = start_in_background(command, base_env(tmp_path))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the synthetic bars are generated first
        assert "listening on http://127.0.0.1:" in first, first + proc.stdout.read()
        proc.send_signal(stop_signal)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert (tmp_path / "state" / "sim.sqlite3").is_file()
    assert "Traceback" not in output


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_alchemiser_ui_stops_the_webserver_and_daemon_on_the_signal(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    (tmp_path / "home").mkdir()
    port = free_port()
    command = [*ALCHEMISER, "ui", "-w", "workspace.yaml", "--host", "127.0.0.1", "--port", str(port)]
    proc = start_in_background(command, base_env(tmp_path))
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the UI never answered"
            time.sleep(1)
        started = descendants(proc.pid)
        assert len(started) >= 3  # dg dev, its webserver and its daemon (and code servers)
        proc.send_signal(stop_signal)
        output, _ = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, output[-3000:]
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.5)
    leftovers = sorted(pid for pid in started if alive(pid))
    assert not leftovers, f"processes left running: {leftovers}\n{output[-3000:]}"
    assert "Dagster services shut down" in output
    assert "Use 'dg dev' instead" not in output  # runs `dg dev`, not the superseded `dagster dev`

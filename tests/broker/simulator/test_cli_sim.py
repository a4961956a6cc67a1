"""``alchemiser sim serve``: a real foreground process, stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests
from alpaca.trading.client import TradingClient
from click.testing import CliRunner

from alchemiser_dagster.cli.sim import sim

ROOT = Path(__file__).resolve().parents[3]


def test_serve_rejects_a_date_that_is_not_a_session(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        sim, ["serve", "--port", "0", "--state", str(tmp_path), "--date", "2024-06-29"]
    )
    assert result.exit_code == 2
    assert "not an NYSE session" in result.output


def test_serve_runs_until_interrupted(tmp_path: Path, sim_bars_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from alchemiser_dagster.cli.sim import sim; sim()", "serve", "--port", "0",
           "--state", str(tmp_path / "state"), "--date", "2024-06-28", "--cash", "2500", "--bars", str(sim_bars_path)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        died = proc.stderr.read() if proc.stderr is not None and proc.poll() is not None else ""
        assert "listening on http://127.0.0.1:" in first, first + died
        base_url = first.strip().rsplit(" ", 1)[-1]
        keys = [proc.stdout.readline().split(":", 1)[1].strip() for _ in range(2)]
        assert requests.get(f"{base_url}/_sim/health", timeout=10).json()["status"] == "ok"
        account = TradingClient(keys[0], keys[1], paper=True, url_override=base_url).get_account()
        assert account.cash == "2500"
        assert TradingClient(keys[0], keys[1], paper=True, url_override=base_url).get_clock().is_open is True
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0
    assert (tmp_path / "state" / "sim.sqlite3").is_file()

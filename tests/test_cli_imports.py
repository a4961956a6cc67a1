"""The CLI's start-up imports only what the command needs.

Each case runs the `alchemiser` group in a fresh interpreter (in-process, standalone mode
off) and prints which heavy packages ended up in `sys.modules`: `--help` imports none of
them, and commands that need no Dagster never import it. The root help lists each command
from a summary table; a test checks every summary against the command's own help.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from alchemiser_dagster.cli import COMMANDS, cli
from alchemiser_dagster.cli.lazy import load_command
from tests.conftest import ROOT, corpus_dir

HEAVY = ("dagster", "pandas", "numpy", "pyarrow", "pydantic", "alpaca", "upath", "matplotlib")
# Runs the CLI in-process and prints the heavy packages imported, whatever the exit status.
PROBE = f"""
import json, sys
from alchemiser_dagster.cli import cli
try:
    cli.main(sys.argv[1:], prog_name="alchemiser", standalone_mode=False)
finally:
    print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)
"""


def imported_by(*args: str | Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stderr.strip().splitlines()[-1])
    return loaded


def test_help_imports_no_command_and_no_heavy_package() -> None:
    assert imported_by("--help") == []


def test_strategy_eval_does_not_import_dagster(synthetic_bars_path: Path) -> None:
    loaded = imported_by("strategy", "eval", corpus_dir() / "6-TQQQ-FLT.clj", "--bars", synthetic_bars_path)
    assert "pandas" in loaded  # the probe sees what the command imported
    assert "dagster" not in loaded and "alpaca" not in loaded


def test_plan_imports_neither_dagster_nor_pandas(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(
        json.dumps(
            {
                "equity": "1000",
                "cash": "1000",
                "buying_power": "1000",
                "positions": {},
                "quotes": {"SPY": {"bid": "99.99", "ask": "100.01"}},
                "assets": {"SPY": {"tradable": True, "fractionable": True}},
            }
        )
    )
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps({"SPY": "1"}))
    loaded = imported_by("plan", "--snapshot", snapshot, "--targets", targets)
    assert "pydantic" in loaded
    assert not {"dagster", "alpaca", "pandas"} & set(loaded)


@pytest.mark.parametrize("group", ["strategy", "data", "sim", "killswitch", "accounts"])
def test_groups_that_need_no_dagster_do_not_import_it(group: str) -> None:
    assert "dagster" not in imported_by(group, "--help")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_summary_is_the_command_s_own_help(name: str) -> None:
    command = load_command(COMMANDS[name].target)
    stand_in = click.Command(name, help=COMMANDS[name].summary)
    for limit in (45, 62, 78, 500):  # the list's widths, narrow terminal to none at all
        assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit), limit


def test_every_command_is_reachable_under_its_name() -> None:
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name

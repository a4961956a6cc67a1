"""The repository is a `dg` project: `dg check defs`, `dg list defs` and `dg dev` load the
code location from the real commands, and loading is lazy (importing builds no graph).

Each test runs the command in a subprocess from the repository root, as a user would, with
its own DAGSTER_HOME and only the settings it sets. A missing allocation config for the
default location is the seam that shows whether the default graph was built: building it
raises a ConfigError naming the file.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SNAPSHOT = json.loads(
    (Path(__file__).resolve().parent / "snapshots" / "definition_keys_default.json").read_text()
)
COMMAND_TIMEOUT_S = 300
LOCATION = "alchemiser"  # [tool.dg.project] code_location_name, as in workspace.yaml
LOCATIONS = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
ASSET_KEYS = "{ assetNodes { assetKey { path } } }"


def project_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALCHEMISER_", "DAGSTER_"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "DAGSTER_HOME": str(home),
        "ALCHEMISER_MODE": "embedded",
        "ALCHEMISER_CONFIG": str(ROOT / "strategies" / "allocations.prod.json"),
        "ALCHEMISER_STORAGE": str(tmp_path / "storage"),
        "ALCHEMISER_SIM_STATE": str(tmp_path / "sim"),
        **settings,
    }


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=COMMAND_TIMEOUT_S
    )


def write_accounts(folder: Path) -> Path:
    path = folder / "accounts.toml"
    path.write_text(
        f'[[accounts]]\nname = "alice"\nmode = "embedded"\nconfig = "{ROOT / "strategies" / "allocations.prod.json"}"\n'
    )
    return path


def test_importing_the_code_locations_builds_no_graph(tmp_path: Path) -> None:
    """Both modules import with a default config that does not exist; calling the default
    location's `defs` then does read it (so the seam would have caught an import-time build)."""
    missing = tmp_path / "missing.json"
    script = (
        "import alchemiser_dagster.accounts_definitions, alchemiser_dagster.definitions as d\n"
        "from alchemiser_dagster.domain.errors import ConfigError\n"
        "print('imported')\n"
        "try:\n    d.defs()\nexcept ConfigError as error:\n    print('defs():', error)\n"
    )
    env = project_env(tmp_path, ALCHEMISER_CONFIG=str(missing))
    done = run([sys.executable, "-c", script], env)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "imported"
    assert lines[1].startswith("defs():") and str(missing) in lines[1], done.stdout


def test_an_account_location_loads_without_building_the_default_graph(tmp_path: Path) -> None:
    """Dagster's loader serves one account while the default location's config is missing."""
    env = project_env(
        tmp_path,
        ALCHEMISER_CONFIG=str(tmp_path / "missing.json"),
        ALCHEMISER_ACCOUNTS_FILE=str(write_accounts(tmp_path)),
    )
    command = [str(BIN / "dagster"), "definitions", "validate",
               "-m", "alchemiser_dagster.accounts_definitions", "-a", "alice"]  # fmt: skip
    done = run(command, env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Validation successful" in output
    assert "missing.json" not in output


def test_dg_check_defs_loads_the_project(tmp_path: Path) -> None:
    done = run([str(BIN / "dg"), "check", "defs"], project_env(tmp_path))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "All definitions loaded successfully." in output
    assert "does not match the virtual environment" not in output  # suppressed in [tool.dg.cli]


def test_dg_check_defs_fails_naming_a_missing_config(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    done = run([str(BIN / "dg"), "check", "defs"], project_env(tmp_path, ALCHEMISER_CONFIG=str(missing)))
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert str(missing) in output
    assert "All definitions loaded successfully." not in output


def test_dg_list_defs_lists_every_key_of_the_snapshot(tmp_path: Path) -> None:
    done = run([str(BIN / "dg"), "list", "defs", "--json"], project_env(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    listed = json.loads(done.stdout)
    assert sorted(a["asset_key"] for a in listed["assets"]) == SNAPSHOT["assets"]
    assert sorted(c["key"] for c in listed["asset_checks"]) == SNAPSHOT["asset_checks"]
    assert sorted(j["name"] for j in listed["jobs"]) == [j for j in SNAPSHOT["jobs"] if j != "__ASSET_JOB"]
    assert sorted(s["name"] for s in listed["schedules"]) == SNAPSHOT["schedules"]
    assert sorted(s["name"] for s in listed["sensors"]) == SNAPSHOT["sensors"]


def graphql(port: int, query: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer
    return answer["data"]  # type: ignore[no-any-return]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of the process group, from /proc."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, _ppid, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(pgrp) == pgid and state != "Z":
            alive.append(int(entry.name))
    return alive


def test_dg_dev_serves_the_project_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "dg-dev.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "dg"), "dev", "-h", "127.0.0.1", "-p", str(port)],
            cwd=ROOT, env=project_env(tmp_path), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # webserver, daemon and code server share its group
        )  # fmt: skip
    try:
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        entries: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"dg dev exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
            try:
                entries = graphql(port, LOCATIONS)["workspaceOrError"]["locationEntries"]  # type: ignore[index]
            except OSError:
                entries = []
            if any(e["loadStatus"] == "LOADED" for e in entries):
                break
            time.sleep(2)
        assert [(e["name"], e["loadStatus"]) for e in entries] == [(LOCATION, "LOADED")], log.read_text()[
            -4000:
        ]
        location = entries[0]["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location  # type: ignore[index]
        nodes = graphql(port, ASSET_KEYS)["assetNodes"]
        assert sorted("/".join(n["assetKey"]["path"]) for n in nodes) == SNAPSHOT["assets"]  # type: ignore[index, union-attr]
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        deadline = time.monotonic() + 60
        while group_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        leftovers = group_members(proc.pid)
        assert not leftovers, f"processes of dg dev left running {leftovers}:\n{log.read_text()[-3000:]}"
    finally:
        if group_members(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait()
    assert "Use 'dg dev' instead" not in log.read_text()  # `dagster dev`'s superseded warning

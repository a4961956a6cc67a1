"""The wheel as a user installs it: built from the sources, installed without extras into a
clean venv, then `alchemiser init . && alchemiser demo` in an empty folder.

Dependencies are pinned to uv.lock's versions and come from uv's cache or the package
registry; nothing else is reached. The figures (build, install, init and demo) are printed:
run with `-s` to see them.
"""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).with_name("uv")  # the test extra installs uv into the venv
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "alchemiser_dagster")
# Only what a user's shell would have: no checkout on the path, no settings of this machine.
DROPPED = ("PYTHONPATH", "VIRTUAL_ENV", "DAGSTER_HOME", "UV_PROJECT_ENVIRONMENT")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED and not k.startswith("ALCHEMISER_")}
    env["UV_PYTHON_DOWNLOADS"] = "never"  # use this machine's Python, never fetch one
    return env


def sh(*command: str | Path, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=clean_env(), capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"{command} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    )
    return done


@contextmanager
def timed(figures: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    figures[name] = time.perf_counter() - start


def test_the_wheel_installs_without_extras_and_runs_the_demo_in_its_own_project(tmp_path: Path) -> None:
    figures: dict[str, float] = {}
    # A copy of the sources, so the build leaves nothing in the checkout (and reads no stale build/).
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    with timed(figures, "wheel build"):
        sh(UV, "build", "--wheel", "--quiet", "-o", tmp_path / "dist", source, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("alchemiser_dagster-*.whl")

    # The versions of uv.lock (without extras) as constraints: the set the suite ran with, in uv's
    # cache, so the install neither drifts with new releases nor downloads much.
    pins = tmp_path / "constraints.txt"
    sh(UV, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--quiet",
       "--format", "requirements-txt", "-o", pins, cwd=ROOT)  # fmt: skip
    venv = tmp_path / "venv"
    with timed(figures, "clean-venv install"):
        sh(UV, "venv", "--quiet", "--python", sys.executable, venv, cwd=tmp_path)
        sh(
            UV,
            "pip",
            "install",
            "--quiet",
            "--python",
            venv / "bin" / "python",
            "-c",
            pins,
            wheel,
            cwd=tmp_path,
        )
    where = sh(
        venv / "bin" / "python", "-c", "import alchemiser_dagster as a; print(a.__file__)", cwd=tmp_path
    )
    package = Path(where.stdout.strip()).parent
    assert package.is_relative_to(venv), package  # the installed copy, not the checkout

    project = tmp_path / "project"
    project.mkdir()
    alchemiser = venv / "bin" / "alchemiser"
    with timed(figures, "init (first start: imports compiled)"):
        wrote = sh(alchemiser, "init", ".", cwd=project)
    with timed(figures, "demo"):
        demo = sh(alchemiser, "demo", cwd=project)

    assert "strategies/allocations.prod.json" in wrote.stdout and "alchemiser demo" in wrote.stdout
    assert (project / "strategies" / "allocations.prod.json").read_bytes() == (
        ROOT / "strategies" / "allocations.prod.json"
    ).read_bytes()
    first = demo.stdout.splitlines()[0]
    assert first.startswith("Session ") and ": SUCCESS (" in first, demo.stdout[-3000:]
    session = first.removeprefix("Session ").split(":")[0]
    # The run's state is the project's: stored assets, the stand-in's account, logs, the instance.
    assert list((project / ".alchemiser" / "storage" / "execution_result" / session).glob("*.json"))
    assert (project / ".alchemiser" / "storage" / "daily_report" / f"{session}.html").is_file()
    assert list((project / ".alchemiser" / "sim").iterdir())
    assert list((project / ".alchemiser" / "logs" / session).glob("*.jsonl"))
    home = project / ".dagster_home"
    assert f"DAGSTER_HOME={home}" in demo.stdout
    assert os.readlink(home / "dagster.yaml") == "../dagster.yaml"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert [(r.status, r.tags.get("dagster/partition")) for r in runs] == [
            (dg.DagsterRunStatus.SUCCESS, session)
        ]
    # ... and nothing of it in the installed package.
    template = package / "project_template"
    strays = [
        p for p in venv.rglob("*")
        if p.name in {".alchemiser", ".dagster_home", "strategies"} and not p.is_relative_to(template)
    ]  # fmt: skip
    assert strays == [], strays
    print("\n" + "\n".join(f"{name}: {seconds:.1f} s" for name, seconds in figures.items()))

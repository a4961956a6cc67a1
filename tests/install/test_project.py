"""The project folder: every default path lies in it, and `alchemiser init` scaffolds one."""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import alchemiser_dagster
from alchemiser_dagster.cli.init import init
from alchemiser_dagster.cli.run import demo
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.strategy.config import load_allocation_config
from alchemiser_dagster.project import dagster_home, template_files
from alchemiser_dagster.settings import Settings, load_settings, settings_file

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Path(str(template_files()))
PACKAGE = Path(alchemiser_dagster.__file__).parent


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No inherited ALCHEMISER_* or DAGSTER_HOME; the working directory is an empty folder."""
    for name in list(os.environ):
        if name.startswith("ALCHEMISER_") or name == "DAGSTER_HOME":
            monkeypatch.delenv(name)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_the_packaged_template_is_the_repositorys_project() -> None:
    """One set of examples: the checkout's `make demo` runs exactly what `alchemiser init` writes."""
    assert files_under(TEMPLATE / "strategies") == files_under(ROOT / "strategies")
    for name in ("dagster.yaml", "workspace.yaml"):
        assert (TEMPLATE / name).read_bytes() == (ROOT / name).read_bytes(), name


def test_defaults_lie_in_the_working_directory_never_the_package() -> None:
    s = Settings()
    here = Path.cwd()
    assert s.config == here / "strategies" / "allocations.prod.json"
    assert (s.storage, s.sim_state, s.log_dir) == (
        str(here / ".alchemiser" / "storage"), here / ".alchemiser" / "sim", here / ".alchemiser" / "logs",
    )  # fmt: skip
    assert not s.config.is_relative_to(PACKAGE.parent)


def test_alchemiser_home_names_the_project_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "project"
    (home / "strategies").mkdir(parents=True)
    (home / "alchemiser.toml").write_text(
        'config = "strategies/mine.json"\nstorage = "s3://bucket/alchemiser"\n'
    )
    monkeypatch.setenv("ALCHEMISER_HOME", str(home))
    monkeypatch.setenv("ALCHEMISER_SIM_STATE", "state/sim")  # relative: in the project, not the cwd
    s = load_settings()
    assert settings_file() == home / "alchemiser.toml"
    assert s.config == home / "strategies" / "mine.json"
    assert s.storage == "s3://bucket/alchemiser"  # a URL is no path of the project
    assert s.sim_state == home / "state" / "sim"
    assert s.log_dir == home / ".alchemiser" / "logs"


def test_init_writes_a_project_whose_settings_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "new"
    result = CliRunner().invoke(init, [str(target)])
    assert result.exit_code == 0, result.output
    written = files_under(target)
    assert {k: v for k, v in written.items() if k != ".gitignore"} == files_under(TEMPLATE)
    assert ".alchemiser/" in written[".gitignore"].decode()
    assert "strategies/allocations.prod.json" in result.output
    assert f"cd {target} && alchemiser demo" in result.output
    monkeypatch.setenv("ALCHEMISER_HOME", str(target))
    s = load_settings()
    assert settings_file() == target / "alchemiser.toml" and s.mode == "embedded"
    config = load_allocation_config(s.config)
    assert set(config.files) == {"1-KMLM.clj", "2-Nuclear.clj", "5-Coin.clj", "6-TQQQ-FLT.clj"}


def test_init_refuses_to_overwrite_and_names_every_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "1-KMLM.clj").write_text("my edits")
    (tmp_path / "workspace.yaml").write_text("mine")
    result = CliRunner().invoke(init, [str(tmp_path)])
    assert result.exit_code == 1
    assert "2 file(s)" in result.output
    assert str(tmp_path / "strategies" / "1-KMLM.clj") in result.output
    assert str(tmp_path / "workspace.yaml") in result.output and "--force" in result.output
    assert (tmp_path / "strategies" / "1-KMLM.clj").read_text() == "my edits"
    assert not (tmp_path / "dagster.yaml").exists()  # nothing written at all


def test_init_force_overwrites_the_template_files_only(tmp_path: Path) -> None:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "1-KMLM.clj").write_text("my edits")
    (tmp_path / "strategies" / "mine.clj").write_text("my own symphony")
    result = CliRunner().invoke(init, [str(tmp_path), "--force"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "strategies" / "1-KMLM.clj").read_bytes() == (
        ROOT / "strategies" / "1-KMLM.clj"
    ).read_bytes()
    assert (tmp_path / "strategies" / "mine.clj").read_text() == "my own symphony"


def test_init_into_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    result = CliRunner().invoke(init, [str(tmp_path / "taken")])
    assert result.exit_code == 2 and "is a file" in result.output


def test_dagster_home_links_the_projects_instance_settings() -> None:
    (Path.cwd() / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    home = dagster_home()
    assert home == Path.cwd() / ".dagster_home" and os.environ["DAGSTER_HOME"] == str(home)
    link = home / "dagster.yaml"
    assert link.is_symlink() and os.readlink(link) == "../dagster.yaml"  # the folder may move
    assert link.read_text() == "telemetry:\n  enabled: false\n"


def test_a_project_without_instance_settings_gets_the_packaged_default() -> None:
    home = dagster_home()
    assert (home / "dagster.yaml").read_bytes() == (TEMPLATE / "dagster.yaml").read_bytes()
    assert not (home / "dagster.yaml").is_symlink()


def test_a_dangling_instance_settings_link_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(tmp_path / "gone.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with pytest.raises(ConfigError, match=r"dagster\.yaml links to .*gone\.yaml, which does not exist"):
        dagster_home()


def test_the_demo_outside_a_project_says_how_to_make_one() -> None:
    result = CliRunner().invoke(demo, [])
    assert result.exit_code == 2
    assert str(Path.cwd() / "strategies" / "allocations.prod.json") in result.output
    assert f"is {Path.cwd()} a project? `alchemiser init` creates one" in result.output
    assert not (Path.cwd() / ".dagster_home").exists()  # stopped before touching anything

"""Allocation configs: strategies stay inside the config's folder, and nothing is taken twice or silently."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.strategy.config import load_allocation_config

SYMPHONY = '(defsymphony "s" {} (asset "SPY"))\n'
FOREIGN = "TOP-SECRET-FIRST-TOKEN other words\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "a.clj").write_text(SYMPHONY)
    (configs / "b.clj").write_text(SYMPHONY)
    (configs / "sub").mkdir()
    (configs / "sub" / "c.edn").write_text(SYMPHONY)
    (configs / "d.json").write_text("{}")
    (tmp_path / "foreign.clj").write_text(FOREIGN)
    return configs


def write(folder: Path, text: str) -> Path:
    path = folder / "alloc.json"
    path.write_text(text)
    return path


def config_of(folder: Path, shares: dict[str, object]) -> Path:
    return write(folder, json.dumps({"files": list(shares), "allocations": shares}))


def test_files_inside_the_folder_of_any_suffix_are_accepted(folder: Path) -> None:
    config = load_allocation_config(config_of(folder, {"a.clj": 0.5, "sub/c.edn": 0.25, "d.json": 0.25}))
    assert config.allocations == {
        "a.clj": Decimal("0.5"),
        "sub/c.edn": Decimal("0.25"),
        "d.json": Decimal("0.25"),
    }


def test_a_symlink_inside_the_folder_to_a_file_inside_is_accepted(folder: Path) -> None:
    (folder / "alias.clj").symlink_to(folder / "sub" / "c.edn")
    config = load_allocation_config(config_of(folder, {"a.clj": 0.5, "alias.clj": 0.5}))
    assert config.files == ("a.clj", "alias.clj")


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "symlinked_folder"])
def test_a_strategy_outside_the_folder_is_refused_without_reading_it(folder: Path, kind: str) -> None:
    foreign = folder.parent / "foreign.clj"
    if kind == "dotdot":
        name = "../foreign.clj"
    elif kind == "absolute":
        name = str(foreign)
    elif kind == "symlink":
        (folder / "innocent.clj").symlink_to(foreign)
        name = "innocent.clj"
    else:
        (folder / "linked").symlink_to(folder.parent)
        name = "linked/foreign.clj"
    path = config_of(folder, {"a.clj": 0.5, name: 0.5})
    with pytest.raises(ConfigError) as error:
        load_allocation_config(path)
    message = str(error.value)
    assert message.startswith(f"{path}: strategy files must be inside the config's folder")
    assert repr(name) in message
    assert "TOP-SECRET" not in message


def test_dotdot_that_stays_inside_is_the_same_file_twice(folder: Path) -> None:
    path = config_of(folder, {"a.clj": 0.5, "sub/../a.clj": 0.5})
    with pytest.raises(
        ConfigError, match=r"files lists a strategy twice: 'a\.clj' and 'sub/\.\./a\.clj' are the same"
    ):
        load_allocation_config(path)


@pytest.mark.parametrize("spelling", ["./a.clj", "sub/../a.clj", "link.clj"])
def test_the_same_file_under_two_spellings_is_refused(folder: Path, spelling: str) -> None:
    (folder / "link.clj").symlink_to(folder / "a.clj")
    path = config_of(folder, {"a.clj": 0.5, spelling: 0.5})
    with pytest.raises(ConfigError, match=f"{path}: files lists a strategy twice: 'a.clj' and '{spelling}'"):
        load_allocation_config(path)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            '{"files": ["a.clj", "b.clj"], "allocations": {"a.clj": 0.5, "b.clj": 0.2, "b.clj": 0.5}}',
            "config.allocations: 'b.clj'",
        ),
        ('{"files": ["a.clj"], "files": ["b.clj"], "allocations": {"b.clj": 1}}', "config: 'files'"),
    ],
)
def test_a_key_given_twice_is_refused(folder: Path, text: str, named: str) -> None:
    path = write(folder, text)
    with pytest.raises(ConfigError, match="keys given more than once") as error:
        load_allocation_config(path)
    assert str(error.value).startswith(str(path)) and named in str(error.value)


@pytest.mark.parametrize(
    ("share", "kind"), [(True, "true"), (False, "false"), ("1", "the string '1'"), (None, "null")]
)
def test_a_share_must_be_a_json_number(folder: Path, share: object, kind: str) -> None:
    path = config_of(folder, {"a.clj": share})
    with pytest.raises(ConfigError, match=f"share of a.clj must be a JSON number, got {kind}"):
        load_allocation_config(path)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_share_that_is_not_a_finite_number_is_named_so(folder: Path, literal: str) -> None:
    path = write(folder, f'{{"files": ["a.clj"], "allocations": {{"a.clj": {literal}}}}}')
    with pytest.raises(ConfigError) as error:
        load_allocation_config(path)
    message = str(error.value)
    assert message.startswith(f"{path}: allocations: ")
    assert "share of a.clj must be a finite number between 0 and 1, got" in message, message
    assert "float" not in message


def test_integer_shares_still_count(folder: Path) -> None:
    assert load_allocation_config(config_of(folder, {"a.clj": 1})).allocations == {"a.clj": Decimal(1)}


def test_the_repositorys_configs_still_load() -> None:
    root = Path(__file__).resolve().parents[3]
    for name in ("allocations.prod.json", "allocations.dev.json"):
        config = load_allocation_config(root / "strategies" / name)
        assert sum(config.allocations.values()) == 1

"""The resources the graph is wired with: modes from the table, settings parsed once."""

import shutil
from pathlib import Path

import pytest

from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.modes import MODES, mode_profile
from alchemiser_dagster.pipeline.resources import BrokerResource, SettingsResource, build_resources
from alchemiser_dagster.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_mode_is_in_the_table_and_an_unknown_one_is_named() -> None:
    assert set(MODES) == set(Settings.model_fields["mode"].annotation.__args__)  # type: ignore[union-attr]
    assert [m for m, p in MODES.items() if p.stand_in] == ["embedded"]
    assert [m for m, p in MODES.items() if p.live_confirm] == ["live"] and not MODES["live"].paper
    with pytest.raises(ConfigError, match="unknown mode 'demo'; known: embedded, paper, live"):
        mode_profile("demo")


def test_the_broker_resource_follows_the_table(tmp_path: Path) -> None:
    embedded = build_resources(Settings(sim_state=tmp_path / "sim"))["broker"]
    paper = build_resources(Settings(mode="paper", broker_url="http://127.0.0.1:1"))["broker"]
    assert isinstance(embedded, BrokerResource) and isinstance(paper, BrokerResource)
    assert embedded.sim_state_dir == str(tmp_path / "sim") and embedded.broker_url is None
    assert paper.sim_state_dir == "" and paper.broker_url == "http://127.0.0.1:1"


def test_settings_are_parsed_and_the_allocation_read_once(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "strategies", tmp_path / "strategies")
    config = tmp_path / "strategies" / "allocations.prod.json"
    resource = SettingsResource(values=Settings(config=config).model_dump_json())
    assert resource.settings() is resource.settings()
    first = resource.allocation
    config.write_text("not json")  # a second read would fail
    assert resource.allocation is first and resource.planning == Settings().planning

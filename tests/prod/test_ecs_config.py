"""The ECS deployment files are consistent and valid (no Docker engine or AWS account here:
the image is not built and no task is launched; see the README's production section)."""

from __future__ import annotations

import re

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config_schema
from dagster_aws.ecs import EcsRunLauncher

from tests.prod.conftest import PROD_YAML, ROOT

ECS = ROOT / "deploy" / "ecs"
ENV = {
    **{
        f"DAGSTER_PG_{k}": v
        for k, v in {"HOST": "db", "PORT": "5432", "USER": "u", "PASSWORD": "p", "DB": "d"}.items()
    },
    "DAGSTER_COMPUTE_LOGS_BUCKET": "logs",
    "DAGSTER_COMPUTE_LOGS_PREFIX": "alchemiser",
    "ALCHEMISER_RUN_TASK_DEFINITION": "alchemiser-run:3",
    "ALCHEMISER_PG_PASSWORD_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:pg-AbCdEf",
    "ALCHEMISER_ECS_CLUSTER": "alchemiser",
}


def merged() -> dict[str, object]:
    """What the Dockerfile writes as $DAGSTER_HOME/dagster.yaml: prod + the ECS run launcher."""
    config = yaml.safe_load(PROD_YAML.read_text())
    config.update(yaml.safe_load((ECS / "run_launcher.yaml").read_text()))
    return config  # type: ignore[no-any-return]


def test_the_merged_instance_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    config = merged()
    result = process_config(dagster_instance_config_schema(), config)
    assert result.success, [e.message for e in result.errors or []]
    launcher = config["run_launcher"]
    assert isinstance(launcher, dict) and launcher["class"] == "EcsRunLauncher"
    checked = process_config(EcsRunLauncher.config_type(), launcher["config"])
    assert checked.success, [e.message for e in checked.errors or []]
    values = checked.value
    assert values["task_definition"] == {"env": "ALCHEMISER_RUN_TASK_DEFINITION"}
    assert values["run_task_kwargs"]["cluster"] == ENV["ALCHEMISER_ECS_CLUSTER"]
    assert values["secrets"][0] == {
        "name": "DAGSTER_PG_PASSWORD",
        "valueFrom": ENV["ALCHEMISER_PG_PASSWORD_SECRET_ARN"],
    }
    assert "alchemiser/account" in values["propagate_tags"]["allow_list"]
    assert config["storage"] == yaml.safe_load(PROD_YAML.read_text())["storage"]  # only the launcher differs


def test_the_dockerfile_copies_what_exists_and_serves_our_locations() -> None:
    text = (ECS / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", text, flags=re.MULTILINE):
        *sources, _ = line.split()
        for source in sources:
            assert (ROOT / source).exists(), source
    assert "-m alchemiser_dagster.definitions" in text
    assert "-m alchemiser_dagster.accounts_definitions -a" in text
    import alchemiser_dagster.accounts_definitions
    import alchemiser_dagster.definitions  # noqa: F401


def test_every_secret_in_the_instance_config_comes_from_the_environment() -> None:
    def walk(node: object, path: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}"
                secret = any(
                    word in str(key).lower() for word in ("password", "secret", "valuefrom", "token")
                )
                from_env = isinstance(value, dict) and set(value) == {"env"}
                if secret and not from_env and not (isinstance(value, list) or value is None):
                    found.append(where)
                found += walk(value, where)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                found += walk(value, f"{path}[{i}]")
        return found

    assert walk(merged(), "dagster.yaml") == []

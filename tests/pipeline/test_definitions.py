"""The code location loads: `dagster dev` and the webserver start from this object."""

from __future__ import annotations

import dagster as dg

from alchemiser_dagster.definitions import defs


def test_definitions_load() -> None:
    assert isinstance(defs, dg.Definitions)
    defs.get_repository_def()  # resolves every asset, job and resource; raises if inconsistent

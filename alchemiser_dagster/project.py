"""The project folder: where a user's strategies, settings and state live.

Every default path of the product (allocation config, storage, the stand-in's state, run
logs, DAGSTER_HOME, the settings file) is relative to the project folder, never to the
installed package: installed as a wheel, the package sits in site-packages, which is
neither writable nor where the user's strategies are. The project folder is
``ALCHEMISER_HOME`` when set, else the current directory; a checkout of the repository
is a project folder too (`strategies/`, `dagster.yaml`, `workspace.yaml` at its root).
``alchemiser init DIR`` scaffolds a new one from the templates shipped in the package.
"""

import os
import shutil
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from alchemiser_dagster.domain.errors import ConfigError

HOME_VARIABLE = "ALCHEMISER_HOME"
DAGSTER_HOME_FOLDER = ".dagster_home"
DAGSTER_SETTINGS = "dagster.yaml"


def project_root() -> Path:
    """ALCHEMISER_HOME (made absolute) when set, else the current directory; read at each call."""
    named = os.environ.get(HOME_VARIABLE)
    return Path(named).expanduser().resolve() if named else Path.cwd()


def project_path(*parts: str) -> Path:
    """A path inside the project folder, e.g. ``project_path(".alchemiser", "storage")``."""
    return project_root().joinpath(*parts)


def template_files() -> Traversable:
    """The project template shipped in the package: example strategies and instance files."""
    return resources.files("alchemiser_dagster") / "project_template"


def dagster_home() -> Path:
    """DAGSTER_HOME (default: the project's `.dagster_home`), holding the instance settings.

    The instance reads the project's `dagster.yaml` through a relative link (so the folder can
    move); a project without one gets the packaged default written in, never a path into the
    package.
    """
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(project_path(DAGSTER_HOME_FOLDER))))
    home.mkdir(parents=True, exist_ok=True)
    settings = home / DAGSTER_SETTINGS
    if settings.exists():
        return home
    if settings.is_symlink():
        raise ConfigError(
            f"{settings} links to {os.readlink(settings)}, which does not exist:"
            " restore that file or remove the link (the project's dagster.yaml is then linked anew)"
        )
    project_settings = project_path(DAGSTER_SETTINGS)
    if project_settings.is_file():
        settings.symlink_to(os.path.relpath(project_settings, home))
    else:
        with (template_files() / DAGSTER_SETTINGS).open("rb") as source, settings.open("wb") as target:
            shutil.copyfileobj(source, target)
    return home

"""``alchemiser init DIR``: scaffold a project folder from the template shipped in the package.

The template (``alchemiser_dagster/project_template/``) holds the example strategies and
allocation configs the demo runs, a commented ``alchemiser.toml``, and the Dagster instance
and workspace files, none with an absolute path. An existing file is never overwritten
without ``--force``: the command names every file in the way and writes nothing.
"""

import shlex
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

import click

from alchemiser_dagster.project import HOME_VARIABLE, template_files

# The project's own state and instance folder are rebuilt by runs; the strategies are the user's.
GITIGNORE = ".gitignore"
TOP = PurePosixPath()
GITIGNORE_TEXT = "# Written by `alchemiser init`: run state, not sources.\n.alchemiser/\n.dagster_home/\n"


def template_entries(folder: Traversable, prefix: PurePosixPath = TOP) -> list[PurePosixPath]:
    """Every file of the template, as a path relative to its root, sorted."""
    found: list[PurePosixPath] = []
    for entry in folder.iterdir():
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found += template_entries(entry, prefix / entry.name)
        else:
            found.append(prefix / entry.name)
    return sorted(found)


def scaffold(target: Path, force: bool) -> list[Path]:
    """Write the template into `target`; return the files written. Refuses to overwrite unless forced."""
    root = template_files()
    entries = [*template_entries(root), PurePosixPath(GITIGNORE)]
    destinations = [target.joinpath(*entry.parts) for entry in entries]
    existing = [d for d in destinations if d.exists() or d.is_symlink()]
    if existing and not force:
        names = "\n".join(f"  {d}" for d in existing)
        raise click.ClickException(
            f"{len(existing)} file(s) of the project template already exist in {target}:\n{names}\n"
            "Nothing was written. Use --force to overwrite them (other files are left alone)."
        )
    for entry, destination in zip(entries, destinations, strict=True):
        destination.parent.mkdir(parents=True, exist_ok=True)
        if entry.name == GITIGNORE:
            destination.write_text(GITIGNORE_TEXT, encoding="utf-8")
        else:
            destination.write_bytes(root.joinpath(*entry.parts).read_bytes())
    return destinations


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--force", is_flag=True, help="Overwrite files of the template that already exist.")
def init(directory: Path, force: bool) -> None:
    """Create a project folder in DIRECTORY (default: here): example strategies and settings."""
    written = scaffold(directory, force)
    click.echo(f"Wrote {len(written)} files to {directory.resolve()}:")
    click.echo("\n".join(f"  {path.relative_to(directory)}" for path in written))
    go = "" if directory.resolve() == Path.cwd().resolve() else f"cd {shlex.quote(str(directory))} && "
    click.echo(
        f"\nNext: {go}alchemiser demo   (a daily run on the local stand-in broker)\n"
        f"Commands use the project in the current folder, or the one {HOME_VARIABLE} names."
    )

"""``alchemiser strategy convert``: one symphony, from any spelling, to canonical text or score JSON.

FILE may be any form `strategy eval` reads (`.clj` text in any dialect of spec §9, or a
Composer score-JSON `.json`). Without `--to` it is converted to the other form: JSON to
canonical `.clj`, text to score JSON. The output is read back and compared with FILE's
strategy before anything is written, so a conversion that would change the strategy
fails instead of producing a file. Exit codes as `strategy eval`: 2 with
`FILE:LINE:COL` (or `FILE:$.path`) for an error in FILE, 1 for usage and I/O.
"""

from pathlib import Path

import click

from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.convert import ConvertForm, convert_symphony


def default_form(path: Path) -> ConvertForm:
    """The other form of `path`: score JSON becomes text, text becomes score JSON."""
    return "clj" if path.suffix.lower() == ".json" else "json"


@click.command("convert")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--to",
    "form",
    type=click.Choice(["clj", "json"]),
    help="Output form (default: the other form of FILE).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of stdout.",
)
def convert(file: Path, form: ConvertForm | None, out: Path | None) -> None:
    """Convert the symphony FILE to canonical .clj text or Composer score JSON."""
    text = convert_symphony(load_symphony(file), form or default_form(file))
    if out is None:
        click.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")

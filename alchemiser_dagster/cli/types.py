"""Click parameter types every command group shares."""

import click

DATE = click.DateTime(formats=["%Y-%m-%d"])  # a session date as written everywhere: YYYY-MM-DD

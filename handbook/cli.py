"""The `handbook` entry point: one group, and the commands of assistant, ingest, ui and evals registered on it."""
from __future__ import annotations

from pathlib import Path

import click

from assistant.cli import ask_command, toc_command
from evals.cli import eval_command, eval_diff_command
from ingest.cli import ingest_command, remove_command, setup_command
from ui.cli import log_command, serve_command


@click.group()
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data directory (index, models, logs); overrides HANDBOOK_HOME.")
@click.version_option(package_name="nyt-sammen-bedre-assistant")
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """Ask the handbook NYT SAMMEN BEDRE; every answer cites chapter, section and page."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


for command in (setup_command, ingest_command, ask_command, toc_command, remove_command, serve_command,
                log_command, eval_command, eval_diff_command):
    cli.add_command(command)


def main() -> None:
    cli(obj={})

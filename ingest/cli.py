"""`handbook setup`, `handbook ingest` and `handbook remove`: the commands that build the index."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from assistant.command import handles_errors, settings_from


@click.command("setup")
@click.pass_context
@handles_errors
def setup_command(ctx: click.Context) -> None:
    """Prepare the embedding model offline and index the bundled corpus if nothing is indexed."""
    from ingest.setup import setup

    for line in setup(settings_from(ctx)):
        click.echo(line)


@click.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Also drop indexed files that are gone from the given folders.")
@click.option("--json", "as_json", is_flag=True, help="Print the per-file summary as JSON.")
@click.option("--verbose", is_flag=True, help="Also show the parsers' own warnings (always in logs/ingest.log).")
@click.pass_context
@handles_errors
def ingest_command(ctx: click.Context, paths: tuple[Path, ...], prune: bool, as_json: bool, verbose: bool) -> None:
    """Index files and folders (Markdown, text, HTML, DOCX, PDF); with no PATH, the bundled corpus."""
    from ingest.notices import route_logs
    from ingest.progress import progress_bar
    from ingest.report import problem_line, summary_lines
    from ingest.run import ingest_paths

    settings = settings_from(ctx)
    with route_logs(settings.logs_dir / "ingest.log", verbose=verbose), progress_bar() as progress:
        report = ingest_paths(list(paths), settings, prune=prune, progress=progress)
    for line in filter(None, map(problem_line, report.outcomes)):
        click.echo(line, err=True)
    lines = [json.dumps(report.to_json(), ensure_ascii=False)] if as_json else summary_lines(report)
    click.echo("\n".join(lines))
    if report.errors:
        sys.exit(1)


@click.command("remove")
@click.argument("sources", nargs=-1, required=True)
@click.pass_context
@handles_errors
def remove_command(ctx: click.Context, sources: tuple[str, ...]) -> None:
    """Drop documents from the index by their source name (as `handbook toc` shows it)."""
    from ingest.run import remove_sources

    for source, count in remove_sources(list(sources), settings_from(ctx)):
        click.echo(f"Removed {source} ({count} chunks).")

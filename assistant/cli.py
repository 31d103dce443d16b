"""The `handbook` command: thin wrappers that parse options, call the library, print, and format known errors."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from .errors import HandbookError
from .settings import RETRIEVAL_MODES, load_settings


def _settings(ctx: click.Context, **options: Any):
    return load_settings(home=ctx.obj.get("home"), **options)


def _fail(exc: HandbookError) -> None:
    click.echo(f"Error: {exc}", err=True)
    sys.exit(1)


def handles_errors(fn: Callable) -> Callable:
    """Known errors become one line on stderr and exit status 1; anything else propagates."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HandbookError as exc:
            _fail(exc)
    return wrapper


@click.group()
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data directory (index, models, logs); overrides HANDBOOK_HOME.")
@click.version_option(package_name="nyt-sammen-bedre-assistant")
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """Ask the handbook NYT SAMMEN BEDRE; every answer cites chapter, section and page."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


@cli.command()
@click.pass_context
@handles_errors
def setup(ctx: click.Context) -> None:
    """Prepare the embedding model offline and index the bundled corpus if nothing is indexed."""
    from ingest.setup import setup as run_setup

    for line in run_setup(_settings(ctx)):
        click.echo(line)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Also drop indexed files that are gone from the given folders.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
@handles_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], prune: bool, as_json: bool) -> None:
    """Index files and folders (Markdown, text, HTML, DOCX, PDF); with no PATH, the bundled corpus."""
    from ingest.progress import progress_bar
    from ingest.run import ingest_paths, summary_line

    with progress_bar() as progress:
        report = ingest_paths(list(paths), _settings(ctx), prune=prune, progress=progress)
    for error in report.errors:
        click.echo(f"skipped {error}", err=True)
    click.echo(json.dumps(report.to_json(), ensure_ascii=False) if as_json else summary_line(report))
    if report.errors:
        sys.exit(1)


@cli.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per answer (see README).")
@click.option("--retrieval", type=click.Choice(RETRIEVAL_MODES), default=None, help="Retrieval mode.")
@click.option("--top-k", type=int, default=None, help="How many passages to retrieve.")
@click.pass_context
@handles_errors
def ask(ctx: click.Context, question: str | None, as_json: bool, retrieval: str | None, top_k: int | None) -> None:
    """Answer QUESTION, or each line of standard input when QUESTION is left out."""
    from . import open_assistant
    from .errors import QuestionError
    from .render import render_text

    assistant = open_assistant(_settings(ctx, retrieval=retrieval, top_k=top_k))
    questions = [question] if question is not None else (line for line in sys.stdin if line.strip())
    for q in questions:
        try:
            answer = _answer(assistant, q, live=not as_json and assistant.settings.llm != "extractive")
        except QuestionError as exc:
            if question is not None:
                raise
            click.echo(json.dumps({"question": q.strip(), "error": str(exc)}, ensure_ascii=False) if as_json
                       else f"Error: {exc}")
            continue
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False) if as_json else render_text(answer))
        sys.stdout.flush()


def _answer(assistant: Any, question: str, live: bool) -> Any:
    """Generated answers stream to stderr as they come; the checked answer is then printed to stdout."""
    if not live:
        return assistant.ask(question)
    answer = None
    for item in assistant.stream(question):
        if isinstance(item, str):
            click.echo(item, nl=False, err=True)
        else:
            answer = item
    click.echo("", err=True)
    return answer


@cli.command()
@click.pass_context
@handles_errors
def toc(ctx: click.Context) -> None:
    """Print the table of contents that ingestion recorded."""
    from .catalog import Catalog
    from .errors import NoIndexError
    from .store import catalog_path, has_index

    settings = _settings(ctx)
    if not has_index(settings):
        raise NoIndexError("Nothing is indexed yet: run `handbook ingest` first.")
    for chapter in Catalog(catalog_path(settings)).chapters():
        click.echo(f"{chapter.label}  ({chapter.source})")
        for section in chapter.sections:
            click.echo(f"    {section}")


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.pass_context
@handles_errors
def remove(ctx: click.Context, sources: tuple[str, ...]) -> None:
    """Drop documents from the index by their source name (as `handbook toc` shows it)."""
    from ingest.run import remove_sources

    for source, count in remove_sources(list(sources), _settings(ctx)):
        click.echo(f"Removed {source} ({count} chunks).")


# Commands that live with the part they drive (ui/, evals/); their modules import heavy things lazily.
EXTERNAL_COMMANDS = {"serve": "ui.cli", "log": "ui.cli", "eval": "evals.cli"}


def _register_external_commands() -> None:
    import importlib

    for name, module_name in EXTERNAL_COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        command = getattr(module, f"{name}_command", None)
        if command is not None:
            cli.add_command(command, name)


_register_external_commands()


def main() -> None:
    cli(obj={})

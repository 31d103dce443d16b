"""`handbook ask` and `handbook toc`: the library's own commands (the shell in handbook/cli.py registers them)."""
from __future__ import annotations

import json
import sys

import click

from assistant.command import handles_errors, settings_from
from assistant.settings import RETRIEVAL_MODES


@click.command("ask")
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per answer (see README).")
@click.option("--retrieval", type=click.Choice(RETRIEVAL_MODES), default=None, help="Retrieval mode.")
@click.option("--top-k", type=int, default=None, help="How many passages to retrieve.")
@click.option("--source", "sources", multiple=True, metavar="SOURCE",
              help="Answer only from this document (as `handbook toc` names it); repeat for several. Default: all.")
@click.pass_context
@handles_errors
def ask_command(ctx: click.Context, question: str | None, as_json: bool, retrieval: str | None,
                top_k: int | None, sources: tuple[str, ...]) -> None:
    """Answer QUESTION, or each line of standard input when QUESTION is left out."""
    from assistant import open_assistant
    from assistant.answer.render import render_text
    from assistant.errors import QuestionError

    assistant = open_assistant(settings_from(ctx, retrieval=retrieval, top_k=top_k))
    questions = [question] if question is not None else (line for line in sys.stdin if line.strip())
    live = not as_json and assistant.settings.llm != "extractive"
    for q in questions:
        try:
            answer = _answer(assistant, q, live, list(sources))
        except QuestionError as exc:
            if question is not None:
                raise
            click.echo(json.dumps({"question": q.strip(), "error": str(exc)}, ensure_ascii=False) if as_json
                       else f"Error: {exc}")
            continue
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False) if as_json else render_text(answer))
        sys.stdout.flush()


def _answer(assistant, question: str, live: bool, sources: list[str]):
    """Generated answers stream to stderr as they come; the checked answer is then printed to stdout."""
    if not live:
        return assistant.ask(question, sources=sources)
    shown = ""
    for answer in assistant.stream(question, sources=sources):
        if answer.draft:
            click.echo(answer.answer[len(shown):], nl=False, err=True)
            shown = answer.answer
    click.echo("", err=True)
    return answer


@click.command("toc")
@click.pass_context
@handles_errors
def toc_command(ctx: click.Context) -> None:
    """Print the table of contents that ingestion recorded."""
    from assistant import open_index

    with open_index(settings_from(ctx)) as index:
        files = index.catalog.files()
        copies: dict[str, list[str]] = {}
        for source, record in files.items():
            if record.copy_of:
                copies.setdefault(record.copy_of, []).append(source)
        described: set[str] = set()  # a document's author, date and copies are said once, at its first chapter
        for chapter in index.catalog.chapters():
            record = files.get(chapter.source) if chapter.source not in described else None
            about = [x for x in (record.author, record.date) if x] if record else []
            if record and copies.get(chapter.source):
                about.append("copies: " + ", ".join(sorted(copies[chapter.source])))
            described.add(chapter.source)
            click.echo(f"{chapter.label}  ({', '.join([chapter.source, *about])})")
            for section in chapter.sections:
                click.echo(f"    {section}")

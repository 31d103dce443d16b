"""`handbook serve` (the chat window) and `handbook log` (feedback statistics and export); gradio loads lazily."""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import click

from assistant.command import handles_errors, settings_from
from assistant.errors import NoIndexError, SettingsError
from assistant.settings import Settings

from .uploads import is_loopback

AUTH_ENV = "HANDBOOK_AUTH"



def read_auth(settings: Settings, env: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """Logins from HANDBOOK_AUTH="user:password" and the lines of settings.auth_file; none means no login."""
    env = os.environ if env is None else env
    pairs: list[tuple[str, str]] = []
    if env.get(AUTH_ENV):
        pairs.append(_pair(env[AUTH_ENV], AUTH_ENV))
    if settings.auth_file:
        path = Path(settings.auth_file).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"Cannot read the login file {path}: {exc.__class__.__name__}.") from None
        for lineno, line in enumerate(lines, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                pairs.append(_pair(line.strip(), f"{path}:{lineno}"))
        if not pairs:
            raise SettingsError(f"The login file {path} has no 'user:password' lines.")
    return pairs


def _pair(text: str, where: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user.strip() or not password:
        raise SettingsError(f"{where}: a login is 'user:password'.")  # never echo the line: it holds a password
    return user.strip(), password


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; HANDBOOK_HOST).")
@click.option("--port", type=int, default=None, help="Port (default 7860; HANDBOOK_PORT).")
@click.option("--share", is_flag=True, hidden=True)
@click.pass_context
@handles_errors
def serve_command(ctx: click.Context, host: str | None, port: int | None, share: bool) -> None:
    """Open the chat window: cited answers, a reading pane, the contents and feedback."""
    if share:
        raise SettingsError("--share is not supported: the assistant never opens a public tunnel; use --host with "
                            "a login (HANDBOOK_AUTH or HANDBOOK_AUTH_FILE) to serve your own network.")
    settings = settings_from(ctx, host=host, port=port)
    auth = read_auth(settings)
    if not is_loopback(settings.host) and not auth:
        click.echo(f"Warning: serving on {settings.host} without a login: anyone who can reach this machine can use "
                   f"the chat. Set {AUTH_ENV}=user:password or HANDBOOK_AUTH_FILE.", err=True)
    from assistant import open_assistant
    from assistant.feedback_log import QaLog

    from .app import build_app, launch_options

    try:
        open_assistant(settings).warm_up()
    except NoIndexError:
        click.echo("Note: nothing is indexed yet; run `handbook setup` or `handbook ingest` (the chat says so too).",
                   err=True)
    qa_log = QaLog.open(settings)
    demo = build_app(settings, qa_log, uploads=is_loopback(settings.host) or bool(auth))
    try:
        demo.launch(server_name=settings.host, server_port=settings.port, auth=auth or None, share=False,
                    auth_message="Log ind for at spørge håndbogen.", prevent_thread_lock=True, quiet=True,
                    show_error=False, inbrowser=False, max_file_size=int(settings.max_upload_mb * 2 * 1048576),
                    **launch_options())
    except OSError as exc:
        raise SettingsError(f"Cannot listen on {settings.host}:{settings.port} ({exc}); choose another --port.") \
            from None
    click.echo(f"Handbook chat: {_url(settings.host, settings.port)}  (login required: {'yes' if auth else 'no'}; "
               f"Q&A log: {'on' if qa_log else 'off'}; Ctrl+C stops it)", color=False)
    try:
        demo.block_thread()
    finally:
        demo.close()
        if qa_log is not None:
            qa_log.close()


@click.group("log")
def log_command() -> None:
    """The Q&A log written by the chat: statistics, and thumbs-down answers as an eval question set."""


@log_command.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@click.pass_context
@handles_errors
def stats(ctx: click.Context, as_json: bool) -> None:
    """Answers, refusals, thumbs up/down and comments in the log."""
    from assistant.feedback_log import QaLog

    qa_log = QaLog.existing(settings_from(ctx))
    try:
        numbers = qa_log.stats()
    finally:
        qa_log.close()
    if as_json:
        click.echo(json.dumps(numbers, ensure_ascii=False))
        return
    for key, value in numbers.items():
        click.echo(f"{key.replace('_', ' ')}: {value if value is not None else '-'}")


@log_command.command("export")
@click.option("--thumbs-down", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Write the thumbs-down answers to this JSONL file (evals question format).")
@click.pass_context
@handles_errors
def export(ctx: click.Context, out: Path) -> None:
    """Export disliked answers as draft eval questions; review `covered` and add key_facts before using them."""
    from assistant.feedback_log import QaLog, export_thumbs_down

    qa_log = QaLog.existing(settings_from(ctx))
    try:
        count = export_thumbs_down(qa_log, out)
    finally:
        qa_log.close()
    click.echo(f"Wrote {count} question{'s' if count != 1 else ''} to {out}. Review each one (covered, expected, "
               f"key_facts) before adding it to evals/questions/dev.jsonl.")

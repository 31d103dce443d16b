"""What every `handbook` command shares: settings from the command line, and known errors as one line."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from assistant.errors import HandbookError
from assistant.settings import Settings, load_settings


def settings_from(ctx: click.Context, **options: Any) -> Settings:
    """Defaults, then HANDBOOK_* variables, then the global --home and this command's options."""
    return load_settings(home=(ctx.find_root().obj or {}).get("home"), **options)


def handles_errors(fn: Callable) -> Callable:
    """Known errors become one line on stderr and exit status 1; anything else propagates."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except HandbookError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
    return wrapper

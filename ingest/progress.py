"""A progress bar on standard error for long ingests (hidden when stderr is not a terminal)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .indexing import Progress


@contextmanager
def progress_bar() -> Iterator[Progress]:
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}
    labels = {"read": "Reading files", "embed": "Embedding chunks"}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=labels.get(stage, stage), unit="",
                                     disable=None, leave=False, mininterval=0.5)
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()

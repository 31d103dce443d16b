"""Whether a change of the assistant moved a metric by more than chance: two eval runs compared question by question.

Our sets hold 46-93 covered questions each, so one question is 1-2 points of key facts; a change that gained about
two points on every dev set lost about three on three of the four test halves (docs/evals.md, session 9). A paired
bootstrap over the questions both runs scored gives the interval a difference can be trusted to: resample the
questions with replacement, take the mean difference, repeat; the middle 95 % of those means is the interval.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

COMPARED = (("key_fact_recall", "key facts"), ("first_sentence_fact", "1st sentence"), ("correct", "correct"))
ALL_SETS = "all sets"
RESAMPLES = 10_000
LEVEL = 0.95


@dataclass(frozen=True)
class Difference:
    """One metric of one set: the two means over the questions both runs scored, and the interval of after − before."""

    set: str
    metric: str
    questions: int
    before: float
    after: float
    low: float
    high: float
    up: int
    down: int

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def clear(self) -> bool:
        """Whether the interval leaves out zero: a change chance alone would rarely give."""
        return self.low > 0 or self.high < 0


def paired_interval(before: Sequence[float], after: Sequence[float], resamples: int = RESAMPLES,
                    level: float = LEVEL, seed: int = 0) -> tuple[float, float]:
    """The bootstrap interval of mean(after − before) over paired values (seeded, so a report is reproducible)."""
    diff = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    if diff.size == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def load_results(path: Path) -> dict[str, Any]:
    """An eval's results.json, given as the file or the report folder that holds it."""
    path = path / "results.json" if path.is_dir() else path
    return json.loads(path.read_text(encoding="utf-8"))


def _scores(result: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """{set: {question id: its scores}} of each set's first configuration (the one a plain `handbook eval` runs)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for run in result["runs"]:
        if run["set"] not in out:
            out[run["set"]] = {row["id"]: row["scores"] for row in run["rows"]}
    return out


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[Difference]:
    """Each set both runs hold, each metric of COMPARED: the paired difference over the questions both scored; with
    several sets, also all of them pooled (a small gain on every set can be clear only there)."""
    old, new = _scores(before), _scores(after)
    shared = [s for s in new if s in old]
    groups = [(s, [s]) for s in shared] + ([(ALL_SETS, shared)] if len(shared) > 1 else [])
    out = []
    for name, sets in groups:
        for metric, _ in COMPARED:
            pairs = [(float(old[s][i][metric]), float(new[s][i][metric])) for s in sets for i in new[s]
                     if i in old[s] and old[s][i].get(metric) is not None and new[s][i].get(metric) is not None]
            if not pairs:
                continue
            a, b = [x for x, _ in pairs], [y for _, y in pairs]
            low, high = paired_interval(a, b)
            out.append(Difference(name, metric, len(pairs), float(np.mean(a)), float(np.mean(b)), low, high,
                                  up=sum(y > x for x, y in pairs), down=sum(y < x for x, y in pairs)))
    return out


def difference_table(differences: Sequence[Difference]) -> str:
    """A Markdown table: before → after, the difference and its 95 % interval, questions up and down."""
    titles = dict(COMPARED)
    lines = ["| set | metric | n | before | after | difference (95 % interval) | up | down |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for d in differences:
        mark = " *" if d.clear else ""
        lines.append(f"| {d.set} | {titles[d.metric]} | {d.questions} | {100 * d.before:.1f} % | "
                     f"{100 * d.after:.1f} % | {100 * d.delta:+.1f} ({100 * d.low:+.1f} … {100 * d.high:+.1f}){mark} | "
                     f"{d.up} | {d.down} |")
    return "\n".join(lines)

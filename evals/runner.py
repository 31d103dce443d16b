"""Run question sets against the assistant (or the baseline) and score every answer.

`run_set(path, settings)` runs one set with one configuration; `run_configs(sets, configs)` runs several sets
with several configurations side by side (dense vs BM25 vs hybrid, refusal thresholds, the baseline).
"""
from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from assistant.model.calibration import refusal_threshold
from assistant.settings import Settings

from . import metrics

QUESTIONS_DIR = Path(__file__).resolve().parent / "questions"
KINDS = ("fact", "number", "list", "case", "cross-chapter", "paraphrase", "follow-up", "out-of-scope", "hostile")
LANGUAGES = ("da", "en")
History = list[tuple[str, str]]


# ---------------------------------------------------------------------------------------------------- question sets

class QuestionSetError(ValueError):
    pass


def resolve_set(name: str | Path) -> Path:
    """'dev', 'test' or a path to a JSONL file."""
    path = Path(name)
    if path.suffix != ".jsonl" and not path.exists():
        path = QUESTIONS_DIR / f"{name}.jsonl"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in QUESTIONS_DIR.glob("*.jsonl")))
        raise QuestionSetError(f"No question set {str(name)!r}: give a JSONL path or one of {known}.")
    return path


def load_questions(path: str | Path) -> list[dict[str, Any]]:
    """Read and check a question set (the format is in evals/README.md)."""
    path = resolve_set(path)
    rows, seen = [], set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{lineno}"
        try:
            q = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionSetError(f"{where}: not JSON ({exc})") from None
        for key in ("id", "question", "language", "kind", "covered"):
            if key not in q:
                raise QuestionSetError(f"{where}: missing {key!r}")
        if q["id"] in seen:
            raise QuestionSetError(f"{where}: duplicate id {q['id']!r}")
        seen.add(q["id"])
        if q["kind"] not in KINDS:
            raise QuestionSetError(f"{where}: kind {q['kind']!r} is not one of {', '.join(KINDS)}")
        if q["language"] not in LANGUAGES:
            raise QuestionSetError(f"{where}: language {q['language']!r} is not da or en")
        q.setdefault("expected", [])
        q.setdefault("key_facts", [])
        q.setdefault("history", [])
        if q["covered"] and not (q["expected"] and q["key_facts"]):
            raise QuestionSetError(f"{where}: a covered question needs 'expected' and 'key_facts'")
        if any(not isinstance(f, list) or not f for f in q["key_facts"]):
            raise QuestionSetError(f"{where}: each key fact is a non-empty list of alternatives")
        rows.append(q)
    return rows


# ---------------------------------------------------------------------------------------------------- engines

class Engine(Protocol):
    name: str

    def run(self, question: str, history: History | None, k: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The answer (the --json object) and the ranked passages it was made from (with their text)."""
        ...


class AssistantEngine:
    """The assistant under test, on the very path `handbook ask` and the chat take."""

    def __init__(self, settings: Settings, name: str | None = None) -> None:
        from assistant import open_assistant

        self.settings = settings
        self.name = name or settings.retrieval
        self.assistant = open_assistant(settings)
        self.embedder = self.assistant.embedder

    def run(self, question: str, history: History | None, k: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        from assistant.errors import QuestionError

        t0 = time.perf_counter()
        try:
            found = self.assistant.retrieve(question, history or None)
            data = self.assistant.finish(found, history or None).to_json()
        except QuestionError as exc:  # e.g. an over-long hostile question: the assistant declines it
            ms = (time.perf_counter() - t0) * 1000
            return {"question": question, "answer": str(exc), "refused": True, "citations": [], "score": None,
                    "kind": "error", "timings_ms": {"retrieval": 0.0, "answer": ms, "total": ms}}, []
        for c in data["citations"]:
            c.pop("passage", None)  # the quote is what is scored; passages would triple the results file
        retrieved = [{"rank": h.rank, "source": h.chunk.source, "section": h.chunk.section_title,
                      "chapter_number": h.chunk.chapter_number, "chunk_id": h.chunk.id, "score": h.score,
                      "dense": h.dense, "bm25": h.bm25, "text": h.chunk.text} for h in found.hits[:k]]
        return data, retrieved


def engine_for(config: Config) -> Engine:
    if config.baseline:
        from .baseline import BaselineEngine

        engine = BaselineEngine(config.settings)
        engine.name = config.name
        return engine
    return AssistantEngine(config.settings, config.name)


# ---------------------------------------------------------------------------------------------------- running

def _cold(engine: Engine) -> None:
    """Empty the query-embedding cache so one configuration's latency does not profit from the one before."""
    cache = getattr(getattr(engine, "embedder", None), "_cache", None)
    if hasattr(cache, "clear"):
        cache.clear()


def resolve_history(engine: Engine, history: Sequence[Sequence[str]]) -> History:
    """Earlier turns with an empty answer are asked first, so the follow-up sees the assistant's own answer."""
    out: History = []
    for turn in history:
        prev_q, prev_a = turn[0], (turn[1] if len(turn) > 1 else "")
        if not prev_a:
            prev_a = engine.run(prev_q, out or None, 1)[0].get("answer", "")
        out.append((prev_q, prev_a))
    return out


def run_question(engine: Engine, q: dict[str, Any], k: int, config: str = "") -> dict[str, Any]:
    history = resolve_history(engine, q.get("history") or [])
    _cold(engine)
    answer, retrieved = engine.run(q["question"], history or None, k)
    scores = metrics.score_answer(q, answer, retrieved, k)
    for passage in retrieved:
        passage.pop("text", None)
    return {"id": q["id"], "question": q["question"], "language": q["language"], "kind": q["kind"],
            "covered": q["covered"], "expected": q["expected"], "key_facts": q["key_facts"],
            "history": [list(t) for t in history], "config": config, "answer": answer, "retrieved": retrieved,
            "scores": scores}


def run_set(path: str | Path, settings: Settings, *, engine: Engine | None = None, name: str | None = None,
            progress: Any = None) -> list[dict[str, Any]]:
    """Answer and score every question of one set with one configuration; one row per question."""
    questions = load_questions(path)
    engine = engine or AssistantEngine(settings, name)
    rows = []
    for q in questions:
        rows.append(run_question(engine, q, settings.top_k, name or engine.name))
        if progress is not None:
            progress.update(1)
    return rows


def summarize_rows(rows: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    scored = [r["scores"] | {"kind": r["kind"], "language": r["language"]} for r in rows]
    by_kind = metrics.summarize_by_kind(scored)
    by_kind.update({f"language: {k}": v for k, v in metrics.summarize_by_language(scored).items()})
    return metrics.summarize(scored), by_kind


# ---------------------------------------------------------------------------------------------------- configurations

@dataclass
class Config:
    """One configuration to run: the assistant with these settings, or the llama-index baseline."""

    name: str
    settings: Settings
    baseline: bool = False
    description: str = field(default="")

    def describe(self) -> dict[str, Any]:
        s = self.settings
        if self.baseline:
            return {"name": self.name, "baseline": True, "description": self.description or
                    "llama-index VectorStoreIndex, default SentenceSplitter, same embedding model, top node as answer",
                    "embed_model": s.embed_model, "top_k": s.top_k}
        return {"name": self.name, "baseline": False, "description": self.description, "retrieval": s.retrieval,
                "top_k": s.top_k, "refusal_threshold": refusal_threshold(s), "max_sentences": s.max_sentences,
                "embed_model": s.embed_model, "embed_precision": s.embed_precision, "llm": s.llm}


def default_config(settings: Settings) -> Config:
    return Config(settings.retrieval, settings, description="the current configuration")


def compare_configs(settings: Settings, *, modes: Iterable[str] = ("hybrid", "dense", "bm25"),
                    thresholds: Iterable[float] = (), baseline: bool = True) -> list[Config]:
    """The current configuration first, then the other retrieval modes, threshold variants and the baseline."""
    configs = [default_config(settings)]
    for mode in modes:
        if mode != settings.retrieval:
            configs.append(Config(mode, settings.with_options(retrieval=mode), description=f"retrieval={mode}"))
    for t in thresholds:
        if float(t) != refusal_threshold(settings):
            configs.append(Config(f"{settings.retrieval}@{float(t):g}", settings.with_options(refusal_threshold=t),
                                  description=f"refusal_threshold={float(t):g}"))
    if baseline:
        configs.append(Config("baseline", settings, baseline=True))
    return configs


def _progress(total: int, enabled: bool | None) -> Any:
    from tqdm import tqdm

    disable = (not sys.stderr.isatty()) if enabled is None else not enabled
    return tqdm(total=total, desc="eval", unit="q", disable=disable, file=sys.stderr, dynamic_ncols=True)


def run_configs(sets: Sequence[str | Path], configs: Sequence[Config], *,
                progress: bool | None = None) -> dict[str, Any]:
    """Every set under every configuration: {"runs": [{"set", "config", "summary", "by_kind", "rows"}], ...}."""
    paths = [resolve_set(s) for s in sets]
    sizes = {p: len(load_questions(p)) for p in paths}
    started = time.perf_counter()
    runs = []
    with _progress(sum(sizes.values()) * len(configs), progress) as bar:
        for config in configs:
            bar.set_postfix_str(config.name)
            engine = engine_for(config)
            for path in paths:
                rows = run_set(path, config.settings, engine=engine, name=config.name, progress=bar)
                summary, by_kind = summarize_rows(rows)
                runs.append({"set": path.stem, "set_path": str(path), "config": config.name,
                             "summary": summary, "by_kind": by_kind, "rows": rows})
    return {"created": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - started, 1),
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "k": configs[0].settings.top_k if configs else None,
            "sets": [p.stem for p in paths], "configs": [c.describe() for c in configs], "runs": runs}


def find_run(result: dict[str, Any], set_name: str, config: str | None = None) -> dict[str, Any] | None:
    for run in result["runs"]:
        if run["set"] == set_name and (config is None or run["config"] == config):
            return run
    return None

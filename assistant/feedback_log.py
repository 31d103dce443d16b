"""The Q&A and feedback log: an SQLite file in the data directory, so thumbs-down answers can become eval questions.

Each answer is stored with its question, citations, timings and the settings that produced it (secrets left
out); thumbs up/down and an optional comment refer to it. `export_thumbs_down` writes the disliked answers as a
JSONL question set in the evals format (evals/README.md) for a person to review. `settings.log_enabled=False`
switches the log off: `QaLog.open` then returns None and nothing is written.
"""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from assistant.datamodel import Answer
from assistant.errors import HandbookError
from assistant.settings import Settings

LOG_FILE = "qa.sqlite"
SECRET_FIELD = re.compile(r"key|secret|password|token|auth", re.IGNORECASE)

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,
    refused INTEGER NOT NULL, language TEXT, kind TEXT, citations TEXT NOT NULL, nearest TEXT NOT NULL,
    history TEXT NOT NULL, settings TEXT NOT NULL, timings TEXT NOT NULL, notice TEXT);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, answer_id INTEGER NOT NULL REFERENCES answers(id), time REAL NOT NULL,
    rating INTEGER NOT NULL, comment TEXT);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback(answer_id);
"""


class LogError(HandbookError):
    """The Q&A log is missing or cannot be written."""


def log_path(settings: Settings) -> Path:
    return settings.logs_dir / LOG_FILE


def settings_snapshot(settings: Settings) -> dict[str, Any]:
    """The settings that shaped an answer, as JSON; any field that could name or hold a secret is left out."""
    out: dict[str, Any] = {}
    for f in fields(settings):
        if SECRET_FIELD.search(f.name):
            continue
        value = getattr(settings, f.name)
        out[f.name] = str(value) if isinstance(value, Path) else value
    return out


class QaLog:
    """One SQLite connection guarded by a lock: the chat writes from several worker threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self.db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise LogError(f"Cannot open the Q&A log {path}: {exc}.") from None

    @classmethod
    def open(cls, settings: Settings) -> QaLog | None:
        """The log of these settings, or None when logging is switched off."""
        return cls(log_path(settings)) if settings.log_enabled else None

    @classmethod
    def existing(cls, settings: Settings) -> QaLog:
        """For reading commands: the log must already exist (they never create one)."""
        path = log_path(settings)
        if not path.exists():
            raise LogError(f"No Q&A log at {path} yet: it is written by `handbook serve` while log_enabled is on.")
        return cls(path)

    def close(self) -> None:
        self.db.close()

    def record(self, answer: Answer, settings: Settings, history: Iterable[tuple[str, str]] = ()) -> int:
        """Store one answer; returns its id for feedback."""
        row = (time.time(), answer.question, answer.answer, int(answer.refused), answer.language, answer.kind,
               _json([c.to_json() for c in answer.citations]),
               _json([{"source": r.source, "chapter_number": r.chapter_number, "title": r.title}
                      for r in answer.nearest]),
               _json([list(turn) for turn in history]), _json(settings_snapshot(settings)),
               _json({k: round(v, 2) for k, v in answer.timings_ms.items()}), answer.notice)
        with self._lock, self.db:
            cur = self.db.execute(
                "INSERT INTO answers (time, question, answer, refused, language, kind, citations, nearest, history,"
                " settings, timings, notice) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)
            return int(cur.lastrowid)

    def feedback(self, answer_id: int, rating: int, comment: str | None = None) -> None:
        """Thumbs up (+1), down (-1) or withdrawn (0); the latest feedback on an answer is the one that counts."""
        if rating not in (-1, 0, 1):
            raise LogError(f"A rating is -1, 0 or 1, not {rating!r}.")
        comment = (comment or "").strip() or None
        with self._lock, self.db:
            if not self.db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone():
                raise LogError(f"No answer {answer_id} in the Q&A log.")
            self.db.execute("INSERT INTO feedback (answer_id, time, rating, comment) VALUES (?,?,?,?)",
                            (answer_id, time.time(), rating, comment))

    def comment(self, answer_id: int, comment: str) -> None:
        """Attach a comment to the latest rating of an answer (a rating of 0 when there is none)."""
        latest = self._latest().get(answer_id)
        self.feedback(answer_id, latest["rating"] if latest else 0, comment)

    def _latest(self) -> dict[int, dict[str, Any]]:
        """The latest feedback per answer; a comment given earlier survives a later rating without one."""
        with self._lock:
            rows = self.db.execute("SELECT answer_id, rating, comment FROM feedback ORDER BY id").fetchall()
        out: dict[int, dict[str, Any]] = {}
        for answer_id, rating, comment in rows:
            prev = out.get(answer_id, {})
            out[answer_id] = {"rating": rating, "comment": comment or prev.get("comment")}
        return out

    def answers(self) -> list[dict[str, Any]]:
        """Every logged answer with its latest feedback, oldest first."""
        with self._lock:
            cur = self.db.execute("SELECT * FROM answers ORDER BY id")
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
        latest = self._latest()
        for row in rows:
            for key in ("citations", "nearest", "history", "settings", "timings"):
                row[key] = json.loads(row[key])
            row["refused"] = bool(row["refused"])
            fb = latest.get(row["id"], {})
            row["rating"], row["comment"] = fb.get("rating", 0), fb.get("comment")
        return rows

    def thumbs_down(self) -> list[dict[str, Any]]:
        return [row for row in self.answers() if row["rating"] < 0]

    def stats(self) -> dict[str, Any]:
        """Counts a maintainer looks at: answers, refusals, ratings, comments, median latency."""
        rows = self.answers()
        totals = sorted(r["timings"].get("total", 0.0) for r in rows if r["timings"])
        return {
            "path": str(self.path),
            "answers": len(rows),
            "refused": sum(r["refused"] for r in rows),
            "thumbs_up": sum(r["rating"] > 0 for r in rows),
            "thumbs_down": sum(r["rating"] < 0 for r in rows),
            "comments": sum(bool(r["comment"]) for r in rows),
            "median_total_ms": round(totals[len(totals) // 2], 1) if totals else None,
            "first": _iso(rows[0]["time"]) if rows else None,
            "last": _iso(rows[-1]["time"]) if rows else None,
        }


def eval_question(row: dict[str, Any]) -> dict[str, Any]:
    """One disliked answer as a draft eval question; a reviewer confirms `covered` and writes the key facts.

    A refusal the user disliked is drafted as covered (expected: the nearest chapters); a disliked answer as not
    covered (the user found no support for it). Key facts are left empty: only a person knows the right answer.
    """
    refused = row["refused"]
    if refused:
        expected = [{"source": r["source"]} for r in row["nearest"]]
    else:
        expected = _unique([{"source": c["source"], "section": c["section"]} for c in row["citations"]])
    return {
        "id": f"fb-{row['id']:04d}",
        "question": row["question"],
        "language": row["language"] if row["language"] in ("da", "en") else "da",
        "kind": "follow-up" if row["history"] else "fact",
        "history": row["history"],
        "expected": expected,
        "key_facts": [],
        "covered": bool(refused),
        "review": {
            "answer": row["answer"], "refused": refused, "comment": row["comment"], "time": _iso(row["time"]),
            "quotes": [{"n": c["n"], "source": c["source"], "section": c["section"], "quote": c["quote"]}
                       for c in row["citations"]],
        },
    }


def export_thumbs_down(log: QaLog, out: Path) -> int:
    """Write the thumbs-down answers as a JSONL question set (evals format plus a `review` field); returns the count."""
    rows = [eval_question(r) for r in log.thumbs_down()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))

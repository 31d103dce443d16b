"""Questions asked in another language than the documents', moved toward the documents' language before scoring.

A multilingual model places every text partly by its language: an English question sits further from all Danish
passages than the same question in Danish does, so its cosines are lower across the board and say less about
whether the handbook answers it. The difference between the two languages' mean question vectors, estimated on a
bank of translated question pairs about everyday topics (parallel_questions.jsonl, none about the handbook), is
that offset; subtracting it ("centring by language") makes an English question's cosines comparable to a Danish
one's. Measured in docs/evals.md.
"""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np

from assistant.model.embedding import Embedder

BANK_FILE = Path(__file__).resolve().with_name("parallel_questions.jsonl")
SHIFT_WEIGHT = 1.0  # share of the language offset removed (chosen on the dev sets)


class LanguageShift:
    """Each bank language's mean question vector for one model, computed once and kept in the models folder."""

    def __init__(self, embedder: Embedder, cache_dir: Path | None = None, bank: Path = BANK_FILE) -> None:
        self.embedder, self.cache_dir, self.bank = embedder, cache_dir, bank
        self._means: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    def toward(self, vec: np.ndarray, language: str, target: str) -> np.ndarray:
        """vec (a unit question vector in `language`) moved by the offset between language and target."""
        if language == target:
            return vec
        means = self.means()
        if language not in means or target not in means:
            return vec
        moved = vec - SHIFT_WEIGHT * (means[language] - means[target])
        return (moved / (np.linalg.norm(moved) or 1.0)).astype(np.float32)

    def means(self) -> dict[str, np.ndarray]:
        with self._lock:
            if self._means is None:
                self._means = self._load() or self._compute()
            return self._means

    def _cache_file(self) -> Path | None:
        if self.cache_dir is None:
            return None
        model = f"{self.embedder.name}\n{self.embedder.backend}\n{getattr(self.embedder, 'precision', '')}"
        key = hashlib.sha256(self.bank.read_bytes() + model.encode())
        return self.cache_dir / f"language-means-{key.hexdigest()[:16]}.npz"

    def _load(self) -> dict[str, np.ndarray] | None:
        path = self._cache_file()
        if path is None or not path.exists():
            return None
        try:
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError):
            return None

    def _compute(self) -> dict[str, np.ndarray]:
        pairs = [json.loads(line) for line in self.bank.read_text(encoding="utf-8").splitlines() if line.strip()]
        means = {lang: self.embedder.embed_queries([p[lang] for p in pairs]).mean(axis=0)
                 for lang in sorted({k for p in pairs for k in p})}
        path = self._cache_file()
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.npz")
                np.savez(tmp, **means)
                tmp.replace(path)
            except OSError:
                pass  # a read-only models folder: computed again by the next process
        return means

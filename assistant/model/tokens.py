"""Token ids for the ONNX encoder: the query tokenizer for a question's few short texts, the HF tokenizer (loaded on
first need) for ingest's batches and for character offsets."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from assistant.model.unigram import load_query_tokenizer

# Up to this many characters a call (a question, the contents intents' examples, the sentence judged alone) the query
# tokenizer makes the ids; ingest's batches load the HF tokenizer, faster for them (Rust, parallel), with offsets.
LIGHT_MAX_CHARS = 4096


class EncoderTokenizer:
    """Padded ids and attention masks, truncated, from whichever tokenizer suits the call; both give the same ids."""

    def __init__(self, model_dir: Path, max_length: int, pad_token: str) -> None:
        self.model_dir, self.max_length, self.pad_token = Path(model_dir), max_length, pad_token
        self.light = load_query_tokenizer(self.model_dir)  # None: this tokenizer.json is left to HF entirely
        self._hf: Any = None  # loaded for long batches and offsets only (1.5 s holding the GIL, +286 MB)
        self._hf_lock = threading.Lock()
        pad_id = self.light.token_id(pad_token) if self.light is not None else None
        self.pad_id: int = pad_id if pad_id is not None else self.hf().token_to_id(pad_token) or 0

    @property
    def hf_loaded(self) -> bool:
        """Whether this process has paid for the HF tokenizer."""
        return self._hf is not None

    def hf(self) -> Any:
        """The HF tokenizer with truncation and padding, loaded on first use."""
        with self._hf_lock:
            if self._hf is None:
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
                pad_id = tokenizer.token_to_id(self.pad_token)
                tokenizer.enable_truncation(max_length=self.max_length)
                tokenizer.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token=self.pad_token)
                self._hf = tokenizer
            return self._hf

    def batch(self, texts: list[str], offsets: bool = False) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        """Ids and mask padded to the longest text, plus HF's encodings (with offsets) when offsets or HF made them."""
        light = self.light
        if (not offsets and light is not None and sum(map(len, texts)) <= LIGHT_MAX_CHARS
                and all(map(light.handles, texts))):
            rows = [light.encode(t, self.max_length) for t in texts]
            ids = np.full((len(rows), max(map(len, rows))), self.pad_id, dtype=np.int64)
            mask = np.zeros_like(ids)
            for i, row in enumerate(rows):
                ids[i, :len(row)] = row
                mask[i, :len(row)] = 1
            return ids, mask, []
        encodings = self.hf().encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return ids, mask, encodings

"""The query tokenizer: tokenizer.json's exact ids for short texts from a compact file, without loading the HF
tokenizer (1.5 s holding the GIL and +286 MB for its 250k pieces) into every `ask` and `serve`."""
from __future__ import annotations

import json
import os
import re
import unicodedata
import uuid
from array import array
from pathlib import Path
from typing import Any, BinaryIO

from assistant.hashing import file_sha256

QUERY_TOKENIZER_FILE = Path("query_tokenizer.bin")  # beside tokenizer.json, which it is made from
_MAGIC = b"handbook-unigram\n"
_FORMAT = 2
_SEP = "\x00"  # between pieces in the file; a tokenizer with a piece holding it is not handled here
_UNK_PENALTY = 10.0  # tokenizers' K_UNK_PENALTY: an unknown character scores the lowest piece minus this
_WORDS = re.compile("▁+[^▁]*")  # Metaspace split, MergedWithNext: a word starts at each run of "▁"
_SPACE_RUNS = re.compile(" {2,}")
_CLASS = re.compile(r"\\x\{([0-9a-f]+)\}")
_WORD_CACHE = 50_000


def query_tokenizer_file(model_dir: Path) -> Path:
    """Where a model folder keeps its compact query tokenizer (made from its tokenizer.json)."""
    return Path(model_dir) / QUERY_TOKENIZER_FILE


def _char_class(step: dict[str, Any], content: str) -> list[int] | None:
    """The code points of a Replace(Regex("[\\x{..}...]"), content) step, or None if the step is not that."""
    pattern = (step.get("pattern") or {}).get("Regex")
    if step.get("type") != "Replace" or step.get("content") != content or not isinstance(pattern, str):
        return None
    cps = [int(h, 16) for h in _CLASS.findall(pattern)]
    return cps if pattern == "[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]" else None


def _compact(spec: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[float]] | None:
    """Header, pieces and scores when tokenizer.json is exactly the pipeline build.py writes; None otherwise."""
    model, pre, post = spec.get("model") or {}, spec.get("pre_tokenizer") or {}, spec.get("post_processor") or {}
    steps = (spec.get("normalizer") or {}).get("normalizers") or []
    if (spec.get("normalizer") or {}).get("type") != "Sequence" or len(steps) != 4:
        return None
    dropped, spaces = _char_class(steps[1], ""), _char_class(steps[2], " ")
    if (steps[0].get("type") != "NFKC" or dropped is None or spaces is None
            or steps[3] != {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}):
        return None
    if (pre.get("type") != "Metaspace" or pre.get("replacement") != "▁" or pre.get("prepend_scheme") != "always"
            or pre.get("split") is not True):
        return None
    specials = post.get("special_tokens") or {}
    single = [(p.get("SpecialToken") or {}).get("id") or (p.get("Sequence") or {}).get("id")
              for p in post.get("single") or []]
    if post.get("type") != "TemplateProcessing" or single != ["<s>", "A", "</s>"]:
        return None
    try:
        bos, eos = specials["<s>"]["ids"], specials["</s>"]["ids"]
        vocab = model["vocab"]
        pieces = [str(p) for p, _ in vocab]
        scores = [float(s) for _, s in vocab]
    except (KeyError, TypeError, ValueError):
        return None
    if (model.get("type") != "Unigram" or model.get("byte_fallback") or not isinstance(model.get("unk_id"), int)
            or len(bos) != 1 or len(eos) != 1 or any(_SEP in p or not p for p in pieces)):
        return None
    longest: dict[str, int] = {}
    for p in pieces:
        if len(p) > longest.get(p[0], 0):
            longest[p[0]] = len(p)
    header = {"format": _FORMAT, "pieces": len(pieces), "unk_id": model["unk_id"], "bos": bos[0], "eos": eos[0],
              "dropped": dropped, "spaces": spaces, "added": [t["content"] for t in spec.get("added_tokens") or []],
              "longest": longest}
    return header, pieces, scores


def _nfkc_disagreements() -> list[int]:
    """Code points whose NFKC differs between Python's unicodedata and tokenizers' tables (their Unicode versions
    differ: 170 code points, mostly of Unicode 11-14, with tokenizers 0.23); text holding one goes to HF instead."""
    from tokenizers.normalizers import NFKC

    theirs = NFKC().normalize_str
    marks = ("\u0301", "\u0323", "\u0345", "\u0334")  # combining classes 230, 220, 240, 1: catches reordering

    def probes(cp: int) -> str:
        c = chr(cp)
        if not unicodedata.combining(c):
            return "a" + c + "b\n"
        return "a" + c + "b\n" + "".join("a" + c + m + "\na" + m + c + "\n" for m in marks)

    def search(cps: list[int], out: list[int]) -> None:
        text = "".join(map(probes, cps))
        if theirs(text) == unicodedata.normalize("NFKC", text):
            return
        if len(cps) == 1:
            out.append(cps[0])
            return
        search(cps[:len(cps) // 2], out)
        search(cps[len(cps) // 2:], out)

    found: list[int] = []
    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    for start in range(0, len(cps), 8192):
        search(cps[start:start + 8192], found)
    return found


def write_query_tokenizer(model_dir: Path) -> Path | None:
    """Write the compact file from tokenizer.json (atomically); None when that tokenizer is not one we reproduce."""
    model_dir = Path(model_dir)
    source = model_dir / "tokenizer.json"
    st = source.stat()
    parts = _compact(json.loads(source.read_text(encoding="utf-8")))
    if parts is None:
        return None
    header, pieces, scores = parts
    blob = _SEP.join(pieces).encode("utf-8")
    header |= {"nfkc_fallback": _nfkc_disagreements(), "source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns,
               "source_sha256": file_sha256(source),
               "blob_bytes": len(blob)}
    target = query_tokenizer_file(model_dir)
    target.parent.mkdir(exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as out:
            out.write(_MAGIC + json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n")
            out.write(blob)
            out.write(array("d", scores).tobytes())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _header(f: BinaryIO, source: Path) -> dict[str, Any] | None:
    """The file's header if it was made from source as it is now (size and mtime, else its hash); None if not."""
    if f.readline() != _MAGIC:
        return None
    header = json.loads(f.readline())
    st = source.stat()
    if header.get("format") != _FORMAT or st.st_size != header["source_size"]:
        return None
    if st.st_mtime_ns != header["source_mtime_ns"] and file_sha256(source) != header["source_sha256"]:
        return None
    return header


def _read(path: Path, source: Path) -> QueryTokenizer | None:
    """The tokenizer in path if it was made from source as it is now; None if missing, damaged or stale."""
    try:
        with open(path, "rb") as f:
            header = _header(f, source)
            if header is None:
                return None
            pieces = f.read(header["blob_bytes"]).decode("utf-8").split(_SEP)
            scores = array("d")
            scores.frombytes(f.read(8 * header["pieces"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if len(pieces) != header["pieces"] or len(scores) != len(pieces):
        return None
    return QueryTokenizer(header, pieces, scores)


def ensure_query_tokenizer(model_dir: Path) -> Path | None:
    """Set-up work: write the compact file unless it is current; None when tokenizer.json is not one we reproduce."""
    model_dir = Path(model_dir)
    path = query_tokenizer_file(model_dir)
    try:
        with open(path, "rb") as f:
            if _header(f, model_dir / "tokenizer.json") is not None:
                return path
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return write_query_tokenizer(model_dir)


def load_query_tokenizer(model_dir: Path) -> QueryTokenizer | None:
    """The compact tokenizer of a model folder, written first if missing or stale; None if it cannot reproduce
    that folder's tokenizer.json (the caller then uses the HF tokenizer)."""
    model_dir = Path(model_dir)
    source, path = model_dir / "tokenizer.json", query_tokenizer_file(model_dir)
    if not source.is_file():
        return None
    loaded = _read(path, source)
    if loaded is not None:
        return loaded
    try:
        if write_query_tokenizer(model_dir) is None:
            return None
    except OSError:  # a read-only model folder: build it in memory this once
        try:
            parts = _compact(json.loads(source.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None
        return QueryTokenizer(parts[0], parts[1], array("d", parts[2])) if parts is not None else None
    except ValueError:  # not JSON: the HF tokenizer will say what is wrong with it
        return None
    return _read(path, source)


class QueryTokenizer:
    """NFKC, dropped and space characters, collapsed spaces, Metaspace "▁", Unigram Viterbi, <s> ... </s>: the same
    ids as tokenizers' Unigram (same tie-breaking, fused unknowns), in Python for texts of a sentence or two."""

    def __init__(self, header: dict[str, Any], pieces: list[str], scores: array) -> None:
        self._ids: dict[str, int] = dict(zip(pieces, range(len(pieces))))  # a repeated piece: the last id, as HF
        self._scores = scores
        self._longest: dict[str, int] = header["longest"]
        self._unk: int = header["unk_id"]
        self._unk_score = min(scores) - _UNK_PENALTY
        self.bos: int = header["bos"]
        self.eos: int = header["eos"]
        table: dict[int, str | None] = dict.fromkeys(header["spaces"], " ")
        table.update(dict.fromkeys(header["dropped"]))  # removed first in the pipeline, so removal wins
        self._table = table
        self._added: list[str] = [t for t in header["added"] if t]
        self._fallback = frozenset(map(chr, header["nfkc_fallback"]))
        self._words: dict[str, list[int]] = {}

    def token_id(self, piece: str) -> int | None:
        """The id of a piece (the padding token's, say), or None."""
        return self._ids.get(piece)

    def handles(self, text: str) -> bool:
        """False for text holding an added token's string (<s>, <mask>...), which HF matches before normalizing, or
        a character whose NFKC differs between Python and tokenizers."""
        return self._fallback.isdisjoint(text) and not any(t in text for t in self._added)

    def normalize(self, text: str) -> str:
        """The normalizer's output: NFKC, dropped characters removed, space-like ones made spaces, runs collapsed."""
        return _SPACE_RUNS.sub(" ", unicodedata.normalize("NFKC", text).translate(self._table))

    def encode(self, text: str, max_length: int) -> list[int]:
        """Token ids with <s> and </s>, the content cut to max_length - 2 tokens like HF's truncation."""
        normalized = self.normalize(text).replace(" ", "▁")
        ids: list[int] = []
        if normalized:
            if not normalized.startswith("▁"):
                normalized = "▁" + normalized
            for word in _WORDS.findall(normalized):
                cached = self._words.get(word)
                if cached is None:
                    cached = self._viterbi(word)
                    if len(self._words) >= _WORD_CACHE:
                        self._words.clear()
                    self._words[word] = cached
                ids.extend(cached)
                if len(ids) >= max_length - 2:
                    break
        return [self.bos, *ids[:max(0, max_length - 2)], self.eos]

    def _viterbi(self, word: str) -> list[int]:
        """tokenizers' Unigram::encode_optimized: best path, earlier start and shorter piece win ties."""
        n, vocab, scores = len(word), self._ids, self._scores
        best = [0.0] * (n + 1)
        start = [-1] * (n + 1)
        node = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            single = False
            for j in range(i + 1, i + 1 + min(n - i, self._longest.get(word[i], 0))):
                pid = vocab.get(word[i:j])
                if pid is None:
                    continue
                score = here + scores[pid]
                if start[j] < 0 or score > best[j]:
                    best[j], start[j], node[j] = score, i, pid
                if j == i + 1:
                    single = True
            if not single:
                score = here + self._unk_score
                if start[i + 1] < 0 or score > best[i + 1]:
                    best[i + 1], start[i + 1], node[i + 1] = score, i, self._unk
        out: list[int] = []
        unknown_end = -1  # consecutive unknowns are fused into one piece (fuse_unk), looked up again by its text
        end = n
        while end > 0:
            begin = start[end]
            if node[end] == self._unk:
                if unknown_end < 0:
                    unknown_end = end
            else:
                if unknown_end >= 0:
                    out.append(vocab.get(word[end:unknown_end], self._unk))
                    unknown_end = -1
                out.append(node[end])
            end = begin
        if unknown_end >= 0:
            out.append(vocab.get(word[0:unknown_end], self._unk))
        out.reverse()
        return out

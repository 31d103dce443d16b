"""The query tokenizer against the HF tokenizer of the real model: the same ids on questions, corpus sentences,
odd and random strings; its compact file written at set-up, lazily and again when tokenizer.json changes; texts it
does not reproduce refused, and tokenizers of another shape not handled at all."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from linked import linked_copy

from assistant.answer.sentences import sentences
from assistant.model.unigram import (
    QueryTokenizer,
    ensure_query_tokenizer,
    load_query_tokenizer,
    query_tokenizer_file,
)

REPO = Path(__file__).resolve().parent.parent
ODD = ["", " ", "\t\n", "▁", "a▁▁b ▁c", " ▁", "Tak 😊👍 vi ses 🎄!", "👨‍👩‍👧‍👦 🇩🇰", "Ｆｕｌｌ-ｗｉｄｔｈ １２３",
       "ﬁnansielle ﬂow oﬀentliggøres ﬃ Ĳ ǆ", "e\u0301 u\u0308 o\u0302\u0323", "ℌ𝔢𝔩𝔩𝔬 ①② ⅷ ㎏ ㍿ ½ ℃ №",
       "tab\there\vv\fform\rcr\x85nel\u2028ls\u2029ps\u00a0nb\u200bzw\ufeffbom\u3000ideo", "\x00\x01\x7f ctl",
       "＜ｕｎｋ＞ ＜ｓ＞", "中文字符测试，日本語のテキスト、한국어", "العربية עברית ไทย हिन्दी ελληνικά", "x" * 3000,
       "ord " * 1000, "𓀀𓀁𓀂 x𓀀y 𓀀a𓀁", "Fakturanr. 2024-0137: beløb 12.345,67 kr. inkl. 25 % moms", "   kanter   "]
# Characters for random strings: Danish, punctuation, odd spaces, "▁", combining marks, ligatures, emoji, CJK and
# hieroglyphs (no piece: unknown, and fused when in a row).
POOL = "abcæøåÆØÅ ,.-:;!?()0123456789  \t\n\u00a0\u200b\u3000▁\u0301\u0308\u0323ﬁﬂＡｂ１①😊🎄中文한\x00\x7f\u2028𓀀𓀁"


@pytest.fixture(scope="module")
def hf(e5_model_dir: Path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(e5_model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=512)
    return tok


@pytest.fixture(scope="module")
def light(tmp_path_factory, e5_model_dir: Path) -> QueryTokenizer:
    folder = linked_copy(e5_model_dir, tmp_path_factory.mktemp("unigram") / "model",
                         skip=("onnx", "query_tokenizer.bin"))
    tokenizer = load_query_tokenizer(folder)
    assert tokenizer is not None
    return tokenizer


def _sample() -> list[str]:
    """Every dev question, both languages of every fifth parallel question, every tenth corpus sentence, the odd
    strings, each with the query prefix too; and 2,000 seeded random strings."""
    texts = [json.loads(line)["question"] for line in (REPO / "evals/questions/dev.jsonl").read_text().splitlines()
             if line.strip()]
    parallel = (REPO / "assistant/model/parallel_questions.jsonl").read_text(encoding="utf-8").splitlines()
    texts += [q for line in parallel[::5] if line.strip() for q in json.loads(line).values()]
    for path in sorted((REPO / "corpus").glob("*.md"))[::3]:
        texts += sentences(path.read_text(encoding="utf-8"))[::10]
    texts += ODD
    texts += ["query: " + t for t in texts]
    rng = random.Random(13)
    texts += ["".join(rng.choice(POOL) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    return texts


def test_ids_equal_the_hf_tokenizers(light: QueryTokenizer, hf) -> None:
    texts = _sample()
    assert len(texts) > 2400 and all(light.handles(t) for t in texts)
    theirs = [e.ids for e in hf.encode_batch(texts)]
    differ = [t for t, ids in zip(texts, theirs) if light.encode(t, 512) != ids]
    assert differ == []
    assert (light.encode("x" * 3000, 512) == theirs[texts.index("x" * 3000)]
            and len(theirs[texts.index("x" * 3000)]) == 512)


def test_texts_it_does_not_reproduce_are_refused(light: QueryTokenizer, hf) -> None:
    # added tokens are matched in the raw text; these characters normalize differently in Python's Unicode tables
    refused = ["query: <mask> x", "<s>", "a</s>b", "ꟲ", "㋿ Reiwa", "x\u1ac1y", "🯰"]
    assert not any(light.handles(t) for t in refused)
    assert [light.encode(t, 512) for t in refused[:2]] != [hf.encode(t).ids for t in refused[:2]]


def test_file_is_rewritten_when_tokenizer_json_changes(tmp_path: Path, e5_model_dir: Path) -> None:
    folder = linked_copy(e5_model_dir, tmp_path / "model", skip=("onnx", "query_tokenizer.bin", "tokenizer.json"))
    spec = json.loads((e5_model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    (folder / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    path = ensure_query_tokenizer(folder)
    assert path == query_tokenizer_file(folder) and load_query_tokenizer(folder) is not None
    before = path.stat().st_mtime_ns
    assert ensure_query_tokenizer(folder) == path and path.stat().st_mtime_ns == before, "current: not rewritten"
    spec["model"]["vocab"][100][1] = 0.0  # another score: the old file would give other ids
    (folder / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    os.utime(folder / "tokenizer.json", ns=(before + 10**9, before + 10**9))
    fresh = load_query_tokenizer(folder)
    assert fresh is not None and fresh._scores[100] == 0.0 and path.stat().st_mtime_ns != before
    path.write_bytes(path.read_bytes()[:1000])  # damaged: rebuilt on load
    assert load_query_tokenizer(folder) is not None and path.stat().st_size > 1000


def test_other_tokenizers_are_left_to_hf(tmp_path: Path, e5_model_dir: Path) -> None:
    folder = linked_copy(e5_model_dir, tmp_path / "model", skip=("onnx", "query_tokenizer.bin", "tokenizer.json"))
    spec = json.loads((e5_model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    spec["pre_tokenizer"]["prepend_scheme"] = "first"
    (folder / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    assert load_query_tokenizer(folder) is None and ensure_query_tokenizer(folder) is None
    assert not query_tokenizer_file(folder).exists()

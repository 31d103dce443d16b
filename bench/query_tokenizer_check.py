"""One-off full check: the query tokenizer (assistant/model/unigram.py) against the HF tokenizer, id for id.

    .venv/bin/python bench/query_tokenizer_check.py [--no-codepoints]

Compares the ids of: every sentence of corpus/ (split as answers split them, raw and cleaned, with and without
the "query: "/"passage: " prefixes), every paragraph and whole file of corpus/ (long: truncation), every question
of evals/questions/*.jsonl and assistant/model/parallel_questions.jsonl (both languages), odd strings (emoji,
full-width, ligatures, control and odd whitespace, "▁", combining marks, very long text, empty), and every Unicode
code point alone and between two letters. Prints the counts and any text whose ids differ (and whether the query
tokenizer would have handled it, i.e. not left it to the HF tokenizer). Exit status 1 on any difference.
"""
from __future__ import annotations

import json
import sys
import time

from common import REPO, model_dir

from assistant.answer.sentences import sentences, split_sentences
from assistant.model.unigram import load_query_tokenizer

ODD = [
    "", " ", "  ", "\t", "\n", "\u00a0", "\u200b", "\ufeff", "\u3000", "▁", "▁▁", "a▁▁b", "▁ a", " ▁", "a ▁ b",
    "Tak 😊👍 vi ses 🎄!", "👨‍👩‍👧‍👦 familie", "🇩🇰🇬🇧", "Ｆｕｌｌ-ｗｉｄｔｈ ｔｅｘｔ １２３",
    "ﬁnansielle ﬂow oﬀentliggøres",
    "ﬃ ﬄ ﬅ ﬆ Ĳ ǆ ǈ", "Å (A + ring) Å å ÅÆØ", "e\u0301 u\u0308 o\u0302\u0323", "ℌ𝔢𝔩𝔩𝔬 𝐁𝐨𝐥𝐝 ①②③ ⅷ ㎏ ㍿",
    "tab\there\vvertical\fform\rreturn\x85next\u2028line\u2029para", "\x00\x01\x1f\x7f control",
    "<s> and </s> and <mask> <pad> <unk>", "＜ｓ＞ ＜ｕｎｋ＞", "query: <mask>x",
    "中文字符测试，日本語のテキスト、한국어 텍스트",
    "العربية עברית ไทย हिन्दी ελληνικά русский", "x" * 5000, "ord " * 3000, "æøå" * 2000,
    "Fakturanr. 2024-0137: beløb 12.345,67 kr. inkl. 25 % moms", "   leading and trailing   ", "a\u0000b",
    "\ud7ff\ue000\uffff\U0001fffd\U0010ffff", "ﷺ ﷻ ﴾﴿", "ǅ ǲ ῼ ᾳ", "½ ¼ ¾ ⁹ ₂ ℃ ℉ № ™",
]


def corpus_texts() -> dict[str, list[str]]:
    """The check's inputs by kind."""
    out: dict[str, list[str]] = {"sentence": [], "paragraph": [], "file": [], "question": [], "odd": list(ODD)}
    for path in sorted((REPO / "corpus").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        out["file"].append(text)
        out["paragraph"].extend(p for p in text.split("\n\n") if p.strip())
        raw = [text[s:e] for s, e in split_sentences(text)]
        for sentence in [*raw, *sentences(text)]:
            out["sentence"] += [sentence, "query: " + sentence, "passage: " + sentence]
    for path in sorted((REPO / "evals" / "questions").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line)["question"]
                out["question"] += [q, "query: " + q]
    for line in (REPO / "assistant" / "model" / "parallel_questions.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            for q in json.loads(line).values():
                out["question"] += [q, "query: " + q]
    out["odd"] += ["query: " + t for t in ODD]
    return out


def codepoints() -> list[str]:
    """Every code point that can stand in a Python str sent to Rust (no surrogates), alone and inside a word."""
    cps = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    return cps + ["a" + c + "b" for c in cps]


def main(argv: list[str]) -> int:
    from tokenizers import Tokenizer

    folder = model_dir()
    light = load_query_tokenizer(folder)
    assert light is not None, "the test model's tokenizer.json is not one the query tokenizer reproduces"
    hf = Tokenizer.from_file(str(folder / "tokenizer.json"))
    hf.enable_truncation(max_length=512)
    kinds = corpus_texts()
    if "--no-codepoints" not in argv:
        kinds["codepoint"] = codepoints()
    bad = 0
    for kind, texts in kinds.items():
        started = time.perf_counter()
        theirs = [e.ids for e in hf.encode_batch(texts)]
        handled = [light.handles(t) for t in texts]
        differ = [(t, h) for t, h, ids in zip(texts, handled, theirs) if light.encode(t, 512) != ids]
        bad += sum(h for _, h in differ)
        print(f"{kind}: {len(texts)} texts, {sum(handled)} handled by the query tokenizer, "
              f"{len(differ)} with other ids ({sum(h for _, h in differ)} of them handled), "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        for text, h in differ[:20]:
            print(f"  {'HANDLED ' if h else 'left to HF '}{text[:60]!r}")
    print(f"texts handled by the query tokenizer with other ids than the HF tokenizer: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The encoder's tokenizer choice with the real model: questions never load (or import) the HF tokenizer, long
batches and refused texts do, and both give the same vectors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from linked import linked_copy

from assistant.model.onnx_runtime import OnnxEncoder
from assistant.model.tokens import LIGHT_MAX_CHARS
from assistant.model.unigram import ensure_query_tokenizer, query_tokenizer_file

REPO = Path(__file__).resolve().parent.parent


def test_encoder_answers_questions_without_the_hf_tokenizer(tmp_path: Path, e5_model_dir: Path) -> None:
    folder = linked_copy(e5_model_dir, tmp_path / "model", skip=("query_tokenizer.bin",))
    encoder = OnnxEncoder(folder)
    assert query_tokenizer_file(folder).is_file(), "written lazily when missing"
    questions = ["query: Hvor mange feriedage har jeg ret til?", "query: <mask> hvad?", "query: ꟲ", "query: x"]
    fast = encoder.encode(questions[:1] + questions[3:], 32)
    assert not encoder._tokens.hf_loaded
    odd = encoder.encode(questions[1:3], 32)  # refused by the query tokenizer: the HF tokenizer is loaded for them
    assert encoder._tokens.hf_loaded
    slow = encoder.encode(questions[:1] + questions[3:] + ["y" * LIGHT_MAX_CHARS], 32)  # over the limit: HF
    assert np.array_equal(fast, slow[:2])
    hf_rows = OnnxEncoder(folder)
    hf_rows._tokens.light = None
    assert np.array_equal(odd, hf_rows.encode(questions[1:3], 32))


ASK = """
import sys
from pathlib import Path
from assistant.model.embedding import Embedder
e = Embedder(Path(sys.argv[1]), backend="onnx")
e.embed_queries(["Hvor mange feriedage har jeg?"])
e.embed_passages(["Du har ret til 25 feriedage om året."], batch_size=64)
print("tokenizers" in sys.modules)
"""


def test_a_question_never_imports_the_hf_tokenizer(e5_model_dir: Path) -> None:
    ensure_query_tokenizer(e5_model_dir)
    out = subprocess.run([sys.executable, "-c", ASK, str(e5_model_dir)], capture_output=True, text=True, check=True,
                         cwd=REPO, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False"

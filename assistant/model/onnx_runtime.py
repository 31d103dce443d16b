"""A mean-pooled sentence-transformers model on onnxruntime: same vectors, a third of the query time, no torch."""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError
from assistant.hashing import file_sha256
from assistant.model.build import VERIFY_TEXTS
from assistant.model.optimize import optimized_path
from assistant.model.tokens import EncoderTokenizer

ONNX_FILE = Path("onnx") / "model.onnx"
EXPORT_MARKER = Path("onnx") / "export.json"
ONNX_REQUIREMENT = "onnx==1.23.2"
MIN_COSINE = 0.9999
OPSET = 17
_MARKER_FORMAT = 1
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_ST = "sentence_transformers.models."
_LAYOUTS = ([_ST + "Transformer", _ST + "Pooling"], [_ST + "Transformer", _ST + "Pooling", _ST + "Normalize"])
_OTHER_POOLING = ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                  "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
_FEEDS = ("input_ids", "attention_mask", "token_type_ids")
_VERIFY = (*VERIFY_TEXTS,
           "Hvem godkender min ferie, og hvor lang tid i forvejen skal jeg søge?",
           "Employees may work from home up to two days a week when their tasks allow it.",
           "Kantinen har åbent fra 11.30 til 13.00, og der serveres en vegetarisk ret hver dag.")
_LONG = " ".join(["Medarbejderhåndbogen beskriver ferie, sygdom, udlæg og hjemmearbejde."] * 60)  # > 512 tokens
_SHORT = [prefix + t for prefix in ("query: ", "passage: ") for t in _VERIFY]
# Fixed queries and passages in padded batches; the long one alone (cheap), cut at the model's length.
VERIFY_BATCHES = [["passage: " + _LONG]] + [_SHORT[i:i + 8] for i in range(0, len(_SHORT), 8)]


@dataclass(frozen=True)
class _Layout:
    """What the ONNX path needs from a sentence-transformers folder."""

    dim: int
    max_seq_length: int
    pad_token: str


def onnx_file(model_dir: Path) -> Path:
    """Where a model folder keeps its ONNX export."""
    return Path(model_dir) / ONNX_FILE


def usable_threads() -> int:
    """Every core this process may run on, unless OMP_NUM_THREADS pins a number."""
    pinned = os.environ.get("OMP_NUM_THREADS", "")
    if pinned.isdigit() and int(pinned) > 0:
        return int(pinned)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _layout(model_dir: Path) -> _Layout:
    """Accept only Transformer -> mean Pooling [-> Normalize], the one pipeline OnnxEncoder reproduces exactly."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir} is not a local model folder")
    try:
        modules = _read_json(model_dir / "modules.json")
        if [m["type"] for m in modules] not in _LAYOUTS or modules[0].get("path", "") != "":
            raise ModelError(f"{model_dir} is not a Transformer -> Pooling [-> Normalize] model")
        pooling = _read_json(model_dir / modules[1]["path"] / "config.json")
        if not pooling.get("pooling_mode_mean_tokens") or any(pooling.get(k) for k in _OTHER_POOLING):
            raise ModelError(f"{model_dir} does not use mean pooling")
        if pooling.get("include_prompt", True) is False:
            raise ModelError(f"{model_dir} pools without its prompt tokens")
        bert = _read_json(model_dir / "sentence_bert_config.json")
        if bert.get("do_lower_case"):
            raise ModelError(f"{model_dir} lower-cases its input")
        tok_config = model_dir / "tokenizer_config.json"
        tok = _read_json(tok_config) if tok_config.is_file() else {}
        max_len = bert.get("max_seq_length") or tok.get("model_max_length") or 512
        pad = tok.get("pad_token") or "<pad>"
        if not (model_dir / "tokenizer.json").is_file():
            raise ModelError(f"{model_dir} has no tokenizer.json")
        return _Layout(int(pooling["word_embedding_dimension"]), int(max_len),
                       pad["content"] if isinstance(pad, dict) else str(pad))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelError(f"{model_dir} lacks a readable sentence-transformers config "
                         f"({type(exc).__name__}: {exc})") from None


def unsupported_reason(model_dir: Path) -> str | None:
    """Why the ONNX path cannot reproduce this model's vectors, or None when it can."""
    try:
        _layout(model_dir)
    except ModelError as exc:
        return str(exc)
    return None


def _weights(model_dir: Path) -> Path | None:
    return next((model_dir / n for n in _WEIGHTS if (model_dir / n).is_file()), None)


def stale_reason(model_dir: Path) -> str | None:
    """Why onnx/model.onnx must not be used (missing, truncated, from other weights), or None; stat checks first."""
    model_dir = Path(model_dir)
    path = onnx_file(model_dir)
    if not path.is_file():
        return f"{path} does not exist"
    try:
        marker = _read_json(model_dir / EXPORT_MARKER)
    except FileNotFoundError:
        return None  # exported by someone else: trusted as given, verified only by loading it
    except (OSError, ValueError):
        return f"{model_dir / EXPORT_MARKER} is unreadable"
    try:
        if marker.get("format") != _MARKER_FORMAT or path.stat().st_size != marker["onnx_size"]:
            return f"{path} does not match its export record"
        weights = model_dir / marker["weights"]
        st = weights.stat()
        if (st.st_size, st.st_mtime_ns) == (marker["weights_size"], marker["weights_mtime_ns"]):
            return None
        if st.st_size == marker["weights_size"] and file_sha256(weights) == marker["weights_sha256"]:
            return None
    except (OSError, KeyError, TypeError, AttributeError):
        pass
    return f"{path} was exported from other weights than {model_dir}'s"


class OnnxEncoder:
    """Tokenize, run the exported transformer, mean-pool and L2-normalize, like sentence-transformers without torch."""

    def __init__(self, model_dir: Path, *, onnx_path: Path | None = None, arena: bool = True,
                 optimized: bool = True) -> None:
        import onnxruntime as ort

        model_dir = Path(model_dir)
        layout = _layout(model_dir)
        self.dim: int = layout.dim
        self.max_seq_length: int = layout.max_seq_length
        path = Path(onnx_path) if onnx_path is not None else onnx_file(model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = usable_threads()
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = arena  # the arena keeps the largest batch's buffers for the process's life
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # spinning: 28x slower when busy
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.log_severity_level = 3
        opened: dict[str, Any] = {}
        ready = optimized_path(path) if optimized else None  # made at set-up: fused, optimized, weights mapped

        def open_session() -> None:
            for candidate in ([ready] if ready is not None else []) + [path]:
                done = candidate.name.endswith(".opt.onnx")  # its graph work was done once, at set-up
                options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_DISABLE_ALL if done
                                                    else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
                try:
                    opened["session"] = ort.InferenceSession(str(candidate), options,
                                                             providers=["CPUExecutionProvider"])
                    opened["path"] = candidate
                    return
                except Exception as exc:  # onnxruntime raises its own unexported types; all mean "unusable file"
                    opened["error"] = exc

        # onnxruntime loads the model mostly without the GIL; the query tokenizer loads meanwhile
        loader = threading.Thread(target=open_session, name="onnx-session", daemon=True)
        loader.start()
        try:
            self._tokens = EncoderTokenizer(model_dir, layout.max_seq_length, layout.pad_token)
        finally:
            loader.join()
        try:
            if "session" not in opened:
                raise opened["error"]
            self._session = opened["session"]
            self.onnx_path: Path = opened["path"]
            inputs = [i.name for i in self._session.get_inputs()]
            output = self._session.get_outputs()[0]
            if not set(inputs) <= set(_FEEDS) or len(output.shape) != 3 or output.shape[2] not in (self.dim, None):
                raise ValueError(f"inputs {inputs} and output shape {output.shape} are not a transformer's")
        except Exception as exc:  # onnxruntime raises its own unexported types; all mean "unusable file"
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{path} is not a usable ONNX model ({detail}). Delete it and run `handbook setup` "
                             "again to rebuild it, or set HANDBOOK_EMBED_BACKEND=torch.") from None
        self._inputs = inputs
        self._output = output.name

    def _run(self, texts: list[str], offsets: bool = False) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        """One padded batch through the model: hidden states, attention mask and the encodings (when offsets)."""
        ids, mask, encodings = self._tokens.batch(texts, offsets)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run([self._output], {k: feeds[k] for k in self._inputs})[0]
        return hidden, mask, encodings

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts in batches of batch_size (padded to the batch's longest) into unit float32 rows."""
        out = np.empty((len(texts), self.dim), np.float32)
        for start in range(0, len(texts), batch_size):
            hidden, mask, _ = self._run(texts[start:start + batch_size])
            out[start:start + len(mask)] = _mean_pool(hidden, mask)
        return out

    def encode_with_tokens(self, texts: list[str]) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """One batch: unit rows plus each text's token states and character offsets, for pooling spans later."""
        hidden, mask, encodings = self._run(texts, offsets=True)
        tokens = [(hidden[i, :int(mask[i].sum())], np.array(e.offsets[:int(mask[i].sum())], dtype=np.int64))
                  for i, e in enumerate(encodings)]
        return _mean_pool(hidden, mask), tokens


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _export(model: Any, path: Path) -> None:
    """Trace the sentence-transformers Transformer module to ONNX with dynamic batch and sequence axes."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    inner = model[0].auto_model
    previous = getattr(inner.config, "_attn_implementation", None)
    switch = getattr(inner, "set_attn_implementation", None) if previous not in (None, "eager") else None
    if switch is not None:
        switch("eager")  # exports as plain MatMul/Softmax, which onnxruntime ran ~10 % faster in batches than sdpa's
    sample = model[0].tokenizer(["query: eksempel", "passage: et længere eksempel"], padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "sequence"}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(Hidden(inner).eval(), (sample["input_ids"], sample["attention_mask"]),
                              str(path), input_names=["input_ids", "attention_mask"],
                              output_names=["last_hidden_state"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes})
    finally:
        if switch is not None:
            switch(previous)


def _verify(model: Any, model_dir: Path, path: Path) -> float:
    """Minimum cosine between sentence-transformers and onnxruntime on fixed queries and passages, padded batches."""
    encoder = OnnxEncoder(model_dir, onnx_path=path)
    cosines: list[float] = []
    for batch in VERIFY_BATCHES:
        theirs = model.encode(batch, batch_size=len(batch), convert_to_numpy=True, normalize_embeddings=True,
                              show_progress_bar=False)
        ours = encoder.encode(batch, batch_size=len(batch))
        cosines.extend(np.sum(ours * np.asarray(theirs, dtype=np.float32), axis=1).tolist())
    return float(min(cosines))


def export_onnx(model_dir: Path) -> Path:
    """Export once (atomically, verified against sentence-transformers) and return model_dir/onnx/model.onnx."""
    model_dir = Path(model_dir)
    target = onnx_file(model_dir)
    if (model_dir / EXPORT_MARKER).is_file() and stale_reason(model_dir) is None:
        return target
    _layout(model_dir)
    weights = _weights(model_dir)
    if weights is None:
        raise ModelError(f"{model_dir} has no model.safetensors or pytorch_model.bin to export")
    try:
        import onnx  # noqa: F401 - torch.onnx.export needs it
    except ImportError:
        raise ModelError("Exporting the fast query model needs the onnx package; "
                         f"run `pip install {ONNX_REQUIREMENT}`.") from None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: spinning was 10x slower here
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    st = weights.stat()
    source = {"weights": weights.name, "weights_size": st.st_size, "weights_mtime_ns": st.st_mtime_ns,
              "weights_sha256": file_sha256(weights)}
    token = f"tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = target.with_name(f".{target.name}.{token}")
    marker_tmp = target.with_name(f".{EXPORT_MARKER.name}.{token}")
    try:
        model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        target.parent.mkdir(exist_ok=True)
        _export(model, tmp)
        cosine = _verify(model, model_dir, tmp)
        if cosine < MIN_COSINE:
            raise ModelError(f"The ONNX export of {model_dir} disagrees with sentence-transformers (cosine "
                             f"{cosine:.6f} < {MIN_COSINE}); set HANDBOOK_EMBED_BACKEND=torch.")
        import onnxruntime
        import torch

        marker = {"format": _MARKER_FORMAT, **source, "onnx_size": tmp.stat().st_size, "opset": OPSET,
                  "verification_cosine": round(cosine, 7), "export_seconds": round(time.perf_counter() - started, 1),
                  "torch": torch.__version__, "onnxruntime": onnxruntime.__version__}
        marker_tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        os.replace(marker_tmp, model_dir / EXPORT_MARKER)
    except ModelError:
        raise
    except OSError as exc:
        raise ModelError(f"Cannot write the ONNX export to {target}: {exc}.") from None
    except Exception as exc:  # torch, transformers and onnxruntime raise many types; all mean "does not export"
        raise ModelError(f"Cannot export {model_dir} to ONNX ({type(exc).__name__}: {exc}); "
                         "set HANDBOOK_EMBED_BACKEND=torch.") from None
    finally:
        tmp.unlink(missing_ok=True)
        marker_tmp.unlink(missing_ok=True)
    return target

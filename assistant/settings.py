"""Settings resolved in one place: defaults, then HANDBOOK_* environment variables, then CLI options."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from assistant.errors import SettingsError

DEFAULT_MODEL = "multilingual-e5-small"
RETRIEVAL_MODES = ("hybrid", "dense", "bm25")
LLM_BACKENDS = ("extractive", "openai", "ollama")
EMBED_BACKENDS = ("auto", "onnx", "torch")
EMBED_PRECISIONS = ("int8", "fp32")
# int8 is a quarter of the memory, but answered worse on every question set (docs/evals.md, "int8 or fp32").
DEFAULT_PRECISION = "fp32"


def _default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("handbook", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Everything a run can be configured with; see the README's settings table."""

    home: Path = field(default_factory=_default_home)
    embed_model: str = DEFAULT_MODEL
    embed_backend: str = "auto"
    embed_precision: str = DEFAULT_PRECISION
    chroma_url: str | None = None
    collection: str = "handbook"
    retrieval: str = "dense"
    top_k: int = 6
    refusal_threshold: float | None = None  # None: the threshold calibrated for embed_model
    max_sentences: int = 4
    query_adapter: bool = True  # rank sentences with the map fitted for embed_model (answer/adapter.py)
    coverage_model: bool = True  # refuse by the coverage model where it was fitted (answer/coverage.py)
    max_question_chars: int = 1000
    llm: str = "extractive"
    llm_url: str | None = None
    llm_model: str | None = None
    llm_api_key_env: str = "HANDBOOK_LLM_API_KEY"
    llm_timeout: float = 30.0
    unsupported: str = "mark"
    log_enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 7860
    concurrency: int = 4
    max_queue: int = 64
    auth_file: str | None = None
    max_upload_mb: float = 200.0  # per file uploaded in the chat; a 300-page illustrated PDF is 20-100 MB

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    def with_options(self, **options: Any) -> Settings:
        """Apply CLI options; None means 'not given' and keeps the current value."""
        given = {k: v for k, v in options.items() if v is not None}
        return _validated(replace(self, **_coerce(given)))


def _coerce(values: Mapping[str, Any]) -> dict[str, Any]:
    types = {f.name: f.type for f in fields(Settings)}
    out: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in types:
            raise SettingsError(f"Unknown setting {name!r}.")
        kind = str(types[name])
        try:
            if name == "home":
                out[name] = Path(raw).expanduser()
            elif kind == "int":
                out[name] = int(raw)
            elif kind in ("float", "float | None"):
                out[name] = float(raw)
            elif kind == "bool":
                out[name] = raw if isinstance(raw, bool) else str(raw).strip().lower() in ("1", "true", "yes", "on")
            else:
                out[name] = raw if raw != "" else None
        except ValueError:
            raise SettingsError(f"Setting {name} must be a {kind}, got {raw!r}.") from None
    return out


def _validated(s: Settings) -> Settings:
    if s.retrieval not in RETRIEVAL_MODES:
        raise SettingsError(f"HANDBOOK_RETRIEVAL must be one of {', '.join(RETRIEVAL_MODES)}, got {s.retrieval!r}.")
    if s.embed_backend not in EMBED_BACKENDS:
        raise SettingsError(f"HANDBOOK_EMBED_BACKEND must be one of {', '.join(EMBED_BACKENDS)}, "
                            f"got {s.embed_backend!r}.")
    if s.embed_precision not in EMBED_PRECISIONS:
        raise SettingsError(f"HANDBOOK_EMBED_PRECISION must be one of {', '.join(EMBED_PRECISIONS)}, "
                            f"got {s.embed_precision!r}.")
    if s.llm not in LLM_BACKENDS:
        raise SettingsError(f"HANDBOOK_LLM must be one of {', '.join(LLM_BACKENDS)}, got {s.llm!r}.")
    if s.unsupported not in ("mark", "remove"):
        raise SettingsError(f"HANDBOOK_UNSUPPORTED must be 'mark' or 'remove', got {s.unsupported!r}.")
    if s.max_upload_mb <= 0:
        raise SettingsError("HANDBOOK_MAX_UPLOAD_MB must be a positive number of megabytes.")
    if s.top_k < 1:
        raise SettingsError("HANDBOOK_TOP_K must be at least 1.")
    return s


def load_settings(env: Mapping[str, str] | None = None, **options: Any) -> Settings:
    """Defaults, then HANDBOOK_* variables from env, then the given options."""
    env = os.environ if env is None else env
    from_env = {f.name: env[f"HANDBOOK_{f.name.upper()}"] for f in fields(Settings)
                if f"HANDBOOK_{f.name.upper()}" in env}
    base = Settings(**_coerce(from_env))
    return _validated(base).with_options(**options)

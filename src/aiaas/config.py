"""Settings, read once at start from flags, ``AIAAS_*`` environment variables and a config file.

Precedence, highest first: explicit keyword arguments (the CLI's flags), environment variables,
the TOML file named by ``AIAAS_CONFIG`` (or ``<data dir>/config.toml`` when present), defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".aiaas"


class Settings(BaseSettings):
    """Everything the server, the CLI's offline commands and the worker need to know."""

    model_config = SettingsConfigDict(env_prefix="AIAAS_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite in the data dir when unset."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    max_upload_bytes: int = Field(default=2 * 1024 * 1024 * 1024, gt=0)
    max_inputs: int = Field(default=256, gt=0, description="Most inputs in one predict call.")
    max_input_chars: int = Field(default=20_000, gt=0)
    max_image_pixels: int = Field(
        default=40_000_000, gt=0, description="Most pixels (width x height) of one input image."
    )
    max_audio_seconds: float = Field(
        default=600, gt=0, description="Longest audio input, in seconds (checked before decoding)."
    )
    max_tokens: int = Field(
        default=1024, gt=0, description="Most tokens one generation may ask for (max_tokens)."
    )

    max_batch_size: int = Field(default=64, gt=0)
    batch_wait_ms: float = Field(
        default=0.0, ge=0, description="Extra wait for a batch to fill; 0 = take what is queued."
    )
    max_queue: int = Field(default=256, gt=0, description="Queued requests per model before 429.")
    request_timeout_s: float = Field(default=60.0, gt=0)
    memory_budget_mb: float = Field(default=4096, gt=0)
    idle_unload_s: float = Field(default=1800.0, gt=0)
    preload: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Models loaded at start (comma-separated in env)."
    )
    torch_threads: int = Field(default=0, ge=0, description="0 = one per core.")
    onnx_lanes: int = Field(
        default=0, ge=0, le=64, description="Batches one ONNX Runtime model may run at once on "
        "the CPU, each on a single-thread session (a lone small batch still gets every thread); "
        "0 = one per thread (torch_threads, or one per core), 1 = one batch at a time.")
    cache_ttl_s: float = Field(
        default=2.0, ge=0, description="How long verified API keys and resolved model versions "
        "are remembered in memory. Changes made through this server apply at once; changes made "
        "by another process (CLI, worker, replica) within this time. 0 = always ask the database.")
    gc_freeze: bool = Field(
        default=True, description="Freeze the heap after start and each model load/unload and "
        "collect young objects in larger sweeps: no 300+ ms full-GC pauses under load.")
    compile_dir: Path | None = Field(
        default=None, description="Where compiled models are cached (default <data dir>/compiled); "
        "safe to share between data dirs, entries are keyed by artifact sha256.")
    engine: Literal["auto", "pytorch"] = Field(
        default="auto", description="auto: encoder models run on a verified ONNX Runtime export "
        "(cached under <data dir>/compiled), falling back to PyTorch; pytorch: never export.")

    builtin_models: bool = True
    embedded_worker: bool = Field(
        default=True, description="Start one training worker process with the server."
    )
    job_heartbeat_s: float = Field(
        default=2.0, gt=0, description="Training heartbeat interval; 5 missed beats fail the job."
    )
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("preload", mode="before")
    @classmethod
    def _split_preload(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'aiaas.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def compiled_dir(self) -> Path:
        """Verified ONNX exports and int8 builds, keyed by artifact digest."""
        return self.compile_dir or self.data_dir / "compiled"

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.artifacts_dir, self.tmp_dir):
            path.mkdir(parents=True, exist_ok=True)


def load_settings(**overrides: Any) -> Settings:
    """Build settings; ``overrides`` that are ``None`` are treated as not given."""
    given = {key: value for key, value in overrides.items() if value is not None}
    file_values = _read_config_file(given.get("data_dir"))
    env_names = {name for name in Settings.model_fields if f"AIAAS_{name.upper()}" in os.environ}
    merged = {k: v for k, v in file_values.items() if k not in env_names} | given
    return Settings(**merged)


def _read_config_file(data_dir: Any) -> dict[str, Any]:
    explicit = os.environ.get("AIAAS_CONFIG")
    if explicit:
        path = Path(explicit)
    else:
        base = Path(data_dir) if data_dir else Path(os.environ.get("AIAAS_DATA_DIR", DEFAULT_DATA_DIR))
        path = base.expanduser() / "config.toml"
        if not path.is_file():
            return {}
    with path.open("rb") as handle:
        values = tomllib.load(handle)
    unknown = set(values) - set(Settings.model_fields)
    if unknown:
        raise ValueError(f"unknown setting(s) in {path}: {', '.join(sorted(unknown))}")
    return values

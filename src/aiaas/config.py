"""Settings, read once at start from flags, ``AIAAS_*`` environment variables and a config file.

Precedence, highest first: explicit keyword arguments (the CLI's flags), environment variables,
the TOML file named by ``AIAAS_CONFIG`` (or ``<data dir>/config.toml`` when present), defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
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

    max_in_flight: int = Field(
        default=256, ge=0, description="Model calls and writes (not reads) one server process "
        "works on at once; one past it waits for a slot (in_flight_wait_s), then is refused with "
        "503 + Retry-After before its body is read, so overload costs the admitted work almost "
        "nothing. 0 = no bound.")
    in_flight_wait_s: float = Field(
        default=1.0, ge=0, description="How long a request past max_in_flight waits for a slot "
        "before its 503 (absorbs bursts; bounds the refusals a retrying client can cause).")
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="Time a client has to send a request's headers from its "
        "first byte (or from connecting); then 408 and the connection is closed (slowloris).")
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="Time a client has to send a request body, extended by "
        "one second per body_min_rate bytes received (Apache mod_reqtimeout's rule); then 408.")
    body_min_rate: int = Field(
        default=500, gt=0, description="Bytes per second of body that extend body_timeout_s.")
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Most bytes of a request line and headers; "
        "past it 431 and the connection is closed.")
    max_connections_per_client: int = Field(
        default=256, ge=0, description="Open connections one client address may hold; further "
        "ones are closed at once. 0 = no cap (behind a proxy every client has its address).")

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

    archive_max_ratio: float = Field(
        default=20.0, gt=0, description="An uploaded archive may expand to at most this many "
        "times its own size (bytes really written); more is refused as a decompression bomb.")
    archive_ratio_floor_bytes: int = Field(
        default=32 * 1024 * 1024, ge=0, description="Any archive may expand to this many bytes "
        "whatever its ratio (small uploads of text files compress well).")
    min_free_disk_mb: float = Field(
        default=256, ge=0,
        description="Below this much free space in the data dir /readyz says not ready (0 = never).")
    idle_trim_s: float = Field(
        default=15.0, ge=0, description="After this many seconds without a request the server "
        "gives the memory a burst freed back to the operating system once (0 = never).")
    hygiene_interval_s: float = Field(
        default=600.0, ge=0, description="How often staging dirs of dead processes and "
        "artifacts no version uses are swept (also at start); 0 = only at start.")
    orphan_artifact_age_s: float = Field(
        default=900.0, ge=0, description="An artifact no version uses is removed by the sweep "
        "only when no registration has stored or reused it for this long.")
    load_check: bool = Field(
        default=True, description="Load every uploaded model once in a bounded subprocess "
        "before registering it, so a model that cannot load is refused (422) at upload.")
    load_check_timeout_s: float = Field(
        default=120.0, gt=0, description="Wall-clock (and CPU) seconds the load check may take.")
    load_check_memory_mb: int = Field(
        default=8192, gt=0, description="Address space the load-check process may use, in MiB.")
    load_check_max_mb: float = Field(
        default=4096.0, ge=0, description="Uploads larger than this (MiB) skip the load check "
        "(very large models); 0 = check every size.")

    builtin_models: bool = True
    embedded_worker: bool = Field(
        default=True, description="Start one training worker process with the server."
    )
    job_heartbeat_s: float = Field(
        default=2.0, gt=0, description="Training heartbeat interval; after 5 missed beats any "
        "live server or worker reclaims the job (requeued once when retryable, else failed)."
    )
    max_job_streams_per_key: int = Field(
        default=16, gt=0, description="Job event streams (/api/v1/jobs/{id}/events) one key may "
        "hold open at once; past it 429.")
    usage_journal: bool = Field(
        default=True, description="Append each usage row to a local journal in the data dir "
        "(written to the OS before the answer leaves, replayed at start): a killed server loses "
        "no usage. Off: rows wait up to 250 ms in memory.")
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, description="On SIGTERM, how long requests in flight may finish; "
        "streams still open then end with an error event and a clean close.")
    currency: str = Field(
        default="USD", pattern=r"^[A-Z]{3}$", description="The one currency (ISO 4217 code) "
        "every price, cost and spend budget of this installation is in.")
    budget_sync_s: float = Field(
        default=5.0, gt=0, description="How often a server re-reads from the usage table what "
        "each budgeted tenant and key has spent in the period, so spend through other server "
        "processes counts against the budget too (between syncs each process counts its own).")
    redis_url: str | None = Field(
        default=None, description="Redis URL (redis://host:port/db) where rate-limit counters "
        "live, so every server process shares one limit; unset: counters in this process's "
        "memory (one process).")
    redis_key_prefix: str = Field(
        default="aiaas", min_length=1, max_length=64, description="Prefix of the rate-limit "
        "keys in Redis (installations sharing one Redis need different prefixes).")
    redis_timeout_s: float = Field(
        default=1.0, gt=0, le=30, description="How long a rate-limit call to Redis may take "
        "(connect and read) before the store counts as unreachable (503 limits_unavailable, or "
        "admitted under AIAAS_LIMITS_FAIL_OPEN). Raise it on a busy host where the event loop "
        "can stall for longer than this.")
    limits_lease_share: float = Field(
        default=0.005, ge=0, le=0.05, description="The share of a high limit a server "
        "process may take at once as a local lease, so most calls skip the counter (on Redis, "
        "the round trip); each process is off by at most this share of the limit (0 counts "
        "every call). Limits under two calls' worth of a lease are always counted call by call.")
    limits_fail_open: bool = Field(
        default=False, description="When the rate-limit store (Redis) cannot be reached, admit "
        "calls of limited tenants unlimited instead of answering 503 limits_unavailable.")
    ray_address: str | None = Field(
        default=None, description="A Ray cluster to run models on (ray://host:10001, host:6379, "
        "or auto for the cluster this machine belongs to): each served version becomes a Ray "
        "Serve deployment and this server the API tier. Unset: models run in this process and "
        "Ray is never imported. Needs the ray extra (pip install 'aiaas[ray]').")
    ray_deploy_timeout_s: float = Field(
        default=300.0, gt=0, description="How long a model's first replica may take to start "
        "on the cluster (scheduling and loading) before the call is answered 503.")
    ray_infeasible_after_s: float = Field(
        default=20.0, ge=0, description="How long a version whose replica needs resources no "
        "live node of the cluster has waits for such a node to join before it is refused (422 "
        "naming resources). Raise it when a cluster autoscaler adds nodes on demand.")
    pii_policy: Literal["off", "detect", "redact", "block", "pseudonymize"] = Field(
        default="off", description="The PII policy of calls whose tenant, key and model have "
        "none set (see `aiaas privacy`): off, detect, redact, block or pseudonymize.")
    pii_model_dir: Path | None = Field(
        default=None, description="The built PII name model to use; unset: "
        "~/.cache/aiaas/pii-ner-<recipe>, built once in the background if missing.")
    encrypt_at_rest: bool = Field(
        default=True, description="Seal each tenant's datasets, model artifacts and job and "
        "evaluation plots with its own data key (AES-256-GCM, Tink streaming AEAD), wrapped by "
        "the master key; decrypted working copies live only in memory-backed space.")
    master_key_file: Path | None = Field(
        default=None, description="The master key (a Tink JSON keyset) that wraps every "
        "tenant's data key; keep it outside the data dir. Unset: <config dir>/aiaas/"
        "master-key.json, created on the first start (back it up).")
    master_key: SecretStr | None = Field(
        default=None, description="The master key's JSON itself, for secret stores that "
        "inject variables; wins over master_key_file.")
    workspace_dir: Path | None = Field(
        default=None, description="A memory-backed directory (tmpfs) for decrypted working "
        "copies; unset: /dev/shm.")
    console_session_s: float = Field(
        default=12 * 3600, gt=0, description="How long a console sign-in lasts (then sign in "
        "again); revoking the key ends it at once.")
    console_secure_cookie: bool | None = Field(
        default=None, description="Mark the console's session cookie Secure; unset: when the "
        "request came over https (set true behind a TLS-terminating proxy that does not say so).")
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

"""What the server and the training worker are both built on, wired in one place from
``Settings``: the database (migrated), the model registry over its artifact store, and the
dataset store with its catalogue.

Why one builder: the worker is another process on the same data. Built from the same settings
by the same code, it honours every setting the server does (the registry's cache, the dataset
limits, ``torch_threads``) instead of a copy of the wiring that drifts. The server hands its
settings down as ``AIAAS_*`` variables (``environment``), so flags, the config file and the
server's environment all reach the worker as the server resolved them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from pydantic_settings import NoDecode

from aiaas.audit import AuditLog
from aiaas.config import Settings
from aiaas.crypto.vault import Vault
from aiaas.db import migrate
from aiaas.db.engine import Database
from aiaas.registry.service import Registry
from aiaas.registry.store import ArtifactStore
from aiaas.training.datasets import Catalog, DatasetStore

ENV_PREFIX = "AIAAS_"


@dataclass
class Core:
    settings: Settings
    db: Database
    registry: Registry
    datasets: DatasetStore
    catalog: Catalog
    audit: AuditLog
    """The audit log every service that makes a change records in (one chain per database)."""
    vault: Vault
    """Encryption at rest: seals tenant files, opens them, holds decrypted working copies."""


def build(settings: Settings) -> Core:
    """Create the data dir, apply migrations and wire the shared services (nothing is loaded)."""
    settings.ensure_dirs()
    db = Database(settings.sqlalchemy_url)
    migrate.upgrade(db.engine)
    audit = AuditLog(db)
    vault = open_vault(settings, db)
    registry = Registry(db, ArtifactStore(settings.artifacts_dir, settings.tmp_dir),
                        cache_s=settings.cache_ttl_s, audit=audit, vault=vault)
    datasets = DatasetStore(db, settings.data_dir, tmp_dir=settings.tmp_dir,
                            max_upload_bytes=settings.max_upload_bytes,
                            max_image_pixels=settings.max_image_pixels, audit=audit, vault=vault)
    return Core(settings, db, registry, datasets, Catalog(db, settings.data_dir, datasets), audit,
                vault)


def open_vault(settings: Settings, db: Database) -> Vault:
    """The data dir's encryption at rest (``KeyProblem`` when the master key is wrong or
    missing: nothing may start then). Turned off, sealed files already stored still open."""
    secret = settings.master_key.get_secret_value() if settings.master_key else None
    return Vault.open(db, key_file=settings.master_key_file, key_text=secret,
                      workspace_dir=settings.workspace_dir, seal_new=settings.encrypt_at_rest)


def environment(settings: Settings) -> dict[str, str]:
    """``settings`` as ``AIAAS_*`` variables from which ``Settings()`` rebuilds them exactly
    (the database URL included: in the environment, not on a command line ``ps`` shows).
    A setting that is None is left out."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list) and NoDecode in Settings.model_fields[name].metadata:
            text = ",".join(str(item) for item in value)
        elif isinstance(value, list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        env[ENV_PREFIX + name.upper()] = text
    env[ENV_PREFIX + "DATABASE_URL"] = settings.sqlalchemy_url
    if settings.master_key is not None:
        env[ENV_PREFIX + "MASTER_KEY"] = settings.master_key.get_secret_value()
    return env


def child_environment(settings: Settings) -> dict[str, str]:
    """This process's environment with its ``AIAAS_*`` variables replaced by ``settings``: a
    variable the settings were built past (an explicit argument over it) must not reach the
    child, nor a config file the settings already include."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
    return inherited | environment(settings)


def torch_threads(settings: Settings) -> int:
    """The worker's torch threads: ``torch_threads``, else every core but one (the server
    keeps answering on the same machine)."""
    return settings.torch_threads or max(1, (os.cpu_count() or 2) - 1)


def start_torch(settings: Settings) -> int:
    """Configure this process for training, once, when the worker starts: torch's threads
    (set per job, one job's count would leak into the next and under the backends it evaluates
    with) and the model libraries' offline switches. Returns the thread count."""
    from aiaas.runtime import process

    threads = torch_threads(settings)
    process.configure(threads)
    process.use_torch_threads()
    return threads

"""The master key: the one secret that unlocks every tenant's data key, kept outside the data dir.

It is a Tink keyset (JSON, one AES-256-GCM key), the format Tink's own tools read, found in this
order: ``AIAAS_MASTER_KEY`` (the keyset's JSON itself, for secret stores that inject variables),
``AIAAS_MASTER_KEY_FILE``, else ``<config dir>/aiaas/master-key.json``. Only that default file is
ever created, and only when the database holds no wrapped key yet (a first start): a missing key
for a data dir that has encrypted data is an error, never a fresh key that would strand it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import tink
from tink import aead, json_proto_keyset_format, secret_key_access

from aiaas.errors import KeyProblem

log = logging.getLogger("aiaas.crypto")

aead.register()


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "aiaas" / "master-key.json"


@dataclass(frozen=True)
class MasterKey:
    aead: aead.Aead
    key_id: str
    """The keyset's primary key id, as text: recorded beside every key it wraps."""
    source: str
    """Where it came from, for messages (a path or ``AIAAS_MASTER_KEY``); never the key."""

    @classmethod
    def parse(cls, text: str, source: str) -> MasterKey:
        try:
            handle = json_proto_keyset_format.parse(text, secret_key_access.TOKEN)
            primitive = handle.primitive(aead.Aead)
        except (tink.TinkError, ValueError) as exc:
            raise KeyProblem(f"the master key in {source} is not a Tink AEAD keyset "
                             f"({type(exc).__name__}); restore it from your backup") from None
        return cls(primitive, str(handle.keyset_info().primary_key_id), source)

    @classmethod
    def generate(cls, path: Path) -> MasterKey:
        """A new master key written to ``path`` (0600, its directory 0700), never over a file."""
        handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
        text = json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle_out:
            handle_out.write(text)
            handle_out.flush()
            os.fsync(handle_out.fileno())
        return cls.parse(text, str(path))


def load(key_file: Path | None, key_text: str | None, *, may_create: bool) -> MasterKey:
    """The configured master key. ``may_create``: no wrapped key exists yet, so the default
    file may be created (logged loudly: it must be backed up, away from the data dir)."""
    if key_text:
        return MasterKey.parse(key_text, "AIAAS_MASTER_KEY")
    path = key_file or default_key_file()
    if path.is_file():
        if path.stat().st_mode & 0o077:
            log.warning("master key file %s is readable by other users; chmod 600 it", path)
        return MasterKey.parse(path.read_text(), str(path))
    if key_file is not None:
        raise KeyProblem(f"AIAAS_MASTER_KEY_FILE names {path}, which does not exist")
    if not may_create:
        raise KeyProblem(f"no master key at {path}, but this data dir holds encrypted data: "
                         "set AIAAS_MASTER_KEY_FILE to the key it was sealed with")
    key = MasterKey.generate(path)
    log.warning("created the master key %s (id %s): back it up away from the data dir; without "
                "it the encrypted data cannot be read", path, key.key_id)
    return key

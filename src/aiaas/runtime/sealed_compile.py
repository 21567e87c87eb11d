"""Compiled forms of a sealed tenant's models: built in memory-backed space, kept sealed.

An ONNX export or int8 build holds the model's weights, so for a sealed tenant it is built in
the vault's workspace and a sealed copy is kept under ``<compiled dir>/sealed/<tenant>/``; the
next process (a restart, the worker) decrypts that copy instead of exporting again, which is
what keeps a sealed model's load time close to a plain one's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from aiaas.crypto.checkouts import materialize_all
from aiaas.crypto.vault import Vault
from aiaas.runtime.compile import cache

PURPOSE = "compiled"


class SealedKeeper:
    def __init__(self, vault: Vault, tenant: str, persist: Path) -> None:
        self.vault, self.tenant, self.persist = vault, tenant, persist

    def restore(self, name: str, target: Path) -> bool:
        stored = self.persist / name
        if not (stored / cache.REPORT).is_file():
            return False
        self.vault.unseal_tree(stored, target, self.tenant, f"{PURPOSE}/{name}")
        return True

    def prepare(self) -> None:
        materialize_all()

    def keep(self, name: str, source: Path) -> None:
        final = self.persist / name
        if final.is_dir():
            return
        self.persist.mkdir(parents=True, exist_ok=True)
        staging = self.persist / f".{name}.part"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            self.vault.seal_tree(source, staging, self.tenant, f"{PURPOSE}/{name}")
            staging.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def compile_root(vault: Vault, tenant: str, default: Path) -> Path:
    """The compile root for ``tenant``'s models: ``default`` unless the tenant is sealed."""
    if not vault.seals(tenant):
        return default
    root = vault.compile_root(tenant)
    persist = default / "sealed" / root.name
    cache.keep_with(root, SealedKeeper(vault, tenant, persist))
    return root

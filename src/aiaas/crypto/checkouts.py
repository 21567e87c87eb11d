"""Decrypted working copies of sealed trees, for frameworks that read files.

One copy per stored tree, shared by everyone who checks it out, removed by ``release`` (a
replica's unload) or with the workspace at exit. A replica may ask for a copy with its large
weight files *deferred*: an ONNX Runtime engine that serves a verified export never reads the
framework's weights, so decrypting them would cost load time and memory-backed space for
nothing. Whoever is about to read them calls ``materialize(directory)`` first (the engine's
fallback, an export build); a copy asked for without deferral is always whole.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

from aiaas.crypto.sealed import Sealer

DEFER_BYTES = 16 * 1024 * 1024
WEIGHT_SUFFIXES = frozenset({".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack"})

_PENDING: dict[Path, Callable[[], None]] = {}
"""Working copies with deferred files, process-wide: ``materialize`` finds them by path."""


def materialize(directory: Path) -> None:
    """Decrypt the files deferred in the working copy ``directory`` (a no-op for any other)."""
    finish = _PENDING.get(directory)
    if finish is not None:
        finish()


def materialize_all() -> None:
    """Decrypt every deferred file of this process (before an export build, which reads the
    framework's weights from a copy it does not name)."""
    for finish in list(_PENDING.values()):
        finish()


class Checkouts:
    def __init__(self, sealer: Sealer, new_dir: Callable[[str], Path]) -> None:
        self.sealer = sealer
        self.new_dir = new_dir
        self._copies: dict[Path, Path] = {}
        self._deferred: dict[Path, list[tuple[Path, Path, str, str]]] = {}
        self._lock = threading.RLock()

    def unseal_tree(self, stored: Path, target: Path, tenant: str, prefix: str, *,
                    defer: bool = False) -> list[tuple[Path, Path, str, str]]:
        """Decrypt ``stored`` under ``target``; with ``defer``, large weight files are left out
        and returned as (sealed, target, tenant, purpose) to decrypt later."""
        later = []
        for path in sorted(p for p in stored.rglob("*") if p.is_file()):
            relative = path.relative_to(stored)
            destination = target / relative
            destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            purpose = f"{prefix}/{relative.as_posix()}"
            if defer and path.suffix in WEIGHT_SUFFIXES and path.stat().st_size > DEFER_BYTES:
                later.append((path, destination, tenant, purpose))
                continue
            self.sealer.unseal_file(path, destination, tenant, purpose)
        return later

    def checkout(self, stored: Path, tenant: str, prefix: str, *, defer: bool = False) -> Path:
        with self._lock:
            copy = self._copies.get(stored)
            if copy is None or not copy.is_dir():
                copy = self.new_dir("tree")
                try:
                    later = self.unseal_tree(stored, copy, tenant, prefix, defer=defer)
                except BaseException:
                    shutil.rmtree(copy, ignore_errors=True)
                    raise
                self._copies[stored] = copy
                if later:
                    self._deferred[copy] = later
                    _PENDING[copy] = partial(self.finish, copy)
            if not defer:
                self.finish(copy)
            return copy

    def finish(self, copy: Path) -> None:
        """Decrypt what was deferred in ``copy`` (once; concurrent callers wait for it)."""
        with self._lock:
            for sealed, target, tenant, purpose in self._deferred.pop(copy, []):
                target.unlink(missing_ok=True)
                self.sealer.unseal_file(sealed, target, tenant, purpose)
            _PENDING.pop(copy, None)

    def release(self, stored: Path) -> None:
        with self._lock:
            copy = self._copies.pop(stored, None)
            if copy is not None:
                self._deferred.pop(copy, None)
                _PENDING.pop(copy, None)
        if copy is not None:
            shutil.rmtree(copy, ignore_errors=True)

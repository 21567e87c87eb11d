"""A model version uploaded as an archive: streamed to disk, unpacked safely, registered.

The whole workflow lives here, not in the route, so every surface that takes an upload (the
REST API now, a console later) gets the same limits, checks and cleanup: the archive is
received size-limited into a staging directory, extracted with its own limit on the expanded
bytes (``archive``: a ratio of the upload's own size, and never more than ``EXPANSION`` times
the upload limit), load-checked in a bounded child process (``load_check``: a model that cannot
load is refused here, not at its first predict) and registered; the staging directory is
removed whatever happens, and a full disk on the way is ``InsufficientStorage``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from aiaas.auth.principal import Principal, Scope
from aiaas.registry import archive
from aiaas.registry.load_check import LoadCheck
from aiaas.registry.records import VersionInfo
from aiaas.registry.service import Registry

if TYPE_CHECKING:
    from aiaas.config import Settings

EXPANSION = 4
"""An archive may expand to this many times the upload limit (compressed weights are rare, so
a larger ratio is a decompression bomb, not a model)."""


class Uploads:
    def __init__(self, registry: Registry, *, max_bytes: int, load_check: LoadCheck | None = None,
                 ratio: float = archive.DEFAULT_RATIO, floor: int = archive.DEFAULT_FLOOR) -> None:
        self.registry = registry
        self.max_bytes = max_bytes
        self.load_check = load_check
        self.ratio, self.floor = ratio, floor

    @classmethod
    def from_settings(cls, registry: Registry, settings: Settings) -> Uploads:
        return cls(registry, max_bytes=settings.max_upload_bytes,
                   load_check=LoadCheck.from_settings(settings),
                   ratio=settings.archive_max_ratio, floor=settings.archive_ratio_floor_bytes)

    async def register(self, principal: Principal, name: str, chunks: AsyncIterator[bytes], *,
                       task: str | None = None, description: str | None = None) -> VersionInfo:
        """Receive ``chunks`` (a .tar.gz, .tar or .zip of the model directory) and register it
        as the next version of ``name`` for the caller's tenant. ``PayloadTooLarge`` past the
        limit, ``Invalid`` / ``UnsafeArtifact`` naming what is wrong with the archive."""
        principal.require(Scope.MODELS_WRITE)
        with self.registry.staging(principal.tenant) as staging:
            upload = staging / "upload"
            await archive.receive(chunks, upload, limit=self.max_bytes)
            return await asyncio.to_thread(self._register, principal, name, upload,
                                           staging / "tree", task, description)

    def _register(self, principal: Principal, name: str, upload: Path, tree: Path,
                  task: str | None, description: str | None) -> VersionInfo:
        tree.mkdir()
        archive.extract(upload, tree, max_bytes=self.max_bytes * EXPANSION, ratio=self.ratio,
                        floor=self.floor)
        upload.unlink()
        entries = list(tree.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else tree
        return self.registry.register(root, tenant=principal.tenant, name=name,
                                      created_by=principal.key_id, task=task,
                                      description=description, move=True,
                                      check=self.load_check, actor=principal)

"""An in-memory copy of a few small tables that the request path reads without a database hit.

``Snapshot`` calls its ``load`` (which reads the tables and swaps the owner's view in one step)
the first time it is asked, and again whenever the copy is older than ``cache_s``: on a worker
thread in the background, while requests go on with the copy they have, so a change made
elsewhere (another server, the CLI on the data dir) applies within ``cache_s``. The owner calls
``reload`` at once after a change made through this process. ``cache_s`` 0 reads every time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger("aiaas.db")


class Snapshot:
    def __init__(self, load: Callable[[], None], *, cache_s: float, what: str) -> None:
        self.cache_s = cache_s
        self._load = load
        self._what = what
        self._loaded_at = 0.0
        self._reloading: asyncio.Future[None] | None = None

    def reload(self) -> None:
        """Read it now (a worker thread, or after a change)."""
        self._load()
        self._loaded_at = time.monotonic()

    async def fresh(self) -> None:
        """Make sure a copy is there: the first (or, with ``cache_s`` 0, every) read is waited
        for; a stale one is reloaded in the background."""
        if self._loaded_at and time.monotonic() - self._loaded_at < self.cache_s:
            return
        if not self._loaded_at or not self.cache_s:
            await asyncio.to_thread(self.reload)
            return
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.ensure_future(asyncio.to_thread(self.reload))
            self._reloading.add_done_callback(self._log_failure)

    def _log_failure(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.warning("%s not reloaded (the last copy stays in use): %s", self._what,
                        future.exception())

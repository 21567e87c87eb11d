"""aiaas: self-hosted AI models as a service.

The public face here is the SDK: ``aiaas.Client``, ``aiaas.AsyncClient`` and ``aiaas.AiaasAPIError``
(with its subclasses in ``aiaas.client``). They load on first use, so ``import aiaas`` stays
light and never imports the server.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["AiaasAPIError", "AsyncClient", "Client", "__version__"]


def __getattr__(name: str) -> Any:
    if name in {"Client", "AsyncClient", "AiaasAPIError"}:
        from aiaas import client

        return getattr(client, name)
    raise AttributeError(f"module 'aiaas' has no attribute {name!r}")

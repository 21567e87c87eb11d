"""The Open Inference Protocol (KServe V2 / Triton HTTP) surface under ``/v2``."""

from __future__ import annotations

from aiaas.api.v2.router import install_errors, router

__all__ = ["install_errors", "router"]

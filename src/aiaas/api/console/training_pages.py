"""Placeholder router, filled in below."""

from __future__ import annotations

from fastapi import APIRouter

from aiaas.api.console.render import PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)

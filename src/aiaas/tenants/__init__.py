"""Tenants as records and the rate limits set on them.

- ``records``: ``TenantInfo``, ``LimitsInfo`` (also the API's response models), ``RateLimits``.
- ``directory``: the in-memory view requests read (disabled tenants, the limits of a call).
- ``service``: ``TenantService`` (create, list, show, update, disable/enable).
- ``limits``: ``LimitService`` (set, show, clear limits of a tenant, key or model).

Enforcement is ``aiaas.limits``, an admission check at the front door.
"""

from aiaas.tenants.directory import Directory, Subject
from aiaas.tenants.limits import LimitService
from aiaas.tenants.records import LimitsInfo, RateLimits, TenantInfo
from aiaas.tenants.service import TenantService

__all__ = ["Directory", "LimitService", "LimitsInfo", "RateLimits", "Subject", "TenantInfo",
           "TenantService"]

"""Service, registry, key and usage methods of ``Client`` and ``AsyncClient``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import datetime

from aiaas.client import _calls
from aiaas.client._calls import ProgressCallback
from aiaas.client._models import ApiKey, CreatedKey, Health, Model, ModelVersion, UsageReport, Whoami
from aiaas.client._sending import AsyncSender, SyncSender
from aiaas.client._transport import prepare_archive

PathLike = str | os.PathLike[str]


class RegistryMethods(SyncSender):
    def health(self) -> Health:
        """``/healthz``; needs no API key."""
        return self._send(_calls.health())

    def me(self) -> Whoami:
        """The tenant, key id and scopes of the API key in use."""
        return self._send(_calls.me())

    def list_models(self) -> list[Model]:
        """The built-in models and the tenant's own."""
        return self._send(_calls.list_models())

    def get_model(self, name: str) -> Model:
        return self._send(_calls.get_model(name))

    def get_version(self, name: str, ref: int | str) -> ModelVersion:
        """A version by number or by alias (``"production"``, ``"latest"``)."""
        return self._send(_calls.get_version(name, ref))

    def upload_model(self, name: str, path: PathLike, *, task: str | None = None,
                     description: str | None = None,
                     progress: ProgressCallback | None = None) -> ModelVersion:
        """Register the next version of ``name`` from a model directory or an archive file.

        A directory is packed into a temporary .tar.gz first; a .tar.gz/.tar/.zip is sent as is.
        The body is streamed; ``progress(bytes_sent, total)`` follows it. ``task`` is detected
        by the server when omitted. Never retried (it is not idempotent).
        """
        archive = prepare_archive(path)
        try:
            return self._send(_calls.upload_model(name, archive.path, task=task,
                                                  description=description, progress=progress))
        finally:
            archive.cleanup()

    def set_alias(self, name: str, alias: str, version: int) -> Model:
        """Point ``alias`` at ``version``; predict without a version uses ``production``."""
        return self._send(_calls.set_alias(name, alias, version))

    def delete_version(self, name: str, version: int) -> None:
        """Raises ``ConflictError`` while an alias points at the version."""
        self._send(_calls.delete_version(name, version))

    def delete_model(self, name: str) -> None:
        """Delete the model with all its versions."""
        self._send(_calls.delete_model(name))

    def create_key(self, name: str, *, tenant: str | None = None, scopes: Sequence[str] | None = None,
                   admin: bool = False, expires_at: datetime | None = None) -> CreatedKey:
        """Admin only. ``tenant`` defaults to the caller's; the secret is returned this once."""
        return self._send(_calls.create_key(name, tenant=tenant, scopes=scopes, admin=admin,
                                            expires_at=expires_at))

    def list_keys(self, *, tenant: str | None = None, include_revoked: bool = False) -> list[ApiKey]:
        """Admin only."""
        return self._send(_calls.list_keys(tenant=tenant, include_revoked=include_revoked))

    def revoke_key(self, key_id: str) -> ApiKey:
        """Admin only; the key gets 401 from the next request on."""
        return self._send(_calls.revoke_key(key_id))

    def usage(self, *, model: str | None = None, since: datetime | str | None = None,
              until: datetime | str | None = None, limit: int = 100,
              tenant: str | None = None) -> UsageReport:
        """The tenant's usage, newest first. ``since``/``until`` need a timezone; another
        ``tenant`` needs an admin key."""
        return self._send(_calls.usage(model=model, since=since, until=until, limit=limit,
                                       tenant=tenant))


class AsyncRegistryMethods(AsyncSender):
    async def health(self) -> Health:
        return await self._send(_calls.health())

    async def me(self) -> Whoami:
        return await self._send(_calls.me())

    async def list_models(self) -> list[Model]:
        return await self._send(_calls.list_models())

    async def get_model(self, name: str) -> Model:
        return await self._send(_calls.get_model(name))

    async def get_version(self, name: str, ref: int | str) -> ModelVersion:
        return await self._send(_calls.get_version(name, ref))

    async def upload_model(self, name: str, path: PathLike, *, task: str | None = None,
                           description: str | None = None,
                           progress: ProgressCallback | None = None) -> ModelVersion:
        """See ``Client.upload_model``; packing a directory runs in a worker thread."""
        archive = await asyncio.to_thread(prepare_archive, path)
        try:
            return await self._send(_calls.upload_model(
                name, archive.path, task=task, description=description, progress=progress))
        finally:
            archive.cleanup()

    async def set_alias(self, name: str, alias: str, version: int) -> Model:
        return await self._send(_calls.set_alias(name, alias, version))

    async def delete_version(self, name: str, version: int) -> None:
        await self._send(_calls.delete_version(name, version))

    async def delete_model(self, name: str) -> None:
        await self._send(_calls.delete_model(name))

    async def create_key(self, name: str, *, tenant: str | None = None,
                         scopes: Sequence[str] | None = None, admin: bool = False,
                         expires_at: datetime | None = None) -> CreatedKey:
        return await self._send(_calls.create_key(name, tenant=tenant, scopes=scopes, admin=admin,
                                                  expires_at=expires_at))

    async def list_keys(self, *, tenant: str | None = None,
                        include_revoked: bool = False) -> list[ApiKey]:
        return await self._send(_calls.list_keys(tenant=tenant, include_revoked=include_revoked))

    async def revoke_key(self, key_id: str) -> ApiKey:
        return await self._send(_calls.revoke_key(key_id))

    async def usage(self, *, model: str | None = None, since: datetime | str | None = None,
                    until: datetime | str | None = None, limit: int = 100,
                    tenant: str | None = None) -> UsageReport:
        return await self._send(_calls.usage(model=model, since=since, until=until, limit=limit,
                                             tenant=tenant))

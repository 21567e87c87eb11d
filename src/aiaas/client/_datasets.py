"""Dataset methods of ``Client`` and ``AsyncClient``: upload (streamed multipart), list, show,
delete."""

from __future__ import annotations

import asyncio
import mimetypes
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from aiaas.client._calls import Call, ProgressCallback, Upload, many, nothing, one, segment
from aiaas.client._models import Dataset
from aiaas.client._sending import AsyncSender, SyncSender

DATASET_SUFFIXES = (".csv", ".jsonl", ".zip")


def _quote(value: str) -> str:
    """A form-data parameter value, escaped as browsers do (HTML's multipart encoding)."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart_upload(path: Path, fields: Mapping[str, str],
                     progress: ProgressCallback | None) -> Upload:
    """``fields`` then the file as part ``file``, framed as multipart/form-data around a streamed
    file: only the envelope is held in memory."""
    boundary = f"aiaas-{secrets.token_hex(16)}"
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
        + value.encode() + b"\r\n" for name, value in fields.items())
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
             f'filename="{_quote(path.name)}"\r\nContent-Type: {content_type}\r\n\r\n').encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = len(head) + path.stat().st_size + len(tail)
    return Upload(path, size, progress, head, tail, f"multipart/form-data; boundary={boundary}")


def dataset_file(path: str | os.PathLike[str]) -> Path:
    """The file to upload, checked to exist and to be .csv, .jsonl or .zip."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise FileNotFoundError(f"no such dataset file: {source}")
    if source.suffix.lower() not in DATASET_SUFFIXES:
        raise ValueError(f"{source.name}: a dataset is a .csv, .jsonl or .zip (of class folders) file")
    return source


def upload_dataset(source: Path, *, name: str | None, label: str | None, split_column: str | None,
                   timestamp: str | None, progress: ProgressCallback | None,
                   pii: str | None = None) -> Call[Dataset]:
    given = {"name": name, "label": label, "split_column": split_column, "timestamp": timestamp,
             "pii": pii}
    fields = {key: value for key, value in given.items() if value is not None}
    return Call("POST", "/api/v1/datasets", one(Dataset),
                upload=multipart_upload(source, fields, progress), retryable=False)


def list_datasets() -> Call[list[Dataset]]:
    return Call("GET", "/api/v1/datasets", many(Dataset, "datasets"))


def get_dataset(id_or_name: str) -> Call[Dataset]:
    return Call("GET", f"/api/v1/datasets/{segment(id_or_name)}", one(Dataset))


def delete_dataset(id_or_name: str) -> Call[None]:
    return Call("DELETE", f"/api/v1/datasets/{segment(id_or_name)}", nothing)


class DatasetMethods(SyncSender):
    def upload_dataset(self, path: str | os.PathLike[str], *, name: str | None = None,
                       label: str | None = None, split_column: str | None = None,
                       timestamp: str | None = None,
                       progress: ProgressCallback | None = None,
                       pii: str | None = None) -> Dataset:
        """Upload a dataset for the tenant: a .csv or .jsonl table (``label``: the target
        column; ``split_column``: your own train/validation/test column; ``timestamp``: the time
        column of a series) or a .zip of class folders of images. The server validates it and
        names the row, line or file of the first problem (``BadRequestError``). ``name``
        defaults to the server's choice. The file is streamed; ``progress(bytes_sent, total)``
        follows it. ``pii``: ``report`` (PII counts in ``stats["pii"]``) or ``redact`` (also
        replaced by typed placeholders before the table is stored). Never retried."""
        return self._send(upload_dataset(dataset_file(path), name=name, label=label,
                                         split_column=split_column, timestamp=timestamp,
                                         progress=progress, pii=pii))

    def list_datasets(self) -> list[Dataset]:
        """The built-in datasets (``builtin:NAME``) and the tenant's own."""
        return self._send(list_datasets())

    def get_dataset(self, id_or_name: str) -> Dataset:
        """A dataset with its columns and statistics."""
        return self._send(get_dataset(id_or_name))

    def delete_dataset(self, id_or_name: str) -> None:
        """Delete one of the tenant's datasets (built-ins cannot be deleted)."""
        self._send(delete_dataset(id_or_name))


class AsyncDatasetMethods(AsyncSender):
    async def upload_dataset(self, path: str | os.PathLike[str], *, name: str | None = None,
                             label: str | None = None, split_column: str | None = None,
                             timestamp: str | None = None,
                             progress: ProgressCallback | None = None,
                             pii: str | None = None) -> Dataset:
        """See ``Client.upload_dataset``; the file is read in a worker thread."""
        source = await asyncio.to_thread(dataset_file, path)
        return await self._send(upload_dataset(source, name=name, label=label,
                                               split_column=split_column, timestamp=timestamp,
                                               progress=progress, pii=pii))

    async def list_datasets(self) -> list[Dataset]:
        return await self._send(list_datasets())

    async def get_dataset(self, id_or_name: str) -> Dataset:
        return await self._send(get_dataset(id_or_name))

    async def delete_dataset(self, id_or_name: str) -> None:
        await self._send(delete_dataset(id_or_name))

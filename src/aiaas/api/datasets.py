"""Dataset routes: upload (multipart), list (built-ins, then the tenant's own), show, delete.

The upload's ``file`` part is streamed straight into the dataset store's staging dir (never
spooled elsewhere: in the data dir, or for a tenant whose files are sealed in memory-backed
space), counted against the upload limit as it arrives. Reading needs
``models:read``; uploading and deleting need ``models:write`` (checked by the dataset store and
catalogue, the upload's before its body is read). Another tenant's dataset is a 404.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS
from aiaas.errors import Invalid
from aiaas.training.datasets import DatasetRecord, DatasetStore
from aiaas.training.datasets.uploads import Upload

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"], responses=ERRORS)
FIELDS = ("name", "label", "split_column", "timestamp", "pii")
MAX_FIELD_BYTES = 1024
_FLUSH_BYTES = 1024 * 1024


class DatasetList(BaseModel):
    datasets: list[DatasetRecord]


class _Form:
    """Streams one multipart body: small text fields into memory, the ``file`` part into an
    ``Upload`` opened by the store once its file name is known (and accepted)."""

    def __init__(self, store: DatasetStore, staging: Any) -> None:
        self.store, self.staging = store, staging
        self.fields: dict[str, str] = {}
        self.upload: Upload | None = None
        self._name = ""
        self._header_field = b""
        self._header_value = b""
        self._disposition = b""
        self._text = bytearray()
        self._in_file = False
        self.pending: list[bytes] = []
        self.complete = False

    def callbacks(self) -> Any:
        return {"on_part_begin": self._part_begin, "on_part_data": self._part_data,
                "on_part_end": self._part_end, "on_header_field": self._header_field_data,
                "on_header_value": self._header_value_data, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_end": self._end}

    def _end(self) -> None:
        self.complete = True

    def _part_begin(self) -> None:
        self._disposition, self._text, self._in_file = b"", bytearray(), False

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file":
            if self.upload is not None:
                raise Invalid("send one 'file' part", details={"field": "file"})
            filename = options.get(b"filename", b"").decode("utf-8", "replace")
            if not filename:
                raise Invalid("the 'file' part needs a file name (.csv, .jsonl or .zip)",
                              details={"field": "file"})
            self.upload = self.store.open_upload(self.staging, filename)
            self._in_file = True
        elif self._name not in FIELDS:
            raise Invalid(f"unknown form field {self._name!r}; the form takes file, "
                          f"{', '.join(FIELDS)}", details={"field": self._name})

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.pending.append(data[start:end])
            return
        self._text += data[start:end]
        if len(self._text) > MAX_FIELD_BYTES:
            raise Invalid(f"form field {self._name!r} is longer than {MAX_FIELD_BYTES} bytes",
                          details={"field": self._name})

    def _part_end(self) -> None:
        if not self._in_file:
            value = self._text.decode("utf-8", "replace").strip()
            if value:
                self.fields[self._name] = value

    def flush(self) -> None:
        """Write the file bytes received so far (in a worker thread: disk I/O)."""
        chunks, self.pending = self.pending, []
        if self.upload is not None:
            for chunk in chunks:
                self.upload.write(chunk)


async def _receive(request: Request, form: _Form) -> None:
    content_type = request.headers.get("content-type", "")
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise Invalid("send the dataset as multipart/form-data with a 'file' part",
                      details={"field": "file"})
    parser = MultipartParser(boundary, form.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if sum(map(len, form.pending)) >= _FLUSH_BYTES:
                await asyncio.to_thread(form.flush)
        parser.finalize()
    except FormParserError as exc:
        raise Invalid(f"malformed multipart body: {exc}", details={"field": "file"}) from None
    await asyncio.to_thread(form.flush)
    if not form.complete:
        raise Invalid("the multipart body ends before its closing boundary: the upload is "
                      "incomplete", details={"field": "file"})
    if form.upload is None:
        raise Invalid("the form has no 'file' part: attach a .csv, .jsonl or .zip file",
                      details={"field": "file"})


@router.post("", response_model=DatasetRecord, status_code=201, openapi_extra={
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": ".csv or .jsonl (a table), .zip of <class>/<image> folders"},
            "name": {"type": "string", "description": "default: the file name's stem"},
            "label": {"type": "string", "description": "the label (target) column"},
            "split_column": {"type": "string",
                             "description": "a column of train/validation/test"},
            "timestamp": {"type": "string", "description": "the time column (forecasting)"},
            "pii": {"type": "string", "enum": ["off", "report", "redact"],
                    "description": "report: count the PII in string columns (stats.pii); "
                    "redact: also replace it with typed placeholders before the table is "
                    "stored (as CSV)"},
        }}}}},
})
async def upload_dataset(request: Request, principal: PrincipalDep,
                         services: ServicesDep) -> DatasetRecord:
    """Upload a dataset; it is validated (errors name the line or file) and its schema and
    statistics are stored. 409 when the name is taken; 413 over the upload limit."""
    store = services.datasets
    with store.receiving(principal) as staging:
        form = _Form(store, staging)
        try:
            await _receive(request, form)
        finally:
            if form.upload is not None:
                form.upload.close()
        assert form.upload is not None
        record = await asyncio.to_thread(store.create, principal, form.upload, **form.fields)
    return record


@router.get("", response_model=DatasetList)
async def list_datasets(principal: PrincipalDep, services: ServicesDep) -> DatasetList:
    """The built-in datasets, then the tenant's own (oldest first)."""
    records = await asyncio.to_thread(services.jobs.catalog.entries, principal)
    return DatasetList(datasets=records)


@router.get("/{dataset}", response_model=DatasetRecord)
async def show_dataset(dataset: str, principal: PrincipalDep, services: ServicesDep) -> DatasetRecord:
    """A dataset by id (``ds-...``, ``builtin:NAME``) or name."""
    record = await asyncio.to_thread(services.jobs.catalog.entry, principal, dataset)
    return record


@router.delete("/{dataset}", status_code=204)
async def delete_dataset(dataset: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    """409 for a built-in, and while a queued or running job uses the dataset."""
    await asyncio.to_thread(services.jobs.catalog.delete, principal, dataset)
    return Response(status_code=204)

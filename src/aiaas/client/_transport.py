"""What both clients share around sending: settings, the retry policy and packing uploads."""

from __future__ import annotations

import mimetypes
import os
import random
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from aiaas import __version__
from aiaas.client._calls import Call, Media
from aiaas.client._errors import (
    AiaasAPIError,
    RateLimitError,
    ServiceUnavailableError,
    error_from_response,
    error_from_transport,
)

T = TypeVar("T")
MediaSource = str | os.PathLike[str] | bytes | bytearray | IO[bytes]
"""An image or audio file: a path, its bytes, or a binary file object."""

DEFAULT_URL = "http://127.0.0.1:8000"
MAX_RETRY_WAIT_S = 60.0
"""A ``Retry-After`` longer than this is not waited out: the error is raised instead."""

# Failures after which sending again cannot surprise the server. Read/write timeouts are left
# out: the server may still be working on the first attempt.
_RETRY_TRANSPORT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
                    httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    base_url: str
    api_key: str | None
    timeout: float
    max_retries: int

    @classmethod
    def resolve(cls, base_url: str | None, api_key: str | None, timeout: float,
                max_retries: int) -> ClientSettings:
        """Fill what was not given from ``AIAAS_URL`` / ``AIAAS_API_KEY``."""
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        url = base_url or os.environ.get("AIAAS_URL") or DEFAULT_URL
        key = api_key or os.environ.get("AIAAS_API_KEY") or None
        return cls(url.rstrip("/"), key, timeout, max_retries)

    def http_options(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client`` / ``httpx.AsyncClient``."""
        headers = {"User-Agent": f"aiaas-python/{__version__}", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return {"base_url": self.base_url, "timeout": self.timeout, "headers": headers}


def request_options(call: Call[Any]) -> dict[str, Any]:
    """Everything for ``httpx.request`` except the body stream of an upload."""
    timeout = {} if call.timeout is None else {"timeout": call.timeout}
    return {"method": call.method, "url": call.path, "params": call.params or None,
            "json": call.json, "headers": call.headers(), **call.multipart(), **timeout}


def result_of(call: Call[T], response: httpx.Response) -> T:
    """The parsed result, or the typed error for a 4xx/5xx response raised."""
    if response.is_error:
        raise error_from_response(response)
    return call.parse(response)


def retry_delay(settings: ClientSettings, call: Call[Any], exc: Exception, attempt: int) -> float:
    """Seconds to wait before sending ``call`` again after ``exc`` on ``attempt`` (0-based).

    Raises the typed error instead when the call is not retryable, the failure is not one of
    429, 503 or a broken connection, ``max_retries`` is used up, or Retry-After is too long.
    """
    if isinstance(exc, AiaasAPIError):
        error, transient = exc, isinstance(exc, RateLimitError | ServiceUnavailableError)
    elif isinstance(exc, httpx.TransportError):
        error, transient = error_from_transport(exc, settings.base_url), isinstance(exc, _RETRY_TRANSPORT)
    else:
        raise exc
    wait = error.retry_after
    if wait is None:
        wait = min(8.0, 0.5 * 2**attempt) * random.uniform(0.75, 1.25)
    if not (transient and call.retryable and attempt < settings.max_retries and wait <= MAX_RETRY_WAIT_S):
        if error is exc:
            raise error
        raise error from exc
    return wait


@dataclass(frozen=True, slots=True)
class Archive:
    """The file to upload; ``temporary`` when packed from a directory (deleted by ``cleanup``)."""

    path: Path
    temporary: bool

    def cleanup(self) -> None:
        if self.temporary:
            self.path.unlink(missing_ok=True)


def prepare_archive(path: str | os.PathLike[str]) -> Archive:
    """A directory is packed into a temporary .tar.gz (links followed); a file is sent as is."""
    source = Path(path).expanduser()
    if source.is_file():
        return Archive(source, temporary=False)
    if not source.is_dir():
        raise FileNotFoundError(f"no such model directory or archive: {source}")
    handle, name = tempfile.mkstemp(prefix="aiaas-upload-", suffix=".tar.gz")
    os.close(handle)
    target = Path(name)
    try:
        # Weights barely compress: favour speed. One top-level directory, which the server unwraps.
        with tarfile.open(target, "w:gz", compresslevel=1, dereference=True) as tar:
            tar.add(source, arcname=source.resolve().name or "model", filter=_anonymous)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return Archive(target, temporary=True)


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def read_media(source: MediaSource, default_name: str = "upload") -> Media:
    """The bytes of a path, a binary file object or bytes, named for the multipart part."""
    if isinstance(source, bytes | bytearray):
        return Media(default_name, bytes(source))
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        return Media(path.name, path.read_bytes(), _content_type(path.name))
    name = Path(str(getattr(source, "name", "") or default_name)).name
    return Media(name, source.read(), _content_type(name))


def _content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def read_classify_inputs(inputs: Any) -> Any:
    """``classify`` inputs with every image (``os.PathLike``, bytes or a binary file object) read
    into ``Media``; a lone input stays lone. Strings are texts, never paths."""
    if isinstance(inputs, Mapping | str):
        return inputs
    if _is_image(inputs):
        return read_media(inputs, "image")
    return [read_media(item, "image") if _is_image(item) else item for item in inputs]


def _is_image(value: Any) -> bool:
    return isinstance(value, bytes | bytearray | os.PathLike) or hasattr(value, "read")

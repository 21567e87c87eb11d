"""One module per framework. Which backend serves a version is the table of formats
(``aiaas.formats.table``): ``backend_for`` reads it, and ``open_directory`` opens a directory
the way the server does (detection, the task's config, the table's backend), for trainers that
evaluate what they produced through the code that will serve it."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiaas.errors import Invalid
from aiaas.formats import detect, engine_for
from aiaas.registry.serving import ServingOptions
from aiaas.runtime.backends.base import Backend

if TYPE_CHECKING:
    from aiaas.registry.service import VersionInfo


def backend_for(version: VersionInfo, path: Path, *, threads: int,
                compile_root: Path | None = None, engine: str = "auto",
                options: ServingOptions | None = None, lanes: int = 1) -> Backend:
    """Build (not load) the backend for a version; heavy imports happen here, lazily.

    ``engine`` "auto" serves encoder models and image classifiers through a verified ONNX export
    cached under ``compile_root`` (falling back to their framework); "pytorch" keeps the
    framework, as does a version whose own ``engine`` is "pytorch"."""
    return build_backend(version.format, version.task, version.config, path, digest=version.sha256,
                         threads=threads, compile_root=compile_root, engine=engine,
                         options=options, lanes=lanes)


def build_backend(format_name: str, task: str, config: dict[str, Any], path: Path, *,
                  digest: str, threads: int, compile_root: Path | None = None,
                  engine: str = "auto", options: ServingOptions | None = None,
                  lanes: int = 1) -> Backend:
    """The table's preferred engine for ``format_name`` serving ``task``, constructed (not
    loaded) with the keyword arguments it takes; ``Invalid`` when no engine serves the pair."""
    per_version = options.engine if options is not None else "auto"
    chosen = engine_for(format_name, task, export=engine == "auto" and per_version != "pytorch"
                        and compile_root is not None)
    module, _, name = chosen.backend.partition(":")
    backend_class = getattr(importlib.import_module(module), name)
    available: dict[str, Any] = {"task": task, "digest": digest, "compile_root": compile_root,
                                 "options": options, "lanes": lanes}
    if chosen.takes & {"device", "precision"}:
        from aiaas.runtime import devices

        serving = options or ServingOptions()
        available.update(device=devices.resolve(serving.device), precision=serving.precision)
    backend: Backend = backend_class(path, config, threads=threads,
                                     **{key: available[key] for key in sorted(chosen.takes)})
    return backend


def open_directory(path: Path, task: str, *, threads: int) -> Backend:
    """Detect ``path``, derive ``task``'s config from it as registration does, build the
    framework backend (no ONNX export: nothing is cached for an unregistered directory) and
    load it. The caller unloads it. ``Invalid`` when the directory does not serve ``task``."""
    from aiaas.tasks import get_task

    detected = detect(path)
    if task not in detected.tasks:
        raise Invalid(f"a {detected.format} model cannot serve task {task!r}; "
                      f"it serves: {', '.join(detected.tasks)}", details={"field": "task"})
    config = get_task(task).prepare_config(detected, path)
    backend = build_backend(detected.format, task, config, path, digest="", threads=threads,
                            engine="pytorch")
    backend.load()
    return backend


__all__ = ["Backend", "backend_for", "build_backend", "open_directory"]

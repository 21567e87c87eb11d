"""The table of formats: for every model format aiaas serves, its detector, the tasks it can
serve, the engines that run it and the builds it can have. Detection, ``backend_for`` in the
runtime and the int8 checks of the serving tuner all read this one table, so a new format (or a
new engine for one) is one row here plus its backend class.

An engine names its backend class as a dotted path (``module:Class``) that the runtime imports
only when a version is loaded: this package never imports the runtime, and detecting a
directory never imports torch.

Detection runs the detectors in table order; the first that recognises the directory wins.
A detector returns ``None`` for a directory that is not its format and raises
``Invalid``/``UnsafeArtifact`` (a 4xx saying why) for one that is but cannot be served.
Before any detector runs, every file whose loader would run code is refused by its suffix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiaas.errors import Invalid, UnsafeArtifact
from aiaas.formats import causal_lm, ctranslate2, hf, onnx_graph, sentence
from aiaas.formats.files import SAFE_HINT, iter_files, unsafe_reason
from aiaas.formats.manifest import Detected, Manifest, read_manifest

Detector = Callable[[Path, set[str], Manifest], Detected | None]
EXPORT_ARGUMENTS = frozenset({"digest", "compile_root", "options", "lanes"})
"""What an engine that serves a verified export takes: the artifact digest the export is
cached under, the cache root, the serving options (device, precision, int8 bound) and lanes."""
_BACKENDS = "aiaas.runtime.backends."


@dataclass(frozen=True, slots=True)
class Engine:
    """One way to run a format's models.

    ``backend`` is ``module:Class`` of the runtime class, constructed as
    ``Class(path, config, threads=..., **arguments)`` where ``takes`` names the extra keyword
    arguments (from ``task``, ``device``, ``precision`` and ``EXPORT_ARGUMENTS``). An engine with
    ``export`` serves a verified ONNX export cached under the compile root and falls back to
    the framework itself: engine ``auto`` prefers it when there is a compile root, ``pytorch``
    skips it. ``tasks`` limits the engine to some of the format's tasks (empty: all of them)."""

    name: str
    backend: str
    tasks: tuple[str, ...] = ()
    export: bool = False
    takes: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Build:
    """A compiled form a version can be served from, built and measured on request (the
    serving tuner): ``name`` as ``precision`` spells it, for ``tasks`` of the format;
    ``describes`` names those versions in messages."""

    name: str
    tasks: tuple[str, ...]
    describes: str


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    detector: Detector
    tasks: tuple[str, ...]
    """Every task the format can serve; a detected directory serves some of them."""
    engines: tuple[Engine, ...]
    """In order of preference."""
    builds: tuple[Build, ...] = ()


def _export(name: str, backend: str, *tasks: str) -> Engine:
    return Engine(name, _BACKENDS + backend, tasks, export=True, takes=EXPORT_ARGUMENTS)


def _framework(name: str, backend: str, *tasks: str, takes: frozenset[str] = frozenset()) -> Engine:
    return Engine(name, _BACKENDS + backend, tasks, takes=takes)


FORMATS: tuple[Format, ...] = (
    Format(sentence.HEAD_FORMAT, sentence.detect_embedding_head, ("text-classification",),
           (_framework("transformers", "embedding_head:EmbeddingHeadBackend"),)),
    Format(sentence.FORMAT, sentence.detect_sentence_transformers, ("embedding",),
           (_export("onnxruntime", "onnx_embedding:OnnxEmbeddingBackend"),
            _framework("sentence-transformers", "sentence_transformers:SentenceTransformersBackend",
                       takes=frozenset({"device", "precision"}))),
           (Build("int8", ("embedding",), "sentence-transformers embeddings"),)),
    Format(causal_lm.GGUF_FORMAT, causal_lm.detect_gguf, causal_lm.TASKS,
           (_export("llama.cpp", "llama_cpp:LlamaCppBackend"),
            _framework("transformers", "causal_lm:CausalLMBackend"))),
    Format(causal_lm.HF_FORMAT, causal_lm.detect_causal_lm_directory, causal_lm.TASKS,
           (_framework("transformers", "causal_lm:CausalLMBackend"),)),
    Format(hf.FORMAT, hf.detect_transformers, hf.HF_TASKS,
           (_export("onnxruntime", "onnx_text_classifier:OnnxTextClassifierBackend",
                    "text-classification"),
            _framework("transformers", "hf_sequence:HFSequenceBackend", "text-classification"),
            _export("onnxruntime", "onnx_hf_image:OnnxHFImageBackend", "image-classification"),
            _framework("transformers", "hf_image:HFImageBackend", "image-classification"),
            _framework("transformers", "hf_seq2seq:HFSeq2SeqBackend", "text2text")),
           (Build("int8", ("text-classification",), "transformers text classifiers"),)),
    Format(onnx_graph.FORECASTER_FORMAT, onnx_graph.detect_onnx_forecaster, ("forecasting",),
           (_framework("onnxruntime", "forecaster:ForecasterBackend"),)),
    Format(onnx_graph.FORMAT, onnx_graph.detect_onnx,
           ("image-classification", "tabular-classification", "tabular-regression"),
           (_framework("onnxruntime", "onnx_image:OnnxImageBackend", "image-classification"),
            # Every other task of the format: tabular-classification and tabular-regression.
            _framework("onnxruntime", "onnx_tabular:OnnxTabularBackend", takes=frozenset({"task"})))),
    Format(ctranslate2.FORMAT, ctranslate2.detect_ctranslate2_whisper, ("speech-recognition",),
           (_framework("ctranslate2", "whisper:WhisperBackend"),)),
)
_BY_NAME = {row.name: row for row in FORMATS}


def format_named(name: str) -> Format | None:
    return _BY_NAME.get(name)


def engine_for(format_name: str, task: str, *, export: bool) -> Engine:
    """The preferred engine for a version of ``format_name`` serving ``task``; an engine that
    serves an export only when ``export`` (a compile root is there and engine ``auto`` asked
    for it). ``Invalid`` when no engine serves that pair."""
    row = _BY_NAME.get(format_name)
    for engine in row.engines if row is not None else ():
        if (not engine.tasks or task in engine.tasks) and (export or not engine.export):
            return engine
    raise Invalid(f"no backend serves format {format_name!r}")


def builds_named(name: str) -> dict[tuple[str, str], str]:
    """(format, task) of the versions that can have build ``name`` -> what to call them."""
    return {(row.name, task): build.describes
            for row in FORMATS for build in row.builds if build.name == name
            for task in build.tasks}


def refuse_unsafe_files(root: Path) -> list[Path]:
    """Every file of ``root``; ``UnsafeArtifact`` naming the first whose loader would run code
    (CTranslate2's own ``model.bin`` excepted, once its header says it is one)."""
    files = iter_files(root)
    allowed = (root / ctranslate2.CT2_WEIGHTS
               if ctranslate2.ctranslate2_spec(root) is not None else None)
    for path in files:
        reason = unsafe_reason(path)
        if reason and path != allowed:
            raise UnsafeArtifact(
                f"refused {path.relative_to(root).as_posix()}: it is {reason}, which can run code "
                f"when loaded; {SAFE_HINT}",
                details={"file": path.relative_to(root).as_posix()},
            )
    return files


def detect(root: Path) -> Detected:
    """Identify the format of ``root``; raise ``UnsafeArtifact``/``Invalid`` saying why not."""
    files = refuse_unsafe_files(root)
    if not files:
        raise Invalid("the model directory is empty")
    manifest = read_manifest(root)
    names = {path.relative_to(root).as_posix() for path in files}
    for row in FORMATS:
        detected = row.detector(root, names, manifest)
        if detected is not None:
            return detected
    raise Invalid(
        f"unrecognised model format (files: {', '.join(sorted(names)[:8])}); {SAFE_HINT}",
    )

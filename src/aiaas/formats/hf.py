"""Hugging Face ``transformers`` directories (``config.json`` + safetensors weights): format
``transformers``.

The kind comes from ``config.json``: ``architectures`` and ``model_type``, which must name a
model class built into ``transformers`` (one ``from_pretrained`` loads without remote code):

- ``*ForSequenceClassification`` -> ``text-classification`` (needs tokenizer files)
- ``*ForImageClassification`` -> ``image-classification`` (needs ``preprocessor_config.json``)
- an encoder-decoder text model (T5, BART, Marian, Pegasus, ...) -> ``text2text``

Refused: an ``auto_map`` or ``custom_pipelines`` entry in any JSON file ``transformers`` reads
(it names Python code to import, which would need ``trust_remote_code``), and a sharded index
whose shards leave the directory. ``Detected.config`` holds ``architecture`` and
``model_type``. The causal-LM formats (``aiaas.formats.causal_lm``) share these checks.
``transformers`` is imported only inside the functions that need its class tables.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from aiaas.errors import Invalid, UnsafeArtifact
from aiaas.formats.files import check_safetensors
from aiaas.formats.manifest import Detected, Manifest, read_json

FORMAT = "transformers"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"
# JSON files transformers reads while loading a model, its tokenizer or its processor.
LOADER_CONFIGS = (
    CONFIG,
    "tokenizer_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "feature_extractor_config.json",
    "generation_config.json",
    "special_tokens_map.json",
)
CODE_KEYS = ("auto_map", "custom_pipelines")
TOKENIZER_FILES = (
    "tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
    "source.spm", "tokenizer.model",
)
IMAGE_PROCESSOR = "preprocessor_config.json"
# Encoder-decoder models that take text and write text (speech and multimodal ones excluded).
TEXT2TEXT_MODEL_TYPES = frozenset({
    "bart", "bigbird_pegasus", "blenderbot", "blenderbot-small", "fsmt", "led", "longt5",
    "m2m_100", "marian", "mbart", "mt5", "mvp", "nllb-moe", "pegasus", "pegasus_x", "plbart",
    "prophetnet", "switch_transformers", "t5", "umt5",
})
HF_TASKS = ("text-classification", "image-classification", "text2text")
MAX_NESTING = 32


def is_hf_directory(names: set[str]) -> bool:
    """A top-level ``config.json`` and safetensors weights (sentence-transformers is checked first)."""
    return CONFIG in names and any(name.endswith(".safetensors") for name in names)


def detect_transformers(root: Path, names: set[str], manifest: Manifest) -> Detected | None:
    """The task of a transformers directory, ``None`` when it is not one, or
    ``Invalid``/``UnsafeArtifact`` saying why it cannot be served."""
    if not is_hf_directory(names):
        return None
    config = read_hf_config(root)
    refuse_loader_code(root, names)
    check_weights(root, names)
    architecture, model_type = identify(config)
    task = _task_of(architecture, model_type)
    if task in ("text-classification", "text2text") and not any(n in names for n in TOKENIZER_FILES):
        raise Invalid(f"{architecture} needs its tokenizer: none of {', '.join(TOKENIZER_FILES)} "
                      "is in the directory (save it with tokenizer.save_pretrained)")
    if task == "image-classification" and IMAGE_PROCESSOR not in names:
        raise Invalid(f"{architecture} needs its image processor: {IMAGE_PROCESSOR} is missing "
                      "(save it with image_processor.save_pretrained)")
    return Detected(FORMAT, "transformers", (task,), manifest,
                    config={"architecture": architecture, "model_type": model_type})


def read_hf_config(root: Path) -> dict[str, Any]:
    config = read_json(root / CONFIG, CONFIG)
    if not isinstance(config, dict):
        raise Invalid(f"{CONFIG} is not valid: expected a JSON object")
    return config


def hf_labels(config: dict[str, Any], manifest_labels: list[Any]) -> list[str]:
    """Class names in output order: ``aiaas.json`` labels if given, else ``config.id2label``."""
    raw = config.get("id2label")
    count = len(raw) if isinstance(raw, dict) else int(config.get("num_labels") or 0)
    if manifest_labels:
        labels = [str(label) for label in manifest_labels]
        if count and len(labels) != count:
            raise Invalid(f"aiaas.json lists {len(labels)} labels; the model has {count} outputs")
    elif isinstance(raw, dict):
        try:
            by_index = {int(key): str(value) for key, value in raw.items()}
        except (TypeError, ValueError):
            raise Invalid(f"{CONFIG} id2label keys must be class indices") from None
        if sorted(by_index) != list(range(len(by_index))):
            raise Invalid(f"{CONFIG} id2label must cover the indices 0..{len(by_index) - 1}")
        labels = [by_index[i] for i in range(len(by_index))]
    else:
        raise Invalid(f"{CONFIG} has no id2label: list the labels in aiaas.json")
    if len(labels) < 2:
        raise Invalid("a classifier needs at least two labels (one output is a regressor)")
    if len(set(labels)) != len(labels):
        raise Invalid("the class labels have duplicates")
    if any("\x00" in label for label in labels):
        raise Invalid("the class labels must not contain NUL characters")
    return labels


def identify(config: dict[str, Any]) -> tuple[str, str]:
    """(the one class in ``architectures``, ``model_type``), which transformers must know."""
    from transformers import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise Invalid(f"{CONFIG} has no model_type")
    if model_type not in CONFIG_MAPPING:
        raise Invalid(f"{CONFIG} model_type {model_type!r} is not built into transformers; "
                      "models that need remote code are refused")
    architectures = config.get("architectures")
    if (not isinstance(architectures, list) or len(architectures) != 1
            or not isinstance(architectures[0], str)):
        raise Invalid(f"{CONFIG} must name exactly one class in 'architectures'")
    return architectures[0], model_type


def _task_of(architecture: str, model_type: str) -> str:
    from transformers.models.auto import modeling_auto as auto

    if architecture.endswith("ForSequenceClassification"):
        if model_type in auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
            return "text-classification"
    elif "ForImageClassification" in architecture:
        if model_type in auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES:
            return "image-classification"
    elif (model_type in TEXT2TEXT_MODEL_TYPES
          and model_type in auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES
          and ("ForConditionalGeneration" in architecture or architecture.endswith(("MTModel",
                                                                                   "LMHeadModel")))):
        return "text2text"
    raise Invalid(
        f"{architecture} ({model_type}) is not a transformers model aiaas serves; served: "
        "*ForSequenceClassification (text-classification), *ForImageClassification "
        "(image-classification), encoder-decoder text models such as T5, BART or Marian (text2text)"
    )


def refuse_loader_code(root: Path, names: set[str]) -> None:
    """``UnsafeArtifact`` when a JSON file transformers reads names code to import."""
    for name in LOADER_CONFIGS:
        if name not in names:
            continue
        found = _code_key(read_json(root / name, name), 0)
        if found:
            raise UnsafeArtifact(
                f"refused {name}: its {found!r} names Python code to import, which would need "
                "trust_remote_code; only model classes built into transformers load",
                details={"file": name, "key": found},
            )


def _code_key(value: Any, depth: int) -> str | None:
    if depth > MAX_NESTING:
        raise Invalid("a configuration file is nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            if key in CODE_KEYS:
                return str(key)
            found = _code_key(item, depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _code_key(item, depth + 1)
            if found:
                return found
    return None


def check_weights(root: Path, names: set[str]) -> None:
    """``model.safetensors``, or an index whose shards are files of this directory."""
    if WEIGHTS in names:
        check_safetensors(root / WEIGHTS, WEIGHTS)
        return
    if WEIGHTS_INDEX not in names:
        raise Invalid(f"no {WEIGHTS} (or {WEIGHTS_INDEX}) in the directory")
    index = read_json(root / WEIGHTS_INDEX, WEIGHTS_INDEX)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise Invalid(f"{WEIGHTS_INDEX} is not valid: it has no weight_map")
    for shard in set(weight_map.values()):
        text = str(shard)
        parts = PurePosixPath(text.replace("\\", "/")).parts
        if len(parts) != 1 or parts[0] in ("..", ".") or "\x00" in text or ":" in text:
            raise UnsafeArtifact(f"{WEIGHTS_INDEX} names shard {text!r}: a shard must be a plain "
                                 "file name in the model directory",
                                 details={"file": WEIGHTS_INDEX, "shard": text})
        if not text.endswith(".safetensors") or text not in names:
            raise Invalid(f"{WEIGHTS_INDEX} names shard {text!r}, which is not in the directory")
        check_safetensors(root / text, text)

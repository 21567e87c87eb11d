"""PII detection: Microsoft Presidio's pattern recognisers (``patterns``) plus aiaas's own name
model (``ner_model``) for person names and locations, street addresses included (no spaCy
model can be installed offline), run on all texts of a call in one batch.

``Analyzer`` is thread-safe and meant to run on a worker thread (``analyze`` is CPU work). It
loads on first use; if it cannot load or run it raises ``Unavailable``
(``privacy_unavailable``), so a policy that must redact refuses the call instead of letting it
through: it fails closed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiaas.errors import AiaasError, Unavailable
from aiaas.privacy import patterns
from aiaas.privacy.entities import ENTITY_TYPES, Entity

__all__ = ["ENTITY_TYPES", "Analyzer", "Entity"]

log = logging.getLogger("aiaas.privacy")

LOWERCASE_MIN_SCORE = 0.8
"""A name or place written without a capital letter ("opens at nine") needs this much
confidence: in lowercase text the model has only the context to go on."""


class Analyzer:
    def __init__(self, model_dir: Callable[[], Path]) -> None:
        """``model_dir`` gives the name model's directory when the analyzer loads (it may raise
        ``Unavailable`` while the model is being built)."""
        self._model_dir = model_dir
        self._lock = threading.Lock()
        self._presidio: Any = None
        self._names: Any = None

    def load(self) -> None:
        """Build Presidio's engine and load the name model (once; a few seconds)."""
        with self._lock:
            if self._presidio is not None:
                return
            try:
                from aiaas.privacy.ner_model import NameRecognizer

                names = NameRecognizer.load(self._model_dir())
                presidio = patterns.presidio_engine()
            except Unavailable:
                raise
            except Exception as exc:
                log.error("the PII analyzer could not be loaded: %s", type(exc).__name__)
                raise Unavailable(f"the PII analyzer could not be loaded ({type(exc).__name__})",
                                  code="privacy_unavailable", retry_after_s=30) from None
            self._presidio, self._names = presidio, names

    def analyze(self, texts: Sequence[str], entities: frozenset[str] | None = None
                ) -> list[list[Entity]]:
        """The entities of each text, sorted by position, overlaps resolved (a span inside
        another is dropped: an IP inside a URL is the URL; otherwise the higher score wins).
        ``entities`` keeps only those types (None: all)."""
        self.load()
        with fail_closed("the PII analyzer failed"):
            named = self._names.find(list(texts)) if texts else []
            found = []
            for text, spans in zip(texts, named, strict=True):
                candidates = [Entity(s.type, s.start, s.end, s.score) for s in spans
                              if s.score >= LOWERCASE_MIN_SCORE or _has_capital(text, s)]
                candidates += patterns.find(self._presidio, text)
                found.append(resolve(candidates, entities))
        return found


@contextmanager
def fail_closed(what: str) -> Iterator[None]:
    """An unexpected error while finding or replacing PII becomes ``Unavailable``
    (``privacy_unavailable``, 503: the call is refused, never passed through), logged by its
    type only: its message or traceback could hold the very text being protected."""
    try:
        yield
    except AiaasError:
        raise
    except Exception as exc:
        log.error("%s: %s", what, type(exc).__name__)
        raise Unavailable(f"{what} ({type(exc).__name__})", code="privacy_unavailable",
                          retry_after_s=5) from None


def resolve(candidates: list[Entity], wanted: frozenset[str] | None) -> list[Entity]:
    """Non-overlapping entities by position: longest first, a span inside a kept one dropped,
    a partial overlap won by the higher score."""
    if wanted is not None:
        candidates = [c for c in candidates if c.type in wanted]
    ranked = sorted(candidates, key=lambda e: (-(e.end - e.start), -e.score))
    kept: list[Entity] = []
    for entity in ranked:
        clash = [k for k in kept if k.start < entity.end and entity.start < k.end]
        if not clash:
            kept.append(entity)
            continue
        if any(k.start <= entity.start and entity.end <= k.end for k in clash):
            continue
        if all(entity.score > k.score for k in clash):
            kept = [k for k in kept if k not in clash] + [entity]
    return sorted(kept, key=lambda e: e.start)


def _has_capital(text: str, span: Any) -> bool:
    return any(c.isupper() for c in text[span.start:span.end])

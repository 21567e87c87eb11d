"""``PrivacyService``: the PII analyzer, the policies, and the check the front door runs.

The name model (``ner_model``) is built once per installation from packages already installed
(a few minutes on two cores; ``aiaas privacy build`` or ``make install`` does it up front) into
``AIAAS_PII_MODEL_DIR`` (default ``~/.cache/aiaas/pii-ner-<recipe>``: it holds no tenant data and
is shared by every data dir). A server that starts without it builds it in the background;
until it is there, calls under a policy other than ``off`` are refused with 503
``privacy_unavailable`` and a Retry-After (fail closed), and calls under ``off`` never wait.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from aiaas.audit import AuditLog
from aiaas.auth.principal import Principal, Scope
from aiaas.config import Settings
from aiaas.db.engine import Database
from aiaas.errors import Invalid, PayloadTooLarge, Unavailable
from aiaas.privacy.analyzer import Analyzer
from aiaas.privacy.check import PrivacyCheck
from aiaas.privacy.policy import Policy, PolicyService
from aiaas.privacy.redaction import Pseudonyms

log = logging.getLogger("aiaas.privacy")


def default_model_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aiaas"


def model_dir(settings: Settings) -> Path:
    """Where the name model is (or will be built)."""
    from aiaas.privacy.ner_model import RECIPE

    return settings.pii_model_dir or default_model_root() / f"pii-ner-{RECIPE}"


class PrivacyService:
    def __init__(self, settings: Settings, db: Database, *, audit: AuditLog | None = None
                 ) -> None:
        self.settings = settings
        self.policies = PolicyService(db, default=settings.pii_policy,
                                      cache_s=settings.cache_ttl_s, audit=audit)
        self.analyzer = Analyzer(self._model_dir)
        self.check = PrivacyCheck(self.policies, self.analyzer)
        self._building: float | None = None
        self._build_thread: threading.Thread | None = None

    def _model_dir(self) -> Path:
        if self._building is not None:
            raise Unavailable(f"the PII name model is being built ({self._building:.0%} done)",
                              code="privacy_unavailable", retry_after_s=30)
        return model_dir(self.settings)

    async def start(self) -> None:
        """Build the name model in the background if it is missing (only where no directory
        was configured: a configured one is the operator's)."""
        target = model_dir(self.settings)
        if self.settings.pii_model_dir is not None or (target / "config.json").exists():
            return
        self._building = 0.0
        self._build_thread = threading.Thread(target=self._build, args=(target,),
                                              name="pii-model-build", daemon=True)
        self._build_thread.start()

    def _build(self, target: Path) -> None:
        from aiaas.privacy import ner_model

        def progress(fraction: float, what: str) -> None:
            self._building = fraction

        log.info("building the PII name model once, into %s", target)
        try:
            ner_model.ensure(target.parent, progress)
            log.info("the PII name model is built")
        except Exception:
            log.exception("building the PII name model failed; PII policies refuse calls")
        finally:
            self._building = None

    def analyze(self, principal: Principal, texts: Any, entities: Any = None,
                max_texts: int = 256, max_chars: int = 20_000) -> list[dict[str, Any]]:
        """Per text: the entities found (type, start, end, score) and the text redacted with
        typed placeholders (stable across the texts of one call). For trying a policy."""
        principal.require_any(Scope.PREDICT, Scope.ADMIN)
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise Invalid.at("texts", "must be a non-empty list of strings", naming="quoted")
        if len(texts) > max_texts:
            raise PayloadTooLarge.at("texts", f"holds {len(texts)} texts; at most {max_texts}",
                                     naming="quoted")
        for i, text in enumerate(texts):
            if len(text) > max_chars:
                raise PayloadTooLarge.at(f"texts[{i}]", f"is {len(text)} characters long; at "
                                         f"most {max_chars}", naming="quoted")
        wanted = Policy.checked("detect", entities, "request").entities
        found = self.analyzer.analyze(texts, wanted)
        pseudonyms = Pseudonyms()
        return [{"entities": [e.as_dict() for e in ents], "redacted": pseudonyms.redact(text, ents)}
                for text, ents in zip(texts, found, strict=True)]

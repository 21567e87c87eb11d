"""What PII detection finds: typed character spans, never the values themselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ENTITY_TYPES = ("PERSON", "LOCATION", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD",
                "IBAN_CODE", "IP_ADDRESS", "US_SSN", "DATE_OF_BIRTH", "URL")
"""What the analyzer finds, in Presidio's names (``DATE_OF_BIRTH`` is ours: only birth dates)."""


@dataclass(frozen=True, slots=True)
class Entity:
    """One finding: ``text[start:end]`` is a ``type``. The value itself is never kept here, so
    an entity can be logged, metered or returned to a caller who may not see the value."""

    type: str
    start: int
    end: int
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "start": self.start, "end": self.end,
                "score": round(self.score, 3)}


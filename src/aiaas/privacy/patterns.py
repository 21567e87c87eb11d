"""The pattern half of PII detection: Presidio's recognisers, set up to run offline and fast,
plus the rules Presidio has no recogniser for.

- Presidio runs with its ``no_op`` NLP engine: no spaCy pipeline, nothing to download. Its
  email recogniser checks the top-level domain with ``tldextract``, which by default fetches
  the public suffix list; here it reads the snapshot ``tldextract`` ships.
- Phone numbers: Presidio's recogniser (``phonenumbers``, region by region) runs on the runs of
  digits that could be a number, not the whole text (25 regions over a 100-word text cost 9 ms,
  over its digit runs under 1 ms).
- Cards: Presidio's patterns plus Mastercard's 2-series (2221-2720), Luhn-checked as the rest.
- Dates of birth: a date with a birth cue ("DOB", "born", "date of birth"...) before it and no
  other date in between; other dates (appointments, payments) are not PII on their own.
- Fewer false alarms: a dotted number after "version"/"release"/"build" is not an IP address,
  a digit run after "order"/"ticket"/"sample ID"... is not a phone number, ``123-45-6789`` is an
  SSN rather than a phone number, and a bare domain must end where the word ends.
"""

from __future__ import annotations

import re
from typing import Any

from aiaas.privacy.entities import Entity

PRESIDIO_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS",
                  "US_SSN", "URL")
PHONE_REGIONS = ("US", "GB", "IE", "CA", "AU", "NZ", "IN", "DE", "FR", "ES", "IT", "NL", "BE",
                 "CH", "AT", "PT", "BR", "MX", "NG", "KE", "ZA", "PH", "SG", "CN", "JP")
"""Regions whose national formats (``087 412 9930``) count as phone numbers; numbers written
with a ``+`` country code are found whatever their region."""
MIN_SCORES = {"PHONE_NUMBER": 0.3, "US_SSN": 0.3, "URL": 0.3, "IP_ADDRESS": 0.3}
"""Presidio scores weak patterns (a bare nine-digit number as an SSN) below these: dropped."""

_PHONE_CANDIDATE = re.compile(r"(?<![\w.@/:-])\+?\(?\d[\d \t().\-/]{5,22}\d(?![\w@])")
_SSN_SHAPED = re.compile(r"^\(?\d{3}([- .])\d{2}\1\d{4}\)?$")
_NOT_A_PHONE = re.compile(
    r"\b(?:id|order|ref|reference|ticket|case|invoice|tracking|sample|claim|policy|batch|lot|"
    r"serial|po|mrn|nhs|account|acct|member|booking|confirmation|transaction|txn)\b"
    r"(?:\s*(?:no\.?|number|#|:))?\s*[#:]?\s*$", re.IGNORECASE)
_PHONE_CUE = re.compile(r"\b(?:phone|tel|call|mobile|cell|fax|whatsapp|text|ring|contact|"
                        r"number|reach)\b", re.IGNORECASE)
_VERSION_CUE = re.compile(r"\b(?:v|ver|version|release|build|firmware|patch|update)\.?\s*$",
                          re.IGNORECASE)
_MASTERCARD_2 = r"\b2(?:2[2-9]\d|[3-6]\d\d|7[01]\d|720)[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}\b"

_BIRTH_CUE = re.compile(
    r"\b(?:dob|d\.o\.b|born|birth\s*date|date\s+of\s+birth|birthday|geb|geboren|"
    r"née?\s+le|fecha\s+de\s+nacimiento)\b", re.IGNORECASE)
_DATE = re.compile(
    r"\b(?:\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
    r"|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?[A-Za-z]{3,9}\.?,?\s+\d{4}"
    r"|[A-Za-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})\b")
_MONTHS = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
           "dec", "january", "february", "march", "april", "june", "july", "august",
           "september", "october", "november", "december"}
_BIRTH_REACH = 80
"""Characters a birth cue may sit before its date (``What date of birth...?\\nCustomer: 04/02/2015``)."""


def find(engine: Any, text: str) -> list[Entity]:
    """The pattern entities of ``text`` (overlapping ones included: the analyzer resolves)."""
    results = engine.analyze(text=text, language="en", entities=list(PRESIDIO_TYPES))
    found = [Entity(r.entity_type, r.start, r.end, r.score) for r in results
             if r.score >= MIN_SCORES.get(r.entity_type, 0.0)]
    return [e for e in found if _plausible(e, text)] + birth_dates(text)


def _plausible(entity: Entity, text: str) -> bool:
    value, before = text[entity.start:entity.end], text[max(0, entity.start - 30):entity.start]
    if entity.type == "PHONE_NUMBER":
        if _SSN_SHAPED.match(value):
            return False
        return not (_NOT_A_PHONE.search(before) and not _PHONE_CUE.search(before))
    if entity.type == "IP_ADDRESS":
        return not _VERSION_CUE.search(before)
    if entity.type == "URL":
        after = text[entity.end:entity.end + 1]
        return not (after.isalnum() or after == "_")
    return True


def birth_dates(text: str) -> list[Entity]:
    found = []
    for match in _DATE.finditer(text):
        words = [w.lower().rstrip(".") for w in re.findall(r"[A-Za-z]+", match.group())]
        if any(w not in _MONTHS and w not in {"st", "nd", "rd", "th", "of"} for w in words):
            continue
        window_start = max(0, match.start() - _BIRTH_REACH)
        cues = list(_BIRTH_CUE.finditer(text, window_start, match.start()))
        if not cues:
            continue
        between = text[cues[-1].end():match.start()]
        if not _DATE.search(between):
            found.append(Entity("DATE_OF_BIRTH", match.start(), match.end(), 0.85))
    return found


def presidio_engine() -> Any:
    """Presidio's analyzer with the pattern recognisers only and no NLP pipeline."""
    import tldextract
    from presidio_analyzer import AnalyzerEngine, Pattern, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UrlRecognizer,
        UsSsnRecognizer,
    )

    offline_tld = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):  # type: ignore[misc]
        def validate_result(self, pattern_text: str) -> bool:
            return bool(offline_tld(pattern_text).fqdn)

    class WindowedPhoneRecognizer(PhoneRecognizer):  # type: ignore[misc]
        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None,
                    regex_flags: Any = None) -> list[Any]:
            results = []
            for candidate in _PHONE_CANDIDATE.finditer(text):
                for result in super().analyze(candidate.group(), entities, nlp_artifacts):
                    result.start += candidate.start()
                    result.end += candidate.start()
                    results.append(result)
            return results

    cards = [*CreditCardRecognizer.PATTERNS, Pattern("Mastercard 2-series", _MASTERCARD_2, 0.3)]
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (OfflineEmailRecognizer(),
                       WindowedPhoneRecognizer(supported_regions=PHONE_REGIONS),
                       CreditCardRecognizer(patterns=cards), IbanRecognizer(), IpRecognizer(),
                       UsSsnRecognizer(), UrlRecognizer()):
        registry.add_recognizer(recognizer)
    no_nlp = NoOpNlpEngine([{"lang_code": "en", "model_name": "none"}])
    return AnalyzerEngine(registry=registry, nlp_engine=no_nlp, supported_languages=["en"])

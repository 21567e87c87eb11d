"""Seeded synthetic training text for the PERSON / LOCATION recogniser in ``ner_model``.

No labelled corpus and no spaCy model can be fetched at run time, so the training set is made
here: documents in the styles PII detection meets (clinical notes, bank and card messages,
support chats typed in lower case, e-mails, SMS, bookings, alerts, letters), with names from
many Faker locales and addresses in several countries' formats. Material that looks like a name
but is not one (drugs, products, companies, months, ticket ids, capitalised headings, and the
e-mails, phones, cards and dates that regex recognisers own) is there too, labelled O.
The same ``seed`` and ``count`` give the same examples; bump ``VERSION`` when the output changes.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

from faker import Faker
from faker.config import AVAILABLE_LOCALES

from aiaas.privacy import ner_words as W

VERSION = 1
Label = Literal["PERSON", "LOCATION"]
LABELS: tuple[str, ...] = ("O", "B-PERSON", "I-PERSON", "B-LOCATION", "I-LOCATION")


@dataclass(frozen=True)
class Example:
    """One document: its text and the character spans of its entities."""

    text: str
    spans: tuple[tuple[int, int, Label], ...]
    style: str


def token_tags(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int, str]]) -> list[int]:
    """BIO label ids (indices into ``LABELS``) for tokens given by character offsets; a token
    belongs to the span its first character falls in, and special tokens ((0, 0)) are O."""
    tags: list[int] = []
    previous: tuple[int, int, str] | None = None
    for start, end in offsets:
        found = None
        if end > start:
            found = next((span for span in spans if span[0] <= start < span[1]), None)
        if found is None:
            tags.append(0)
        else:
            inside = "I" if found == previous else "B"
            tags.append(LABELS.index(f"{inside}-{found[2]}"))
        previous = found
    return tags


# Name sources: (locale, weight). Scripts Faker writes non-Latin are romanized or transliterated.
NAME_LOCALES: tuple[tuple[str, float], ...] = (
    ("en_US", 6), ("en_GB", 5), ("en_IE", 2), ("ga_IE", 0.5), ("en_AU", 1.5), ("en_CA", 1),
    ("en_NZ", 0.5), ("en_IN", 4), ("en_NG", 2), ("yo_NG", 1.5), ("ig_NG", 1), ("ha_NG", 1),
    ("tw_GH", 1), ("en_KE", 1), ("sw", 1), ("zu_ZA", 1), ("en_PH", 1), ("en_PK", 1.5),
    ("es_ES", 3), ("es_MX", 2), ("es_CO", 1), ("es_AR", 1), ("pt_BR", 2), ("pt_PT", 1),
    ("de_DE", 3), ("de_AT", 1), ("de_CH", 0.5), ("fr_FR", 3), ("fr_CA", 0.5), ("it_IT", 2.5),
    ("nl_NL", 1.5), ("nl_BE", 0.5), ("pl_PL", 2), ("cs_CZ", 1), ("sk_SK", 0.5), ("hu_HU", 1),
    ("ro_RO", 1), ("hr_HR", 1), ("sl_SI", 0.5), ("sv_SE", 1.5), ("no_NO", 1), ("da_DK", 1),
    ("fi_FI", 1), ("is_IS", 0.3), ("et_EE", 0.3), ("lt_LT", 0.3), ("lv_LV", 0.3),
    ("tr_TR", 2), ("az_AZ", 0.5), ("vi_VN", 1.5), ("id_ID", 1.5), ("ja_JP", 2), ("zh_CN", 2.5),
    ("ru_RU", 1.5), ("uk_UA", 1), ("bg_BG", 0.5), ("el_GR", 0.5), ("uz_UZ", 0.3), ("arabic", 2.5),
    ("korean", 1), ("akan", 0.5),
)
OWN_LISTS = frozenset({"arabic", "korean", "akan"})  # names from ner_words, not Faker
CYRILLIC = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюяєіїґ",
                    ["a", "b", "v", "g", "d", "e", "yo", "zh", "z", "i", "y", "k", "l", "m", "n",
                     "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y",
                     "", "e", "yu", "ya", "ye", "i", "yi", "g"], strict=True))
GREEK = dict(zip("αβγδεζηθικλμνξοπρσςτυφχψωάέήίόύώϊϋΐΰ",
                 ["a", "v", "g", "d", "e", "z", "i", "th", "i", "k", "l", "m", "n", "x", "o", "p",
                  "r", "s", "s", "t", "y", "f", "ch", "ps", "o", "a", "e", "i", "i", "o", "y", "o",
                  "i", "y", "i", "y"], strict=True))


def _transliterate(text: str) -> str:
    table = CYRILLIC if any("\u0400" <= ch <= "\u04ff" for ch in text) else GREEK
    out = []
    for ch in text:
        mapped = table.get(ch.lower(), ch)
        out.append(mapped.capitalize() if ch.isupper() else mapped)
    return "".join(out)


def ascii_fold(text: str) -> str:
    """Drop accents, as people do when typing names quickly ("José" -> "Jose")."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


@cache
def _faker(locale: str) -> Faker:
    return Faker(locale)


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    middle: str = ""
    eastern: bool = False  # family name first, as written in Chinese, Korean and Vietnamese


class Source:
    """Random draws of names, places and the O material, all from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        for index, locale in enumerate(sorted(self.locales() | W.FAKER_LOCALES)):
            _faker(locale).seed_instance(seed * 1000 + index)
        self._locales = [loc for loc, _ in NAME_LOCALES if loc in self.locales() or loc in OWN_LISTS]
        self._weights = [weight for loc, weight in NAME_LOCALES if loc in self._locales]

    @staticmethod
    def locales() -> set[str]:
        return {loc for loc, _ in NAME_LOCALES if loc in AVAILABLE_LOCALES}

    def choice(self, items: Sequence[str]) -> str:
        return items[self.rng.randrange(len(items))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def person(self) -> Person:
        locale = self.rng.choices(self._locales, self._weights)[0]
        rng = self.rng
        if locale == "arabic":
            last = self.choice(W.ARABIC_LAST)
            if rng.random() < 0.3:
                last = f"{rng.choice(['Al-', 'El ', 'al-', 'Al ', 'El-', 'bin ', 'Abu '])}{last}"
            return Person(self.choice(W.ARABIC_FIRST), last)
        if locale == "korean":
            return Person(self.choice(W.KOREAN_FIRST), self.choice(W.KOREAN_LAST), eastern=self.chance(0.5))
        if locale == "akan":
            return Person(self.choice(W.AKAN_FIRST), self.choice(W.AKAN_LAST))
        fake = _faker(locale)
        if locale == "ja_JP":
            return Person(fake.first_romanized_name(), fake.last_romanized_name(),
                          eastern=self.chance(0.3))
        if locale == "zh_CN":
            first = fake.first_romanized_name()
            if self.chance(0.4):
                first += self.choice(["", "-"]) + fake.first_romanized_name().lower()
            return Person(first, fake.last_romanized_name(), eastern=self.chance(0.6))
        if locale == "vi_VN":
            parts = fake.name().split()
            parts = [p for p in parts if p not in ("Ông", "Bà", "Cô", "Anh", "Chị", "John", "Jane")]
            if len(parts) < 2:
                parts = [fake.last_name(), self.choice(W.VIET_GIVEN)]
            return Person(" ".join(parts[1:]), parts[0], eastern=True)
        first, last = fake.first_name(), fake.last_name()
        if locale.startswith("en_") and rng.random() < 0.1:
            first = self.choice(W.NICKNAMES)
        if locale in ("ru_RU", "uk_UA", "bg_BG", "el_GR"):
            first, last = _transliterate(first), _transliterate(last)
        middle = ""
        roll = rng.random()
        if locale.startswith(("es_", "pt_")) and roll < 0.35:
            last = f"{last} {fake.last_name()}"
        elif roll < 0.07:
            last = f"{last}-{fake.last_name()}"
        elif roll < 0.16:
            middle = fake.first_name()[0] + "."
        elif roll < 0.22:
            middle = fake.first_name()
        if locale in ("ru_RU", "uk_UA", "bg_BG", "el_GR"):
            last = _transliterate(last)
            middle = _transliterate(middle)
        return Person(first, last, middle)

    # -- places ---------------------------------------------------------------------------------
    def city(self) -> str:
        if self.chance(0.55):
            return self.choice(W.WORLD_CITIES)
        return _faker(self.choice(W.CITY_LOCALES)).city()

    def street(self, country: str = "") -> str:
        rng = self.rng
        if country in W.STREET_LOCALE:
            return _faker(W.STREET_LOCALE[country]).street_name()
        stem = self.choice(W.STREET_STEMS) if self.chance(0.6) else _faker("en_GB").last_name()
        if self.chance(0.12):
            stem = f"{self.choice(['North', 'South', 'East', 'West', 'Upper', 'Lower', 'Old', 'New'])} {stem}"
        kinds = W.US_STREET_KINDS if country == "us" else W.UK_STREET_KINDS
        if country == "us" and self.chance(0.15):
            n = rng.randint(1, 160)
            suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
            return f"{self.choice(['West', 'East', 'W', 'E', 'N', 'S'])} {n}{suffix} {self.choice(kinds)}"
        return f"{stem} {self.choice(kinds)}"

    def place(self, kind: str) -> str:
        """A LOCATION for a template slot (``CITY``, ``ADDR``...)."""
        if kind == "CITY":
            return self.city()
        if kind == "COUNTRY":
            return self.choice(W.COUNTRIES)
        if kind == "ADDR":
            return self.choice(W.ADDRESS_FORMATS).format_map(_Lazy(self))
        if kind == "AIRPORT":
            return self.choice(W.AIRPORTS)
        if kind == "STREET":
            return self.street()
        if kind == "REGION":
            return self.choice(W.REGIONS)
        return self.choice(W.PLACE_FORMATS).format_map(_Lazy(self))


class _Lazy(dict[str, str]):
    """Fills address formats: each placeholder is drawn only when the format uses it."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source

    def __missing__(self, key: str) -> str:
        s, rng = self.source, self.source.rng
        value: str
        if key.startswith("street_"):
            value = s.street(key.removeprefix("street_"))
        elif key.startswith("city_"):
            value = _faker(W.CITY_FAKERS[key.removeprefix("city_")]).city()
        elif key.startswith("pc_"):
            value = _faker(W.CITY_FAKERS[key.removeprefix("pc_")]).postcode()
        elif key in ("m", "k"):
            value = str(rng.randint(1, 9))
        elif key == "n":
            value = str(rng.choice([rng.randint(1, 30), rng.randint(1, 200), rng.randint(100, 9999)]))
        elif key == "flat":
            number = str(rng.randint(1, 40)) + (s.choice("ABCDEF") if rng.random() < 0.25 else "")
            value = f"{s.choice(['Flat', 'Apt', 'Apt.', 'Unit', 'Suite', 'Apartment', '#'])} {number}"
        elif key == "state":
            value = _faker("en_US").state_abbr()
        elif key == "zip":
            value = _faker("en_US").zipcode()
        elif key == "ukpc":
            value = _faker("en_GB").postcode()
        else:
            value = s.choice(getattr(W, key.upper()))
        self[key] = value
        return value


@dataclass
class _Doc:
    """A document being written: its text so far and the labelled spans in it."""

    source: Source
    case: str  # "normal", "lower" or "upper"
    text: str = ""

    def __post_init__(self) -> None:
        self.spans: list[tuple[int, int, Label]] = []
        self.people: dict[str, Person] = {}

    def add(self, piece: str, label: Label | None = None) -> None:
        if self.case == "lower":
            piece = piece.lower()
        elif self.case == "upper":
            piece = piece.upper()
        if label is not None and piece:
            self.spans.append((len(self.text), len(self.text) + len(piece), label))
        self.text += piece


SLOT = re.compile(r"\{([A-Z]+)(\d?)\}")


def _name_case(doc: _Doc, name: str, casual: bool) -> str:
    """Names are sometimes typed in lower case or shouted in capitals, whatever the text does."""
    rng = doc.source.rng
    if casual and rng.random() < 0.15:
        name = name.lower()
        return ascii_fold(name) if rng.random() < 0.5 else name
    if rng.random() < 0.04:
        return name.upper()
    return name


def _fill(doc: _Doc, template: str, casual: bool) -> None:
    s = doc.source
    position = 0
    for match in SLOT.finditer(template):
        doc.add(template[position:match.start()])
        position = match.end()
        kind, index = match.group(1), match.group(2) or "1"
        if kind in ("P", "F", "L", "T", "TF", "E"):
            person = doc.people.setdefault(index, s.person())
            if kind == "E":
                doc.add(_email(s, person))
                continue
            if kind in ("T", "TF"):
                doc.add(f"{s.choice(W.TITLES)} ")
            if kind == "F":
                name = person.first
            elif kind in ("L", "T"):
                name = person.last
            elif person.eastern:
                name = f"{person.last} {person.first}"
            elif person.middle:
                name = f"{person.first} {person.middle} {person.last}"
            elif s.chance(0.03):
                name = f"{person.last}, {person.first}"
            else:
                name = f"{person.first} {person.last}"
            doc.add(_name_case(doc, name, casual), "PERSON")
        elif kind in W.PLACE_SLOTS:
            value = s.place(kind)
            doc.add(value.lower() if casual and s.chance(0.1) else value, "LOCATION")
        else:
            doc.add(W.other(kind, s.rng))
    doc.add(template[position:])


def _email(s: Source, person: Person) -> str:
    first, last = (ascii_fold(part).lower().replace(" ", "").replace("'", "")
                   for part in (person.first, person.last))
    local = s.choice([f"{first}.{last}", f"{first[0]}.{last}", f"{first}{last}{s.rng.randint(1, 99)}",
                      f"{last}.{first}", f"{first}_{last}", f"{first[0]}{last}"])
    return f"{local}@{s.choice(W.MAIL_DOMAINS)}"


def _document(s: Source) -> Example:
    style_name = s.choice(list(W.STYLES))
    style = W.STYLES[style_name]
    casual = style_name in W.CASUAL_STYLES
    roll = s.rng.random()
    case = "lower" if casual and roll < 0.4 else "upper" if roll > 0.985 else "normal"
    doc = _Doc(s, case)
    lines: list[str] = []
    if style.get("open") and s.chance(0.8):
        lines.append(s.choice(style["open"]))
    body = style["body"]
    lines.extend(s.rng.sample(body, k=min(len(body), s.rng.randint(1, 4))))
    if style.get("close") and s.chance(0.7):
        lines.append(s.choice(style["close"]))
    if s.chance(0.25):
        lines.insert(s.rng.randint(0, len(lines)), s.choice(W.NEGATIVE_LINES))
    sep = "\n" if style_name in W.LINE_STYLES else s.choice([" ", " ", "\n"])
    for n, line in enumerate(lines):
        if n:
            doc.add(sep)
        customer = style_name == "support_chat" and line.startswith("Customer:")
        if customer and case == "normal" and s.chance(0.6):
            doc.case = "lower"
            _fill(doc, line, True)
            doc.case = "normal"
        else:
            _fill(doc, line, casual)
    return Example(doc.text, tuple(doc.spans), style_name)


def generate(count: int, *, seed: int = 0) -> list[Example]:
    """``count`` synthetic documents, the same for the same ``seed`` (and Faker version)."""
    source = Source(seed)
    return [_document(source) for _ in range(count)]

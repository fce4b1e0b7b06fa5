"""Split building-code clauses into reader-visible words and give each a category.

A *word* is the unit that attribution perturbs (docs/method.md): what a reader sees as one
item. Rule identifiers (``C.3.2.1``, ``2.3.12(b)``, ``D1/AS1``) and numbers (``2.0``,
``1:12``, ``5%``, ``1 200``) stay whole; punctuation is not a word. The categories and their
order of precedence are those of docs/method.md. NZ Building Code text adds clause numbers at
the start (``1.4 Calculating ...``), clause ranges (``C1-C6``), standards (``NZS 4541``) and
cross-references (``Table 3.2``, ``Figures 3 and 4``, ``Paragraph 3.7``): all rule identifiers,
while values with units (``350 kPa``, ``0.3 L/s``, ``1.5 m²``) are numerical constraints.
Everything here is plain Python so that data processing, attribution and reporting share one
definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RULE_IDENTIFIER = "rule_identifier"
NUMERICAL_CONSTRAINT = "numerical_constraint"
DEONTIC = "deontic"
DOMAIN_ENTITY = "domain_entity"
OTHER = "other"
CATEGORIES = (RULE_IDENTIFIER, NUMERICAL_CONSTRAINT, DEONTIC, DOMAIN_ENTITY, OTHER)

# Order matters: the first alternative that matches at a position wins.
_IDENTIFIER_PATTERNS = (
    r"[A-Z]\d+-[A-Z]\d+(?![\w/])",  # C1-C6: a range of NZBC clauses
    r"[A-Z]{1,3}\d*/[A-Z]{1,4}\d*(?:\.\d+)*",  # D1/AS1, C/AS2, G13/AS2
    r"[A-Z]{1,3}\.?\d+(?:\.\d+)+(?:\([a-z0-9]{1,4}\))*",  # C.3.2.1, C3.2, B1.3.3(a)
    r"[A-Z]\.\d+(?:\([a-z0-9]{1,4}\))*",  # C.3
    r"\d+(?:\.\d+){2,}(?:\([a-z0-9]{1,4}\))*",  # 2.3.12, 2.3.12(b)
    r"\d+(?:\.\d+)+(?:\([a-z0-9]{1,4}\))+",  # 4.2(a)
    r"\d+\([a-z0-9]{1,4}\)",  # 12(b)
)
_NUMBER_PATTERNS = (
    r"\d+(?:\.\d+)?:\d+(?:\.\d+)?",  # 1:12 ratios
    r"\d{1,3}(?: \d{3})+(?:\.\d+)?%?(?!\d)",  # 1 200, 12 500.5 (space thousands)
    r"\d{1,3}(?:,\d{3})+(?:\.\d+)?%?(?!\d)",  # 1,200
    r"\d+(?:\.\d+)?%?",  # 2.0, 5%, 900
    r"\.\d+%?",  # .5
)
_WORD_PATTERN = r"[^\W\d_][\w°²³'’]*(?:[-/][\w°²³]+)*"  # self-closing, L/s, m²
_TOKEN_RE = re.compile(
    "|".join(
        [f"(?P<ident{i}>{p})" for i, p in enumerate(_IDENTIFIER_PATTERNS)]
        + [f"(?P<num{i}>{p})" for i, p in enumerate(_NUMBER_PATTERNS)]
        + [f"(?P<word>{_WORD_PATTERN})", r"(?P<sym>[<>≤≥=±]+)"]
    )
)

UNITS = frozenset(
    """mm cm m km m2 m² m3 m³ mm2 mm² ha metre metres meter meters millimetre millimetres
    centimetre centimetres kilometre kilometres percent cent degree degrees ° °c c
    kpa pa mpa kn n kg kg/m2 kg/m² kw w w/m2 w/m² w/m²k lux lx db db(a) dba l l/s m³/s m3/s
    m/s litre litres liter liters second seconds s min minute minutes hour hours h hrs
    person persons people occupants storey storeys k hz""".split()
)
COMPARISON_PHRASES = (
    ("not", "be", "less", "than"),
    ("not", "be", "more", "than"),
    ("be", "not", "less", "than"),
    ("be", "not", "more", "than"),
    ("not", "be", "greater", "than"),
    ("not", "be", "fewer", "than"),
    ("not", "less", "than"),
    ("not", "more", "than"),
    ("no", "less", "than"),
    ("no", "more", "than"),
    ("not", "exceed"),
    ("not", "exceeding"),
    ("at", "least"),
    ("at", "most"),
    ("less", "than"),
    ("more", "than"),
    ("greater", "than"),
    ("fewer", "than"),
    ("up", "to"),
    ("in", "excess", "of"),
    ("or", "more"),
    ("or", "less"),
    ("between",),
    ("minimum",),
    ("maximum",),
    ("exceed",),
    ("exceeds",),
    ("exceeding",),
    ("within",),
    ("min",),
    ("max",),
    ("least",),
    ("greater",),
    ("smaller",),
    ("below",),
    ("above",),
    ("under",),
    ("over",),
    ("equal",),
    ("ratio",),
    ("gradient",),
    ("width",),
)
DEONTIC_PHRASES = (
    ("shall", "not"),
    ("must", "not"),
    ("is", "required", "to"),
    ("are", "required", "to"),
    ("is", "to"),
    ("are", "to"),
    ("is", "not", "permitted"),
    ("are", "not", "permitted"),
    ("shall",),
    ("must",),
    ("should",),
    ("may",),
    ("required",),
    ("requires",),
    ("permitted",),
    ("prohibited",),
    ("need",),
    ("needs",),
    ("mandatory",),
    ("obligatory",),
    ("allowed",),
    ("forbidden",),
)
DOMAIN_ENTITIES = frozenset(
    """room rooms space spaces building buildings storey floor floors stair stairs stairway
    stairways staircase flight flights landing landings riser risers tread treads going nosing
    ramp ramps handrail handrails balustrade balustrades barrier barriers guard door doors doorway
    doorways opening openings window windows glazing exit exits escape route routes corridor
    corridors passage passageway lobby lobbies wall walls partition ceiling ceilings roof roofs
    floor-to-ceiling headroom dwelling dwellings apartment unit units occupant occupancy
    compartment compartments sprinkler sprinklers alarm alarms detector detectors hydrant
    hydrants extinguisher extinguishers hose reel smoke fire firefighting lift lifts elevator
    elevators shaft shafts duct ducts ventilation ventilator fan fans vent vents kitchen
    bathroom bathrooms toilet toilets wc wcs urinal urinals basin basins shower showers sanitary
    fixture fixtures drain drains drainage pipe pipes gully gullies manhole manholes sewer
    stormwater gutter gutters downpipe downpipes tank tanks parking car cars vehicle vehicles
    bay bays carpark driveway aisle aisles kerb wheelchair accessible accessway accessways
    pathway pathways footpath signage sign signs luminaire luminaires lighting daylight
    beam beams column columns slab slabs foundation foundations footing footings pile piles
    truss trusses joist joists rafter rafters brace bracing timber steel concrete masonry
    insulation envelope facade façade basement attic loft mezzanine balcony balconies deck decks
    veranda pool pools fence fences gate gates boiler heater heaters chimney flue flues hearth
    garage garages carport habitable bedroom bedrooms office offices classroom classrooms
    hospital school assembly theatre warehouse factory shop shops hall halls auditorium
    occupants persons people pedestrian pedestrians cyclist bicycle bicycles stall stalls
    threshold thresholds site lot boundary boundaries setback façades cladding membrane""".split()
)


@dataclass(frozen=True)
class Word:
    """One reader-visible word of a clause: its text, char span and category."""

    index: int
    text: str
    start: int
    end: int
    category: str


def _raw_spans(text: str) -> list[tuple[str, int, int, str]]:
    """Return (text, start, end, kind) for every word-like match, kind in ident/num/word/sym."""
    spans = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup.rstrip("0123456789")
        spans.append((match.group(), match.start(), match.end(), kind))
    return spans


def _leading_identifier_count(spans: list[tuple[str, int, int, str]], text: str) -> int:
    """How many leading spans form the clause's rule identifier (agency code + number).

    A clause starts like ``SCDF 2.3.12(b) - Title:`` or ``NZBC D1/AS1 1.3.2``; the agency
    acronym belongs to the identifier when an identifier follows it directly.
    """
    count = 0
    if _is_leading_clause_number(spans):
        count = 1
    for surface, _, _, kind in spans[count:4]:
        if kind == "ident" or (kind == "num" and "." in surface and count > 0):
            count += 1
        elif kind == "word" and surface.isupper() and len(surface) >= 2:
            count += 1
        else:
            break
    idents = sum(1 for s in spans[:count] if s[3] in ("ident", "num"))
    return count if idents else 0


_CLAUSE_NUMBER = re.compile(r"^\d+(?:\.\d+)+$")


def _is_leading_clause_number(spans: list[tuple[str, int, int, str]]) -> bool:
    """``1.4 Calculating occupant loads``: a dotted number opening the clause, not followed by a unit."""
    if len(spans) < 2 or spans[0][3] != "num" or not _CLAUSE_NUMBER.match(spans[0][0]):
        return False
    following = spans[1]
    return following[3] == "word" and following[0].lower() not in UNITS


# Words after which a number is a cross-reference (``Table 3.2``, ``Figures 3 and 4``), not a value.
REFERENCE_WORDS = frozenset(
    """table tables figure figures fig paragraph paragraphs para clause clauses section sections
    part parts appendix appendices note notes item items step steps chapter schedule""".split()
)
_REFERENCE_LINKS = frozenset({"and", "or", "to", "&"})


def _reference_numbers(spans: list[tuple[str, int, int, str]], lowered: list[str]) -> set[int]:
    """Reference words with the numbers they name, chained through and/or/to (``3 and 4``)."""
    marked: set[int] = set()
    for i, (_, _, _, kind) in enumerate(spans):
        if kind not in ("num", "ident") or i == 0:
            continue
        if lowered[i - 1] in REFERENCE_WORDS:
            marked.update((i - 1, i))
        elif kind == "num" and i >= 2 and lowered[i - 1] in _REFERENCE_LINKS and (i - 2) in marked:
            marked.add(i)
    return marked


def _mark_phrases(lowered: list[str], phrases: tuple[tuple[str, ...], ...]) -> set[int]:
    """Indices of words that belong to any of the given phrases (longest first)."""
    marked: set[int] = set()
    ordered = sorted(phrases, key=len, reverse=True)
    for i in range(len(lowered)):
        for phrase in ordered:
            if tuple(lowered[i : i + len(phrase)]) == phrase:
                marked.update(range(i, i + len(phrase)))
                break
    return marked


def split_words(text: str) -> list[Word]:
    """Split a clause into categorised words with character spans into ``text``."""
    spans = _raw_spans(text)
    lowered = [s[0].lower().strip("'’") for s in spans]
    n_leading = _leading_identifier_count(spans, text)
    deontic = _mark_phrases(lowered, DEONTIC_PHRASES)
    comparison = _mark_phrases(lowered, COMPARISON_PHRASES)
    references = _reference_numbers(spans, lowered)
    words = []
    for i, (surface, start, end, kind) in enumerate(spans):
        category = (
            RULE_IDENTIFIER
            if i in references
            else _category(i, kind, lowered[i], n_leading, deontic, comparison, lowered)
        )
        words.append(Word(i, surface, start, end, category))
    return words


def _category(
    i: int,
    kind: str,
    lowered: str,
    n_leading: int,
    deontic: set[int],
    comparison: set[int],
    all_lowered: list[str],
) -> str:
    """Category of word ``i`` from its kind, position and the phrase marks."""
    if i < n_leading or kind == "ident" or _is_standard_reference(i, kind, all_lowered):
        return RULE_IDENTIFIER
    if kind in ("num", "sym") or i in comparison:
        return NUMERICAL_CONSTRAINT
    if lowered in UNITS and i > 0 and _follows_number(i, all_lowered):
        return NUMERICAL_CONSTRAINT
    if i in deontic:
        return DEONTIC
    if lowered in DOMAIN_ENTITIES or lowered.rstrip("s") in DOMAIN_ENTITIES:
        return DOMAIN_ENTITY
    return OTHER


_ACRONYMS_BEFORE_NUMBERS = frozenset(
    {"as", "bs", "en", "iso", "nzs", "nfpa", "astm", "din", "ss", "cp", "frl", "as/nzs"}
)


def _is_standard_reference(i: int, kind: str, lowered: list[str]) -> bool:
    """``AS 1670.1`` or ``NFPA 13``: a standard's code and number are an identifier, not a value."""
    if kind == "word":
        return lowered[i] in _ACRONYMS_BEFORE_NUMBERS and i + 1 < len(lowered) and lowered[i + 1][:1].isdigit()
    return kind == "num" and i > 0 and lowered[i - 1] in _ACRONYMS_BEFORE_NUMBERS and "%" not in lowered[i]


_NUMBER_LIKE = re.compile(r"^[\d.,: ]+%?$")


def _follows_number(i: int, lowered: list[str]) -> bool:
    """A unit counts as a constraint only right after a number (``2.0 m``, ``1 200 mm``)."""
    return bool(_NUMBER_LIKE.match(lowered[i - 1])) or (
        i >= 2 and lowered[i - 1] in UNITS and bool(_NUMBER_LIKE.match(lowered[i - 2]))
    )


def category_counts(words: list[Word]) -> dict[str, int]:
    """Number of words in each category (all categories present, zeros included)."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for word in words:
        counts[word.category] += 1
    return counts

"""The LRML F1 score of Fuchs et al.: term-level precision and recall of a generated LRML rule.

Published definition (S. Fuchs, J. Dimyadi, M. Witbrock, R. Amor, University of Auckland; PhD
thesis supplementary material, repository ``stefan-1992/phd-thesis-supplementary-material``,
``lrml_score.py``; arXiv 2407.21060). This module is an independent implementation of that
definition, written for compact functional LRML such as
``if(and(has(space,naturalVentilation),...)),then(obligation(...))``:

1. **Parse** the expression into a term tree: every call ``name(...)`` is a term whose
   *relation* is ``name``; bare atoms inside a call become the term's own *words*. A term's
   words are its own words followed by those of all its sub-terms.
2. **Words**: an atom is split into lower-case words at camelCase boundaries, underscores,
   spaces and dots between names (``space.floorArea`` -> ``space``, ``floor``, ``area``);
   numbers stay whole (``0.05``, ``1.2.2``) and a number with its unit is one word
   (``200 mm`` -> ``200 mm``, ``0.2 kN`` -> ``0.2 kn``). Quoted atoms are split the same way.
3. **Flatten** the tree in pre-order into elements ``(relation, words)``; every leaf term
   (one without sub-terms) is added once more as an *entity* (empty relation, same words).
   Empty entities of the prediction are dropped (the published ``filter_empty=True``).
4. **Match** (one direction): for each element of the left list, in order, the candidates are
   the not-yet-used elements of the right list with the same relation; the candidate sharing
   most words (multiset overlap, first one on ties) is used when it shares at least one word and
   scores ``overlap / len(words)``, times ``entity_weight`` for entities. The sum is divided by
   ``len(left) + (entity_weight - 1) * entities(left)``; an empty left list scores 0.
   Precision is matching the prediction against the reference, recall the reverse.
5. **Corpus**: precision and recall are averaged over clauses and F1 = 2PR / (P + R) is
   computed from the two averages (0 when either is 0), reported in percent as published.

A leading clue such as ``"obligation: if(...)"`` (text before a ``:`` in the first 30
characters) is ignored, as published. Malformed text never raises: unclosed terms are closed at
the end, a ``then(`` inside an unclosed ``if(`` closes the open terms first, stray ``)`` are
ignored, an unterminated quote runs to the end, and atoms outside any call belong to no term
(so plain prose scores 0).

Deliberate differences from the published script (which read a space-separated, lower-cased
tokenisation of the thesis's verbose LRML): commas separate atoms here (the thesis's tokeniser
put a space after every comma, with the same effect), an atom next to a call in the same
argument list is a word of the enclosing term rather than part of the next relation's name,
quotes are stripped, a text without ``:`` is not shortened, and a number keeps its unit as
one word. The published numbers were also computed after the thesis's reverse LRML
transformations, so scores here are comparable in kind, not digit for digit.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

ENTITY_WEIGHT = 2.0  # the published setting (entity_weight=2)
CLUE_WINDOW = 30  # a ':' within the first 30 characters marks a leading clue

# Units that stay attached to a preceding number (matched case-insensitively, longest first).
_UNITS = sorted(
    """mm cm m km m2 m² m3 m³ mm2 mm² ha kpa pa mpa kn n kg kg/m2 kg/m² kw w w/m2 w/m² lux lx db
    l l/s l/min m/s m³/s m3/s deg degc °c ° % percent s min h hr hrs mj kj kwh""".split(),
    key=len,
    reverse=True,
)
_NUMBER = r"\d+(?:\.\d+)*"
_NUMBER_UNIT_RE = re.compile(
    rf"(?<![\w.])({_NUMBER})\s*({'|'.join(re.escape(u) for u in _UNITS)})(?-i:(?![a-z0-9²³/]))",
    re.IGNORECASE,
)
_CAMEL_RE = re.compile(r"(?<=[a-z0-9%])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_PIECE_RE = re.compile(rf"{_NUMBER}|[^\s_]+")


@dataclass
class Term:
    """One call of the expression: its relation keyword, own words and sub-terms."""

    relation: str
    words: list[str] = field(default_factory=list)
    children: list[Term] = field(default_factory=list)

    def all_words(self) -> list[str]:
        """Own words followed by every descendant's words (pre-order)."""
        collected = list(self.words)
        for child in self.children:
            collected.extend(child.all_words())
        return collected


@dataclass(frozen=True)
class Element:
    """A flattened term or entity: what the matching compares."""

    relation: str
    words: tuple[str, ...]
    is_entity: bool = False


# --------------------------------------------------------------------------- words


def _split_name(piece: str) -> list[str]:
    """camelCase and dotted name pieces; dots between digits (numbers, clause numbers) stay."""
    words = []
    for part in re.split(r"\.(?!\d)|(?<!\d)\.", piece):
        for word in _CAMEL_RE.split(part):
            word = word.strip(".,;'\"")
            if word:
                words.append(word.lower())
    return words


def atom_words(atom: str) -> list[str]:
    """Lower-case words of one atom (identifier, number, unit quantity or quoted text)."""
    text = atom.strip().strip("'\"")
    words: list[str] = []
    position = 0
    for match in _NUMBER_UNIT_RE.finditer(text):
        words.extend(_plain_words(text[position : match.start()]))
        words.append(f"{match.group(1)} {match.group(2).lower()}")
        position = match.end()
    words.extend(_plain_words(text[position:]))
    return words


def _plain_words(text: str) -> list[str]:
    words = []
    for piece in _PIECE_RE.findall(text.replace("'", " ").replace('"', " ")):
        words.extend([piece] if re.fullmatch(_NUMBER, piece) else _split_name(piece))
    return words


# --------------------------------------------------------------------------- parse and flatten


def strip_clue(text: str) -> str:
    """Drop a leading clue (``"clue: rule"``) when a ':' occurs in the first 30 characters."""
    colon = text.find(":")
    return text[colon + 1 :].lstrip() if 0 <= colon < CLUE_WINDOW else text


def parse_terms(text: str) -> list[Term]:
    """Top-level terms of an LRML text; tolerant of any malformed input (never raises)."""
    root = Term("")
    stack = [root]
    pending: list[str] = []
    quote: str | None = None

    def flush_atom() -> None:
        atom = "".join(pending).strip()
        pending.clear()
        if atom and len(stack) > 1:  # atoms outside every call belong to no term
            stack[-1].words.extend(atom_words(atom))

    for char in strip_clue(text):
        if quote:
            pending.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            pending.append(char)
        elif char == "(":
            relation = "".join(pending).strip()
            pending.clear()
            if relation.lower() == "then" and len(stack) > 1:
                del stack[1:]  # an unclosed if(...): close it before then(...)
            term = Term(relation)
            stack[-1].children.append(term)
            stack.append(term)
        elif char == ")":
            flush_atom()
            if len(stack) > 1:
                stack.pop()
        elif char == ",":
            flush_atom()
        else:
            pending.append(char)
    flush_atom()
    return root.children


def flatten_terms(terms: Sequence[Term]) -> list[Element]:
    """Pre-order (relation, words) elements, then every leaf term again as an entity."""
    elements: list[Element] = []
    leaves: list[Element] = []

    def visit(term: Term) -> None:
        words = tuple(term.all_words())
        elements.append(Element(term.relation, words))
        if not term.children:
            leaves.append(Element("", words, is_entity=True))
        for child in term.children:
            visit(child)

    for term in terms:
        visit(term)
    return elements + leaves


def lrml_elements(text: str, filter_empty: bool = False) -> list[Element]:
    """Flattened elements of an LRML text; ``filter_empty`` drops entities without words."""
    elements = flatten_terms(parse_terms(text or ""))
    if filter_empty:
        elements = [e for e in elements if e.relation.strip() or e.words]
    return elements


# --------------------------------------------------------------------------- scores


def _overlap(left: Sequence[str], right: Sequence[str]) -> int:
    return sum((Counter(left) & Counter(right)).values())


def match_score(left: Sequence[Element], right: Sequence[Element], entity_weight: float = ENTITY_WEIGHT) -> float:
    """Share of ``left`` found in ``right`` (0..1): precision when left is the prediction."""
    remaining = list(right)
    score = 0.0
    for element in left:
        best, best_overlap = None, 0
        for index, candidate in enumerate(remaining):
            if candidate.relation != element.relation:
                continue
            overlap = _overlap(element.words, candidate.words)
            if overlap > best_overlap:
                best, best_overlap = index, overlap
        if best is not None:
            weight = entity_weight if element.is_entity else 1.0
            score += weight * best_overlap / len(element.words)
            del remaining[best]
    total = len(left) + (entity_weight - 1) * sum(e.is_entity for e in left)
    return score / total if total > 0 else 0.0


def lrml_pair_scores(prediction: str, reference: str, entity_weight: float = ENTITY_WEIGHT) -> tuple[float, float]:
    """(precision, recall) of one generated rule against its reference, each 0..1."""
    predicted = lrml_elements(prediction, filter_empty=True)
    truth = lrml_elements(reference)
    return match_score(predicted, truth, entity_weight), match_score(truth, predicted, entity_weight)


def f1_from(precision: float, recall: float) -> float:
    """Harmonic mean; 0 when either side is 0 (or not a number)."""
    if not precision > 0 or not recall > 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def lrml_corpus_scores(
    predictions: Sequence[str], references: Sequence[str], entity_weight: float = ENTITY_WEIGHT
) -> dict[str, float]:
    """``lrml_f1``, ``lrml_precision``, ``lrml_recall`` in percent, F1 from the averaged P and R."""
    if len(predictions) != len(references):
        raise ValueError("predictions and references differ in length")
    if not references:
        raise ValueError("no pairs to score")
    pairs = [lrml_pair_scores(p, r, entity_weight) for p, r in zip(predictions, references)]
    precision = sum(p for p, _ in pairs) / len(pairs)
    recall = sum(r for _, r in pairs) / len(pairs)
    return {"lrml_f1": 100 * f1_from(precision, recall), "lrml_precision": 100 * precision, "lrml_recall": 100 * recall}

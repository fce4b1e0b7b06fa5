"""Attribution features (GUIDE 5.1) and the perturbation operators (GUIDE 5.3).

A clause is cut into a template: fixed text pieces interleaved with one *feature* per word.
A feature is the whitespace that directly precedes a word plus the word itself, so that
deleting it removes the word together with its leading whitespace and leaves no double
spaces. Punctuation is not a word (``rulelens.words``), so it stays in the fixed text and is
never perturbed; neither is the text after the last word (final punctuation). The prompt
template's special tokens live outside the clause and are never touched either.

Pure Python: the engine, the reference implementation and the captum adapter all perturb
through these functions, so all three see byte-identical perturbed clauses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rulelens.words import Word, split_words

DELETE = "delete"
MASK = "mask"
OPERATORS = (DELETE, MASK)


@dataclass(frozen=True)
class Feature:
    """One perturbable unit: ``lead`` whitespace + the word, at ``clause[start:end]``."""

    word: Word
    lead: str
    start: int
    end: int

    @property
    def text(self) -> str:
        return self.lead + self.word.text


@dataclass(frozen=True)
class ClauseTemplate:
    """A clause as ``fixed[0] + f[0] + fixed[1] + ... + f[n-1] + fixed[n]``."""

    clause: str
    fixed: tuple[str, ...]
    features: tuple[Feature, ...]

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(f.word for f in self.features)

    def render(self, values: list[str] | tuple[str, ...] | None = None) -> str:
        """The clause with each feature replaced by ``values[i]`` (original text when None)."""
        values = [f.text for f in self.features] if values is None else list(values)
        if len(values) != len(self.features):
            raise ValueError(f"expected {len(self.features)} feature values, got {len(values)}")
        pieces = [self.fixed[0]]
        for value, fixed in zip(values, self.fixed[1:]):
            pieces += [value, fixed]
        return "".join(pieces)


def _leading_whitespace(separator: str) -> str:
    """The run of whitespace at the end of a separator (what a deletion takes with the word)."""
    stripped = separator.rstrip()
    return separator[len(stripped):]


def clause_template(clause: str, words: list[Word] | None = None) -> ClauseTemplate:
    """Cut ``clause`` into fixed text and one feature per word of :func:`split_words`."""
    words = split_words(clause) if words is None else words
    fixed, features, cursor = [], [], 0
    for word in words:
        separator = clause[cursor:word.start]
        lead = _leading_whitespace(separator)
        fixed.append(separator[: len(separator) - len(lead)])
        features.append(Feature(word, lead, word.start - len(lead), word.end))
        cursor = word.end
    fixed.append(clause[cursor:])
    template = ClauseTemplate(clause, tuple(fixed), tuple(features))
    assert template.render() == clause, "template must reproduce the clause exactly"
    return template


def mask_string(tokenizer: Any, mask_token: str | None = None) -> str:
    """The replacement text of the mask operator: explicit, else mask, unk or pad token."""
    if mask_token is not None:
        return mask_token
    for name in ("mask_token", "unk_token", "pad_token"):
        token = getattr(tokenizer, name, None)
        if token:
            return str(token)
    raise ValueError("tokenizer has no mask, unk or pad token; pass mask_token explicitly")


def baseline_values(template: ClauseTemplate, operator: str, mask_text: str = "") -> list[str]:
    """What each feature becomes when perturbed: nothing (delete) or lead + mask (mask)."""
    if operator == DELETE:
        return ["" for _ in template.features]
    if operator == MASK:
        return [f.lead + mask_text for f in template.features]
    raise ValueError(f"unknown operator {operator!r}; expected one of {OPERATORS}")


def perturbed_clauses(template: ClauseTemplate, operator: str = DELETE, mask_text: str = "") -> list[str]:
    """One clause per feature, with only that feature replaced by its baseline."""
    originals = [f.text for f in template.features]
    baselines = baseline_values(template, operator, mask_text)
    variants = []
    for i, baseline in enumerate(baselines):
        values = list(originals)
        values[i] = baseline
        variants.append(template.render(values))
    return variants

"""Perturbing clause words: attribution features (docs/method.md) and operators (docs/attribution.md).

A clause is cut into a template: fixed text pieces (punctuation and whitespace) interleaved
with one *feature* per word. Punctuation is not a word (:mod:`rulelens.words.split`), so it stays in
the fixed text and is never perturbed; neither is the text after the last word (final
punctuation). The prompt template's special tokens live outside the clause and are never
touched either.

Deletion is written as a person would write it: a deleted word takes the whitespace *before*
it; when it has none (the first word of the clause, or a word right after punctuation such as
``(``), it takes the whitespace *after* it instead. So deleting ``C2.4.3`` from
``"C2.4.3 Minimum headroom"`` gives ``"Minimum headroom"`` and deleting ``see`` from
``"(see clause 4)"`` gives ``"(clause 4)"``: never a leading, trailing or double space. Several
deleted words in a row (only whitespace between them) are one gap and follow the same rule,
so every subset of deletions (deletion curves, LDS masks) reads naturally too. The mask
operator replaces only the word's text and keeps the whitespace around the placeholder.

In :meth:`ClauseTemplate.render` a feature value of ``""`` means *deleted*; any other value
replaces the word text (a word is never empty). That one rendering function is used by the
engine, the reference, the captum adapter and the deletion curves / LDS, so all of them see
byte-identical perturbed clauses.

Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rulelens.words.split import Word, split_words

DELETE = "delete"
MASK = "mask"
OPERATORS = (DELETE, MASK)
DEFAULT_MASK_TEXT = "___"


@dataclass(frozen=True)
class Feature:
    """One perturbable word at ``clause[word.start:word.end]``.

    ``lead`` / ``trail`` are the whitespace a deletion of this word alone takes with it (at
    most one of them is non-empty); ``clause[start:end] == lead + word + trail``.
    """

    word: Word
    lead: str
    start: int
    end: int
    trail: str = ""

    @property
    def text(self) -> str:
        """The feature's value in :meth:`ClauseTemplate.render`: the word itself."""
        return self.word.text

    @property
    def removed(self) -> str:
        """What deleting this word alone removes from the clause."""
        return self.lead + self.word.text + self.trail


def _trailing_ws(text: str) -> str:
    return text[len(text.rstrip()) :]


def _leading_ws(text: str) -> str:
    return text[: len(text) - len(text.lstrip())]


@dataclass(frozen=True)
class ClauseTemplate:
    """A clause as ``fixed[0] + w[0] + fixed[1] + ... + w[n-1] + fixed[n]`` (w: word texts)."""

    clause: str
    fixed: tuple[str, ...]
    features: tuple[Feature, ...]

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(f.word for f in self.features)

    def render(self, values: list[str] | tuple[str, ...] | None = None) -> str:
        """The clause with word i replaced by ``values[i]``; ``""`` deletes the word (see module doc)."""
        values = [f.text for f in self.features] if values is None else list(values)
        n = len(self.features)
        if len(values) != n:
            raise ValueError(f"expected {n} feature values, got {len(values)}")
        fixed = list(self.fixed)
        i = 0
        while i < n:
            if values[i] != "":
                i += 1
                continue
            j = i  # a gap: deleted words with only whitespace between them
            while j + 1 < n and values[j + 1] == "" and not fixed[j + 1].strip():
                j += 1
            for k in range(i + 1, j + 1):
                fixed[k] = ""
            before, after = fixed[i], fixed[j + 1]
            if _trailing_ws(before):
                fixed[i] = before.rstrip()
            elif _leading_ws(after):
                fixed[j + 1] = after.lstrip()
            i = j + 1
        pieces = [fixed[0]]
        for value, text in zip(values, fixed[1:]):
            pieces += [value, text]
        return "".join(pieces)


def clause_template(clause: str, words: list[Word] | None = None) -> ClauseTemplate:
    """Cut ``clause`` into fixed text and one feature per word of :func:`split_words`."""
    words = split_words(clause) if words is None else words
    fixed, cursor = [], 0
    for word in words:
        fixed.append(clause[cursor : word.start])
        cursor = word.end
    fixed.append(clause[cursor:])
    features = []
    for i, word in enumerate(words):
        lead = _trailing_ws(fixed[i])
        trail = "" if lead else _leading_ws(fixed[i + 1])
        features.append(Feature(word, lead, word.start - len(lead), word.end + len(trail), trail))
    template = ClauseTemplate(clause, tuple(fixed), tuple(features))
    assert template.render() == clause, "template must reproduce the clause exactly"
    return template


def mask_string(tokenizer: Any, mask_text: str | None = None) -> str:
    """The placeholder of the mask operator: ``mask_text`` (default ``"___"``), checked.

    Never a tokenizer token: a mask/unk/pad token is often the end-of-text token (SmolLM2's
    unk is ``<|endoftext|>``), which would tell the model that the text has ended. A string
    that contains a special token, or whose ids contain a special id, is rejected.
    """
    text = DEFAULT_MASK_TEXT if mask_text is None else str(mask_text)
    if not text.strip():
        raise ValueError(f"mask text {text!r} is empty or whitespace; use operator='delete' to remove words")
    from rulelens.prompts import special_tokens_in

    found = special_tokens_in(tokenizer, text)
    if found:
        raise ValueError(
            f"mask text {text!r} contains the tokenizer special token {found[0]!r}; "
            "use a plain-text placeholder such as '___'"
        )
    special_ids = set(getattr(tokenizer, "all_special_ids", None) or [])
    if special_ids and callable(tokenizer):
        for spelled in (text, " " + text):
            ids = list(tokenizer(spelled, add_special_tokens=False)["input_ids"])
            bad = [i for i in ids if i in special_ids]
            if bad:
                token = (
                    tokenizer.convert_ids_to_tokens(bad[0]) if hasattr(tokenizer, "convert_ids_to_tokens") else bad[0]
                )
                raise ValueError(
                    f"mask text {text!r} tokenizes to the special token {token!r} (id {bad[0]}); "
                    "use a plain-text placeholder such as '___'"
                )
    return text


def baseline_values(template: ClauseTemplate, operator: str, mask_text: str = "") -> list[str]:
    """What each feature becomes when perturbed: ``""`` (deleted) or the mask placeholder."""
    if operator == DELETE:
        return ["" for _ in template.features]
    if operator == MASK:
        if not mask_text:
            raise ValueError("the mask operator needs a non-empty mask text (see mask_string)")
        return [mask_text for _ in template.features]
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

"""chrF and ROUGE-L cross-checked against the reference implementations papers report with.

* chrF: sacreBLEU's ``CHRF`` at sentence level with its defaults (char_order=6, word_order=0,
  beta=2, eps_smoothing=False: effective-order averaging over the orders both sides have
  n-grams for, whitespace=False: whitespace removed before extracting n-grams). sacreBLEU reports
  0..100, ours 0..1.
* ROUGE-L: Google's ``rouge-score`` (``RougeScorer(["rougeL"])``, its ``fmeasure``: beta = 1) with
  a tokenizer that returns our ``code_tokens``, so only the LCS F-measure is compared.

The pairs are seeded random rule-like strings (identifiers, decimals, operators, parentheses,
commas, repeated tokens, empty and one-character strings, identical and unrelated pairs) and
real-looking rules with their near misses.
"""

from __future__ import annotations

import numpy as np
import pytest

from rulelens.evaluation.metrics import chrf, code_tokens, rouge_l

sacrebleu_chrf = pytest.importorskip("sacrebleu.metrics").CHRF
rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

TOLERANCE = 1e-9

RULES = [
    'rule("BCA F4.4", room, when=room.is_habitable, require=window.openable_area_pct >= 5)',
    'rule("BCA F4.4", habitable_room, require=window.openable_area_pct >= 5)',
    'rule("IBC 1011.5.2", stair, require=between(stair.riser_height_mm, 100, 178))',
    'rule("IBC 1011.5.2", stair, require=between(stair.riser_height_mm, 102, 178))',
    'rule("NCC D2.13", stair, require=stair.going_mm >= 250 and stair.riser_mm <= 190)',
    'rule("BCA F3.1", room, require=room.ceiling_height_m >= 2.4)',
    'rule("BCA F3.1", room, require=room.height >= 2.4)',
    'rule("ADB 2.14", door, when=door.is_exit, require=door.clear_width_mm >= 850)',
    'rule("ADM 1.3", ramp, require=ramp.gradient <= 1 / 12)',
    "if(and(has(room,window),is(room,habitable))),then(obligation(greater_equal(area(window),5)))",
    "if(has(stair,riser)),then(obligation(between(height(riser),100,178)))",
    "room.height_m >= 2.4 and room.is_habitable",
    "room.height >= 2",
]

IDENTIFIERS = ["room", "stair", "window", "door", "riser_height_mm", "area", "x", "is_habitable", "going_mm", "a"]
OPERATORS = [">=", "<=", "==", "!=", "<", ">", "+", "-", "*", "/", "=", ".", ":"]
PUNCTUATION = ["(", ")", ",", '"', "[", "]"]
ALPHABET = list("abcxyz019_.,()= ")


def _token(rng: np.random.Generator) -> str:
    kind = rng.integers(6)
    if kind == 0:
        return str(rng.choice(IDENTIFIERS))
    if kind == 1:
        return f"{rng.integers(0, 2000)}.{rng.integers(0, 100)}" if rng.random() < 0.5 else str(rng.integers(0, 500))
    if kind == 2:
        return str(rng.choice(OPERATORS))
    if kind == 3:
        return str(rng.choice(PUNCTUATION))
    if kind == 4:
        return "".join(rng.choice(ALPHABET[:9], size=rng.integers(1, 8)))
    return " "


def _text(rng: np.random.Generator, max_tokens: int = 30) -> str:
    tokens = [_token(rng) for _ in range(rng.integers(1, max_tokens))]
    if rng.random() < 0.3:  # repeated tokens
        tokens += tokens[: rng.integers(1, len(tokens) + 1)]
    separator = "" if rng.random() < 0.3 else " "
    return separator.join(tokens)


def _mutate(rng: np.random.Generator, text: str) -> str:
    chars = list(text)
    for _ in range(rng.integers(1, 6)):
        op = rng.integers(3)
        position = int(rng.integers(0, len(chars) + 1))
        if op == 0 or not chars:
            chars.insert(position, str(rng.choice(ALPHABET)))
        elif op == 1:
            del chars[min(position, len(chars) - 1)]
        else:
            chars[min(position, len(chars) - 1)] = str(rng.choice(ALPHABET))
    return "".join(chars)


def _pairs() -> list[tuple[str, str]]:
    rng = np.random.default_rng(20240611)
    tiny = ["", " ", "  \t", "a", "b", "(", "1", ".", "ab", "a b", "abcdef", "abcdefg"]
    pairs = [(g, r) for g in tiny for r in tiny]  # empty, whitespace-only, one character, short strings
    pairs += [(g, r) for g in RULES for r in RULES]  # real-looking rules: identical, near miss, unrelated
    for _ in range(300):
        kind = rng.integers(5)
        reference = _text(rng)
        if kind == 0:
            generated = reference  # identical
        elif kind == 1:
            generated = _text(rng)  # unrelated
        elif kind == 2:
            generated = _mutate(rng, reference)  # near miss
        elif kind == 3:
            generated = _mutate(rng, str(rng.choice(RULES)))
            reference = str(rng.choice(RULES))
        else:
            generated = "".join(rng.choice(ALPHABET, size=rng.integers(0, 12)))  # short, possibly empty
            reference = "".join(rng.choice(ALPHABET, size=rng.integers(0, 12)))
        pairs.append((generated, reference))
    return pairs


PAIRS = _pairs()


class _CodeTokenizer:
    """rouge-score tokenizer interface: ``tokenize(text) -> list[str]``, here our code tokens."""

    def tokenize(self, text: str) -> list[str]:
        return code_tokens(text)


def test_pairs_cover_the_edge_cases():
    assert len(PAIRS) > 400
    assert any(not g.split() and not r.split() for g, r in PAIRS)
    assert any(not g.split() and r.split() for g, r in PAIRS)
    assert any(g == r and len(g) > 20 for g, r in PAIRS)
    assert any(0 < len("".join(g.split())) < 6 for g, _ in PAIRS)  # fewer characters than the n-gram order


def test_chrf_equals_sacrebleu_sentence_chrf():
    metric = sacrebleu_chrf(char_order=6, word_order=0, beta=2, eps_smoothing=False, whitespace=False)
    differences = [
        (abs(chrf(g, r, order=6, beta=2.0) - metric.sentence_score(g, [r]).score / 100), g, r) for g, r in PAIRS
    ]
    worst = max(differences)
    assert worst[0] <= TOLERANCE, f"chrF differs from sacreBLEU by {worst[0]} on {worst[1:]!r}"


def test_rouge_l_equals_rouge_score_fmeasure():
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_CodeTokenizer())
    # rouge-score's score(target, prediction): the reference first
    differences = [(abs(rouge_l(g, r) - scorer.score(r, g)["rougeL"].fmeasure), g, r) for g, r in PAIRS]
    worst = max(differences)
    assert worst[0] <= TOLERANCE, f"ROUGE-L differs from rouge-score by {worst[0]} on {worst[1:]!r}"


def test_rouge_l_precision_is_over_the_generated_tokens():
    # beta = 1 makes F symmetric; the asymmetric case pins which side is the prediction.
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_CodeTokenizer())
    score = scorer.score("a x b y", "a b")["rougeL"]
    assert (score.precision, score.recall) == (1.0, 0.5)
    assert rouge_l("a b", "a x b y") == pytest.approx(score.fmeasure, abs=TOLERANCE)

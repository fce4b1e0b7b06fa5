"""The LRML grammar (data/grammars/lrml.gbnf) and the validator is_valid_lrml agree: every valid text is a
sentence of the grammar, so constrained decoding's masks never exclude a valid rule, and the grammar refuses
what the validator refuses (beyond its one documented excess: non-ASCII characters in a call name).

Every check tokenizes the text with SmolLM2's real tokenizer and feeds the tokens to llguidance's matcher:
``consume_tokens`` (each token must be allowed where it comes, then the end must be accepting) and, for
samples, the bitmask route of constrained decoding (``accepts_tokens``).
"""

from __future__ import annotations

import random

import pandas as pd
import pytest

from rulelens.data.rule_grammar import accepts_tokens, grammar_tokenizer, rule_matcher
from rulelens.evaluation.lrml import is_valid_lrml
from tests.project_copy import NZBC_CSV

NAMES = ["has", "and", "or", "not", "obligation", "greaterThanEqual", "nzbc.check", "std:AS-1170", "_x", "f2", "größe"]
ATOMS = [
    "space",
    "space.occupantLoad",
    "0",
    "0.05",
    "2.4m",
    "5%",
    "-2.5",
    "1:12",
    "x0",
    "nzbc_b1as1_t14",
    "m²",
    "§3",
    "B1/AS1",
    "<=",
    "a\\b",
    "1e-3",
    "é",
]
WORDS = ["to", "mm", "gauge", "350", "and"]
SPACE = ["", "", "", "", " ", "  ", "\t", "\n", " \n\t", "\r\n", "\u3000", "\xa0"]  # between tokens
GAP = [" ", " ", "\t", "\n ", "\u2003", "\xa0 "]  # between the atoms of a term
SEPARATORS = [",", " ", ", ", " ,\n", "", "\t,\t", "\n"]  # between if, then and else
UNICODE_SPACES = "\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"


class Grammar:
    """The LRML grammar's matcher, fed the real tokens of a text."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.start = rule_matcher(grammar_tokenizer(tokenizer), "lrml")  # copied for each text (4 ms to build)

    def spells(self, text: str) -> bool:
        """Whether the tokens of ``text`` are the text (SmolLM2 has no token for a few control bytes)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self.tokenizer.decode(ids, clean_up_tokenization_spaces=False) == text

    def tokens(self, text: str) -> list[int]:
        assert self.spells(text), repr(text)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def matcher_after(self, text: str):
        matcher = self.start.deep_copy()
        matcher.consume_tokens(self.tokens(text))
        return matcher

    def accepts(self, text: str) -> bool:
        """Every token is allowed where it comes (else the matcher errs) and the end is accepting."""
        matcher = self.matcher_after(text)
        return not matcher.is_error() and matcher.is_accepting()

    def masks_allow(self, text: str) -> bool:
        """Constrained decoding's route: each token is in the bitmask at its step, and the end is accepting."""
        return accepts_tokens(self.start.deep_copy(), self.tokens(text))


@pytest.fixture(scope="module")
def grammar(smol_tokenizer):
    return Grammar(smol_tokenizer)


@pytest.fixture(scope="module")
def nzbc_rules():
    if not NZBC_CSV.is_file():
        pytest.skip(f"the NZBC-LRML dataset is not at {NZBC_CSV}")
    return pd.read_csv(NZBC_CSV)["lrml"].tolist()


# ---- a generator of valid LRML


def random_string(rng: random.Random) -> str:
    quote = rng.choice("\"'")
    other = "'" if quote == '"' else '"'
    pieces = ["a", ",", "(", ")", "x y", "\\" + quote, "\\\\", "\n", "\\n", "\\\n", other, "é", " "]
    return quote + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4))) + quote


def random_term(rng: random.Random) -> str:
    words = [rng.choice(ATOMS)] + [rng.choice(WORDS + ATOMS) for _ in range(rng.choice([0, 0, 0, 1, 2]))]
    return "".join(word + rng.choice(GAP) for word in words[:-1]) + words[-1]


def random_call(rng: random.Random, depth: int = 0, name: str | None = None) -> str:
    def space() -> str:
        return rng.choice(SPACE)

    args = [random_expression(rng, depth + 1) for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4]))]
    inside = f"{space()},{space()}".join(args)
    return f"{name or rng.choice(NAMES)}{space()}({space()}{inside}{space()})"


def random_expression(rng: random.Random, depth: int) -> str:
    kind = rng.random()
    if kind < 0.15:
        return random_string(rng)
    if kind < 0.6 or depth >= 4:
        return random_term(rng)
    return random_call(rng, depth)


def random_case(rng: random.Random, word: str) -> str:
    return "".join(rng.choice([c.lower(), c.upper()]) for c in word)


def random_lrml(rng: random.Random) -> str:
    """One call of any name, or if, then [, else] in any letter case, with any separators and spacing."""
    if rng.random() < 0.3:
        top = random_call(rng, name=rng.choice(NAMES + ["if", "Then", "ELSE"]))
    else:
        keywords = ["if", "then"] + (["else"] if rng.random() < 0.4 else [])
        calls = [random_call(rng, name=random_case(rng, word)) for word in keywords]
        top = calls[0] + "".join(rng.choice(SEPARATORS) + call for call in calls[1:])
    return rng.choice(SPACE) + top + rng.choice(SPACE)


def single_edits(text: str, rng: random.Random, n: int) -> list[str]:
    """Insert, delete or replace one character, with characters from ``(),'" a1.\\t``."""
    alphabet = "(),'\" a1.\t"
    edits = []
    for _ in range(n):
        at = rng.randrange(len(text))
        kind = rng.choice(["insert", "delete", "replace"])
        if kind == "insert":
            edits.append(text[:at] + rng.choice(alphabet) + text[at:])
        elif kind == "delete":
            edits.append(text[:at] + text[at + 1 :])
        else:
            edits.append(text[:at] + rng.choice(alphabet) + text[at + 1 :])
    return edits


# ---- soundness: valid => a sentence of the grammar


@pytest.mark.slow
def test_every_nzbc_rule_is_accepted_token_by_token(grammar, nzbc_rules):
    assert len(nzbc_rules) == 663 and all(is_valid_lrml(rule) for rule in nzbc_rules)
    rejected = [rule for rule in nzbc_rules if not grammar.accepts(rule)]
    assert not rejected, rejected[:3]
    sample = random.Random(3).sample(nzbc_rules, 25)  # the bitmask route too (0.4 ms a mask)
    assert all(grammar.masks_allow(rule) for rule in sample)


def test_random_valid_lrml_is_accepted(grammar):
    rng = random.Random(11)
    texts = [random_lrml(rng) for _ in range(300)]
    invalid = [text for text in texts if not is_valid_lrml(text)]
    assert not invalid, invalid[:3]  # the generator writes valid LRML
    for form in ("\u3000", "\t", "\n", "\\'", '\\"', "größe(", "std:AS-1170", "if(", "else(", ")then(", " mm"):
        assert any(form in text or form in text.lower() for text in texts), form  # the forms the grammar must take
    rejected = [text for text in texts if not grammar.accepts(text)]
    assert not rejected, rejected[:3]
    assert all(grammar.masks_allow(text) for text in texts[:25])


def test_single_character_edits_agree(grammar, nzbc_rules):
    """Soundness on near misses, and the grammar constrains: it refuses what the validator refuses (all of
    it here: these edits are ASCII, and the grammar's one excess is non-ASCII characters in call names)."""
    rng = random.Random(5)
    sources = rng.sample(nzbc_rules, 40) + [random_lrml(rng) for _ in range(60)]
    edits = [edit for text in sources for edit in single_edits(text, rng, 6)]
    valid = [edit for edit in edits if is_valid_lrml(edit)]
    invalid = [edit for edit in edits if not is_valid_lrml(edit)]
    assert len(valid) > 100 and len(invalid) > 100  # both sides are exercised
    rejected = [edit for edit in valid if not grammar.accepts(edit)]
    assert not rejected, rejected[:3]
    accepted = [edit for edit in invalid if grammar.accepts(edit) and edit.isascii()]
    assert not accepted, accepted[:3]


def test_every_character_is_classed_as_the_validator_classes_it(grammar):
    """Whitespace, atom characters, quotes and brackets: all of ASCII, Python's Unicode spaces and a few
    others, in every position. The only excess is a non-ASCII character inside a call name."""
    characters = [chr(c) for c in range(128)] + list(UNICODE_SPACES + "é²–\u3001\u2010\U0001f600")
    characters = [character for character in characters if grammar.spells(character)]
    assert len(characters) > 130
    templates = ["f(a{}b)", "f({})", "f(x {}y)", "f{}(x)", "fa{}b(x)", "if(a){}then(b)", "{}f(x){}", "f('{}')"]
    disagree = []
    for character in characters:
        for template in templates:
            text = template.format(character, character)
            valid, accepted = is_valid_lrml(text), grammar.accepts(text)
            excess = accepted and not valid and template in ("f{}(x)", "fa{}b(x)") and not character.isascii()
            if valid != accepted and not excess:
                disagree.append((text, valid, accepted))
    assert not disagree, disagree[:5]


# ---- the grammar refuses


@pytest.mark.parametrize(
    "text",
    [
        "",
        "space.occupantLoad",  # a bare atom at top level
        "'a string'",  # a bare string at top level
        "then(a),if(b)",  # wrong top-level order
        "if(a),then(b),then(c)",  # not one call or if/then[/else]
        "if(a) else(b)",  # else without then
        "if(a),,then(b)",  # two commas between calls
        "f(x) g(y)",  # two calls that are not if/then
        "if(a) then(b) trailing",  # a bare atom after the rule
        "if(has(space,window,))",  # a trailing comma argument
        "if(has(space,,window))",  # an empty argument
        'if(equal(name,"unterminated)),then(b)',  # an unclosed string
        "f('it\\')",  # the closing quote escaped: unclosed
        "if(has(space,'window' x))",  # a string and an atom without a comma
        "if(has(space,350 mm(x)))",  # a term of several words cannot name a call
        "a b(x)",  # ...nor at top level
        "2.4(x)",  # a number cannot name a call
        "f('x'(y))",  # nor can a string
        "if((a)),then(b)",  # a bare parenthesised group
        "if(has(space,window)))",  # an extra ')'
    ],
)
def test_what_the_validator_refuses_the_grammar_refuses(grammar, text):
    assert not is_valid_lrml(text)
    assert not grammar.accepts(text)
    assert not grammar.masks_allow(text)


@pytest.mark.parametrize("text", ["if(has(space,window)", "f(g(x, 'a)b'", "if(a),then(", "f('open"])
def test_an_unfinished_rule_is_a_prefix_but_not_a_sentence(grammar, text):
    """Unbalanced brackets or an open string: every token is allowed (generation may go on), but the
    grammar does not accept the text as it ends."""
    assert not is_valid_lrml(text)
    matcher = grammar.matcher_after(text)
    assert not matcher.is_error() and not matcher.is_accepting()

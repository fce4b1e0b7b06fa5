"""The rule-prefix check: sound on every valid rule (no prefix of one is ever rejected), and it
catches the ways the fine-tuned models actually went wrong."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from rulelens.data.rule_format import ENTITIES, HELPERS, is_valid_rule
from rulelens.data.rule_prefix import lex, prefix_problem

SHIPPED_RULES = Path(__file__).resolve().parents[1] / "data" / "01_raw" / "building_code_rules.csv"


def assert_every_prefix_passes(rule: str) -> None:
    for end in range(len(rule) + 1):
        problem = prefix_problem(rule[:end])
        assert problem is None, f"{rule[:end]!r} rejected ({problem}) though {rule!r} is valid"


def test_no_prefix_of_a_shipped_rule_is_rejected():
    rules = pd.read_csv(SHIPPED_RULES)["rule"].tolist()
    assert len(rules) > 400
    for rule in rules:
        assert is_valid_rule(rule)
        assert_every_prefix_passes(rule)


def test_token_prefixes_of_shipped_rules_pass_as_decoded(smol_tokenizer):
    """What generation checks: the decoded text of every token prefix (multi-byte characters included)."""
    rules = pd.read_csv(SHIPPED_RULES)["rule"].tolist()[:60] + ['rule("A 1 – é", room, require=room.a >= 1)']
    for rule in rules:
        ids = smol_tokenizer(rule, add_special_tokens=False)["input_ids"]
        for end in range(len(ids) + 1):
            text = smol_tokenizer.decode(ids[:end], skip_special_tokens=True)
            assert prefix_problem(text) is None, (text, prefix_problem(text))


def random_expression(rng: random.Random, depth: int = 0) -> str:
    """Expressions the format accepts, including forms the models never write."""
    entity = rng.choice(sorted(ENTITIES))
    leaves = [
        f"{entity}.{rng.choice(['a', 'is_b', 'width_mm', 'x2'])}",
        entity,
        str(rng.choice([0, 1, 12, 2.4, 0.05, 1_000])),
        repr(rng.choice(["text", "a(b)", "it's", 'say "x"'])),
        rng.choice(["True", "False", "None", "..."]),
        rng.choice(sorted(HELPERS)),
    ]
    if depth >= 3 or rng.random() < 0.35:
        return rng.choice(leaves)
    a, b = random_expression(rng, depth + 1), random_expression(rng, depth + 1)
    forms = [
        f"{a} and {b}",
        f"{a} or {b}",
        f"not {a}",
        f"-{a}",
        f"{a} >= {b}",
        f"{a} != {b} < {a}",
        f"{a} * {b} / {a} - {b} + {a}",
        f"{a} not in [{b}, {a}]",
        f"{a} in ({b},)",
        f"({a})",
        "()",
        "[]",
        f"{rng.choice(sorted(HELPERS))}({a}, {b})",
        f"{rng.choice(sorted(HELPERS))}({a}, key={b},)",
        f"{rng.choice(sorted(HELPERS))}()",
        f"{a}  if_not_a_keyword" if False else f"{a}",
    ]
    return rng.choice(forms)


def random_rule(rng: random.Random) -> str:
    identifier = rng.choice(['"X.1"', "'D1/AS1 2.3(b)'", '"a" "b"', '("C 4")', "r'E\\\\5'", '"""F 6"""'])
    subject = rng.choice(sorted(ENTITIES))
    subject = f"({subject})" if rng.random() < 0.1 else subject
    keywords = [f"require={random_expression(rng)}"]
    if rng.random() < 0.6:
        keywords.insert(rng.randrange(2), f"when={random_expression(rng)}")
    spacing = rng.choice([", ", ",", " ,  "])
    trailing = "," if rng.random() < 0.1 else ""
    return f"rule({identifier}{spacing}{subject}{spacing}{spacing.join(keywords)}{trailing})"


def test_no_prefix_of_a_random_valid_rule_is_rejected():
    rng = random.Random(7)
    checked = 0
    for _ in range(800):
        rule = random_rule(rng)
        if is_valid_rule(rule):
            assert_every_prefix_passes(rule)
            checked += 1
    assert checked > 600  # the generator mostly writes valid rules, so the property is exercised


def mutations(rule: str, rng: random.Random, n: int) -> list[str]:
    """Character edits of a rule: most are invalid, the valid ones are what a model might stumble into."""
    alphabet = list("abcdefgimnoqrstuwy_. ,()[]=<>!+-*/%:'\"0123456789\t") + [
        " and ",
        " or ",
        " not ",
        " in ",
        "room",
        "when=",
        "require=",
        ", require=room.a",
        "any_of(",
        "...",
    ]
    edits = []
    for _ in range(n):
        text = rule
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text) + 1)
            kind = rng.random()
            if kind < 0.4:
                text = text[:at] + rng.choice(alphabet) + text[at:]
            elif kind < 0.7:
                text = text[:at] + text[at + rng.randint(1, 4) :]
            else:
                text = text[:at] + rng.choice(alphabet) + text[at + 1 :]
        edits.append(text)
    return edits


def test_no_prefix_of_a_valid_mutation_of_a_shipped_rule_is_rejected():
    """Edits that stay valid (a repeated keyword does not: Python refuses to compile it) keep every prefix."""
    rng = random.Random(11)
    rules = pd.read_csv(SHIPPED_RULES)["rule"].tolist()
    checked = 0
    for rule in rng.sample(rules, 150):
        for text in mutations(rule, rng, 20):
            if is_valid_rule(text):
                assert_every_prefix_passes(text)
                checked += 1
    assert checked > 300


@pytest.mark.parametrize(
    "text, why",
    [
        ("The rule is", "starts with rule("),
        ("```python", "starts with rule("),
        ('rule("X", route,', "subject 'route'"),
        ('rule("X", cooling_system', "cooling_system"),
        ('rule(room, "X"', "identifier string"),
        ('rule("X", room.width', "after the rule's subject"),
        ('rule("X", room, room.a', "only ['require', 'when']="),
        ('rule("X", room, when=room.a, when', "only ['require']="),
        ('rule("X", room, when=room.a.b', "entity.attribute"),
        ('rule("X", room, when=building.refuge.has_staff', "entity.attribute"),
        ('rule("X", room, require=room.Width', "lower_snake_case"),
        ('rule("X", room, require=room.a % 2', "'%' is not allowed"),
        ('rule("X", room, require=room.x >= 1:40', "':' is not allowed"),
        ('rule("X", room, require=room.x ** 2', "'**' is not allowed"),
        ('rule("X", room, require=car park', "'car' is not an entity"),
        ('rule("X", room, require=room.is_car park', "'park' where an operator"),
        ('rule("X", room, require=room.a >= 15 kW', "'kW' where an operator"),
        ('rule("X", room, require=room.a and water_pourer', "not the start of an entity"),
        ('rule("X", room, require=room.a and grab_rails_on_each_side', "not the start of an entity"),
        ('rule("X", room, require=room(1)', "only the vocabulary's helpers"),
        ('rule("X", room, require=room.a[0]', "subscripts"),
        ('rule("X", room, require=room.a is None', "'is' where an operator"),
        ('rule("X", room, require=room.a if room.b', "'if' where an operator"),
        ('rule("X", room, require=room.a not room', "'not in'"),
        ('rule("X", room, require=room.a = 2', "'=' is not allowed"),
        ('rule("X", room, require=+room.a', "'+' where an operand"),
        ('rule("X", room, require=(room.a]', "does not close"),
        ('rule("X", room, require=room.a # note', "cannot appear"),
        ('rule("X", room, require=f"{room}"', "cannot appear"),
        ('rule("X", room, require=room.größe', "cannot appear"),
        ('rule("X", room, when=room.a)', "closes without"),
        ('rule("X", room, require=room.a) and', "after the rule's closing"),
    ],
)
def test_prefixes_that_cannot_become_valid_are_rejected_with_the_reason(text, why):
    problem = prefix_problem(text)
    assert problem is not None and why in problem, problem


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ru",
        'rule("X", ro',
        'rule("X", room, when=room.a >= 1, re',
        'rule("X", room, require=room.a <',  # may become <=
        'rule("X", room, require=room.a !',  # may become !=
        'rule("X", room, require=room.a >= 1.',  # may become 1.5
        'rule("X", room, require=room.a i',  # may become in
        'rule("X", room, require=room.a >= 1 an',
        'rule("X", room, require=in',  # insulation
        'rule("X", room, require=between(room.a, lo',  # a helper's keyword argument
        'rule("unterminated (string',
        'rule("X", room, require="a" r',  # r"..." concatenated
    ],
)
def test_prefixes_that_may_still_become_valid_pass(text):
    assert prefix_problem(text) is None


def test_lexer_marks_what_may_still_grow():
    kinds = [(lx.kind, lx.text, lx.partial) for lx in lex('rule("a", b <')]
    assert kinds == [
        ("name", "rule", False),
        ("op", "(", False),
        ("string", '"a"', False),
        ("op", ",", False),
        ("name", "b", False),
        ("op", "<", True),
    ]
    assert lex('"open')[0].partial and lex("room")[0].partial and not lex("room ")[0].partial


@pytest.mark.parametrize(
    "text, passes",
    [
        ('rule("X", room, require=building.refuge.', False),  # '.' can only become a second attribute
        ('rule("X", room, require=room.a.', False),
        ('rule("X", room, require=room.', True),
        ('rule("X", room, require=.', True),  # may become .5 or ...
        ('rule("X", room, require=room.a >= 1 ..', False),  # '...' after an operand
        ('rule("X", room, require=room.a !', True),
        ('rule("X", room, require=!', False),
        ('rule("X", room, require=room.a *', True),
        ('rule("X", room, require=*', False),
        ('rule("X", room, require=(*', False),
        ('rule("X", room, require=between(**', True),
        ('rule("X", room.', False),  # the subject is a bare name
    ],
)
def test_an_operator_at_the_end_passes_only_if_what_it_can_grow_into_would(text, passes):
    assert (prefix_problem(text) is None) == passes, prefix_problem(text)

"""The compact-LRML validator: permissive atoms, strict structure."""

from __future__ import annotations

import pytest

from rulelens.evaluation.lrml import LRMLSyntaxError, is_valid_lrml, parse_lrml
from rulelens.evaluation.metrics import validity

VALID = [
    "if(and(has(space,naturalVentilation),greaterThan(space.occupantLoad,0))),then(obligation(provide(space,window)))",
    "if(has(building,sprinkler)) then(obligation(lessThanOrEqual(route.travelDistance,75m)))",
    'obligation(compliesWith(door,"AS 1905.1 (fire doors)"))',
    "if(x),then(permission(y)),else(prohibition(z))",
    "if(greaterThan(ramp.gradient,1:12)),then(obligation(has(ramp,landing, 5%, -2.5)))",
    "then(f())",
    "if(has(waterTank,cover)),then(obligation(greaterThanEqual(heightClearance,350 mm)))",  # a quantity
    "then(permission(asPer(x,nzbc_b1as1_t14 to nzbc_b1as1_t17)))",  # a range of references
    "if(has(space window))",  # two words, one term: the same structure as "350 mm"
]

INVALID = [
    "",  # nothing
    "if(has(space,window)",  # unbalanced: missing ')'
    "if(has(space,window)))",  # unbalanced: extra ')'
    "if(has(space,'window' x))",  # a string and an atom without a comma
    "if(has(space,350 mm(x)))",  # a term of several words cannot name a call
    "if(has(space,,window))",  # empty argument
    "if(has(space,window,))",  # trailing comma
    "if((a)),then(b)",  # bare parenthesised group
    'if(equal(name,"unterminated)),then(b)',  # open string
    "space.occupantLoad",  # a bare atom at top level
    "then(a),if(b)",  # wrong top-level order
    "if(a),then(b),then(c)",  # not one call or if/then[/else]
    "2.4(x)",  # a number cannot name a call
    "if(a) then(b) trailing",  # bare atom after the rule
]


@pytest.mark.parametrize("text", VALID)
def test_valid_lrml(text):
    assert is_valid_lrml(text), text
    assert validity(text, "lrml")


@pytest.mark.parametrize("text", INVALID)
def test_invalid_lrml(text):
    assert not is_valid_lrml(text)
    assert not validity(text, "lrml")
    with pytest.raises(LRMLSyntaxError):
        parse_lrml(text)


def test_parse_tree_shape():
    nodes = parse_lrml("if(and(a,b)),then(obligation(c))")
    assert [n.name for n in nodes] == ["if", "then"]
    assert nodes[0].args[0].name == "and" and [a.name for a in nodes[0].args[0].args] == ["a", "b"]
    assert nodes[0].args[0].args[0].args is None  # an atom


def test_unknown_format_is_an_error():
    with pytest.raises(ValueError, match="unknown rule format"):
        validity("rule()", "json")


def test_a_term_of_several_words_is_one_atom():
    nodes = parse_lrml("then(obligation(greaterThanEqual(x,350   mm)))")
    assert nodes[0].args[0].args[0].args[1].name == "350 mm"


def test_every_nzbc_reference_rule_is_valid():
    import pandas as pd

    from tests.project_copy import NZBC_CSV

    if not NZBC_CSV.is_file():
        pytest.skip("../shared/datasets/nzbc-lrml is not beside the project")
    rules = pd.read_csv(NZBC_CSV)["lrml"].dropna()
    assert len(rules) == 663
    assert [rule for rule in rules if not is_valid_lrml(rule)] == []

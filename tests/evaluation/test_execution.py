"""Rule quality by execution: suites, SMT equivalence, metrics and diagnoses with known answers."""

from __future__ import annotations

import pandas as pd
import pytest

from rulelens.data.rule_interpreter import compile_rule, evaluate_instance
from rulelens.data.rule_smt import equivalence
from rulelens.data.rule_suite import build_suite, neighbour_rules
from rulelens.evaluation.execution import build_suites, diagnose, mismatch_table, score_execution
from tests.project_copy import NZBC_CSV


def room_rule(require: str, when: str | None = "room.is_habitable", head: str = '"X 1", room') -> str:
    return f"rule({head}, " + (f"when={when}, " if when else "") + f"require={require})"


REFERENCE = room_rule("room.headroom_m >= 2.0 and room.width_mm >= 900")
# pairs that look alike and decide differently
DIFFERENT = {
    "strict comparison": room_rule("room.headroom_m > 2.0 and room.width_mm >= 900"),
    "dropped conjunct": room_rule("room.headroom_m >= 2.0"),
    "swapped condition": room_rule("room.is_habitable", when="room.headroom_m >= 2.0 and room.width_mm >= 900"),
    "moved constant": room_rule("room.headroom_m >= 2.1 and room.width_mm >= 900"),
    "or for and": room_rule("room.headroom_m >= 2.0 or room.width_mm >= 900"),
}
# pairs that look different and decide alike
SAME = {
    "unit change": room_rule("room.headroom_mm >= 2000 and room.width_m >= 0.9"),
    "reordered conjuncts": room_rule("room.width_mm >= 900 and room.headroom_m >= 2.0"),
    "other subject and identifier": room_rule("2.0 <= room.headroom_m and 900 <= room.width_mm", head='"Y", space'),
}
BETWEEN = (
    'rule("S", stair, require=between(stair.riser_mm, 100, 178))',
    'rule("S", stair, require=100 <= stair.riser_mm <= 178)',
)
IN_LIST = (
    'rule("B", building, require=building.cls in ["5", "6"])',
    'rule("B", building, require=building.cls == "5" or building.cls == "6")',
)


@pytest.fixture(scope="module")
def suite():
    return build_suite(REFERENCE, seed=0)


def suite_rows(suite) -> pd.DataFrame:
    from rulelens.data.rule_suite import scene_json

    return pd.DataFrame(
        {"clause_id": "X 1", "case": range(len(suite.scenes)), "scene": [scene_json(s) for s in suite.scenes],
         "reference_verdict": suite.reference_verdicts}
    )  # fmt: skip


def scored(generated: str, suite) -> dict:
    frame = pd.DataFrame({"clause_id": ["X 1"], "generated_rule": [generated], "reference_rule": [REFERENCE]})
    columns, _ = score_execution(frame, suite_rows(suite))
    return columns.iloc[0].to_dict()


def test_the_suite_tells_the_reference_from_every_neighbour(suite):
    assert suite.n_distinguishable > 10 and suite.kill_rate == 1.0
    assert {"pass", "fail", "not_applicable"} <= set(suite.reference_verdicts)
    kinds = {kind for kind, _ in neighbour_rules(REFERENCE)}
    assert {"comparison swapped", "constant moved", "conjunct dropped", "and/or swapped", "when/require swapped",
            "when dropped", "negation added"} <= kinds  # fmt: skip


@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_lookalikes_that_decide_differently_fail_execution_and_are_proved_different(name, suite):
    row = scored(DIFFERENT[name], suite)
    assert row["exec_match"] is False and row["exec_agreement"] < 1
    assert row["equivalence"] == "proved_different" and row["counterexample"]
    counterexample = __import__("json").loads(row["counterexample"])
    assert evaluate_instance(compile_rule(DIFFERENT[name]), counterexample) != evaluate_instance(
        compile_rule(REFERENCE), counterexample
    )


@pytest.mark.parametrize("name", sorted(SAME))
def test_rules_that_look_different_and_agree_match_and_are_proved_equivalent(name, suite):
    row = scored(SAME[name], suite)
    assert row["exec_match"] is True and row["exec_agreement"] == 1.0
    assert row["equivalence"] == "proved_equivalent" and row["diagnosis"] == ""


@pytest.mark.parametrize("pair", [BETWEEN, IN_LIST])
def test_helper_and_spelled_out_forms_are_equivalent(pair):
    assert equivalence(*pair).status == "proved_equivalent"
    one = build_suite(pair[0], seed=1)
    assert [evaluate_instance(compile_rule(pair[1]), s) for s in one.scenes] == one.reference_verdicts


def test_products_of_two_facts_are_outside_what_is_decided_or_decided_correctly():
    result = equivalence('rule("A", room, require=room.a_m * room.b_m >= 2)', 'rule("A", room, require=room.a_m >= 1)')
    assert result.status in ("proved_different", "undecided")
    assert (
        equivalence('rule("A", room, require=room.x == "a")', 'rule("A", room, require=room.x > 1)').status
        == "undecided"
    )


@pytest.mark.parametrize(
    ("generated", "reasons"),
    [
        (DIFFERENT["strict comparison"], {"wrong comparison"}),
        (DIFFERENT["moved constant"], {"wrong constant"}),
        (DIFFERENT["dropped conjunct"], {"other attribute", "missing condition", "wrong constant", "wrong comparison"}),
        (DIFFERENT["swapped condition"], {"when/require confused"}),
        (
            'rule("X 1", room, when=room.is_habitable, require=space.headroom_m >= 2.0 and space.width_mm >= 900)',
            {"other entity"},
        ),  # fmt: skip
        (
            'rule("X 1", room, when=room.is_habitable, require=room.height_m >= 2.0 and room.width_mm >= 900)',
            {"other attribute"},
        ),  # fmt: skip
        ("rule(room)", {"invalid rule"}),
    ],
)
def test_mismatches_are_diagnosed(generated, reasons):
    found = set(diagnose(generated, REFERENCE))
    assert found and found <= reasons | {"wrong constant", "wrong comparison", "missing condition"}
    assert found & reasons


def test_invalid_rules_and_clauses_without_a_suite_are_scored_not_crashed(suite):
    row = scored("rule(room, require=)", suite)
    assert row["exec_match"] is False and row["equivalence"] == "invalid"
    frame = pd.DataFrame({"clause_id": ["Z"], "generated_rule": [REFERENCE], "reference_rule": ["not a rule"]})
    columns, _ = score_execution(frame, suite_rows(suite))
    assert pd.isna(columns.iloc[0]["exec_match"]) and columns.iloc[0]["diagnosis"] == "no suite"


@pytest.mark.slow
def test_shipped_corpus_suites_tell_apart_at_least_95_percent_of_distinguishable_neighbours():
    """Unit: the neighbour; the check pool is independent of the candidate scenes the suites come from."""
    corpus = pd.read_csv("data/01_raw/building_code_rules.csv").sample(60, random_state=1)
    suites, summary = build_suites(corpus.rename(columns={"rule": "rule"}), seed=0)
    assert (summary["n_cases"] > 0).all() and set(suites["clause_id"]) == set(corpus["clause_id"])
    assert summary["n_killed"].sum() / summary["n_distinguishable"].sum() >= 0.95


def test_the_mismatch_table_counts_each_diagnosis_per_model():
    table = pd.DataFrame(
        {"strategy": ["fft", "fft", "lora"], "model_size": "m", "diagnosis": ["wrong constant; wrong comparison",
         "wrong constant", ""]}
    )  # fmt: skip
    counts = mismatch_table([table]).set_index(["strategy", "diagnosis"])["rules"]
    assert counts[("fft", "wrong constant")] == 2 and counts[("fft", "wrong comparison")] == 1
    assert ("lora", "") not in counts.index


def test_constants_and_conditions_right_are_scored_apart(suite):
    assert scored(SAME["unit change"], suite)["constants_right"] == 1.0
    assert scored(DIFFERENT["moved constant"], suite)["constants_right"] == 0.0
    assert scored(DIFFERENT["dropped conjunct"], suite)["constants_right"] == 0.0
    strict = scored(DIFFERENT["strict comparison"], suite)
    assert strict["constants_right"] == 1.0 and strict["conditions_right"] == 0.0  # right numbers, wrong test
    assert scored(DIFFERENT["moved constant"], suite)["conditions_right"] == 1.0
    assert scored("rule(room)", suite)["constants_right"] == 0.0


def test_lrml_translates_into_rules_the_interpreter_runs():
    from rulelens.evaluation.lrml_exec import NotExecutable, lrml_to_rule

    when = "and(is(building.use,residential),has(stair,handrail))"
    text = f"if({when}),then(obligation(greaterThanEqual(handrail.height,900mm)))"
    rule = lrml_to_rule(text)
    assert rule == (
        'rule("lrml", handrail, when=(building.use == "residential" and stair.has_handrail), '
        "require=handrail.height_mm >= 900.0)"
    )
    scene = {"building": [{"use": "residential"}], "stair": [{"has_handrail": True}], "handrail": [{"height": 0.9}]}
    assert evaluate_instance(compile_rule(rule, vocabulary=False), scene) == "pass"
    spread = lrml_to_rule("if(has(space,or(window,door))),then(obligation(complyWith(space,nzbc_g4as1)))")
    assert "(space.has_window or space.has_door)" in spread and 'complies_with(space, "nzbc_g4as1")' in spread
    with pytest.raises(NotExecutable, match="permission"):
        lrml_to_rule("if(has(a,b)),then(permission(has(a,c)))")


def test_lrml_rules_are_scored_by_execution_where_they_run():
    reference = "if(has(space,naturalVentilation)),then(obligation(greaterThanEqual(space.openableArea,0.05)))"
    same = "if(has(space,naturalVentilation)),then(obligation(greaterThanEqual(space.openableArea,5%)))"
    wrong = "if(has(space,naturalVentilation)),then(obligation(greaterThan(space.openableArea,5%)))"
    clauses = pd.DataFrame({"clause_id": ["n1", "n2"], "rule": [reference, "if(a),then(permission(b(c)))"]})
    suites, summary = build_suites(clauses, notation="lrml")
    assert summary.set_index("clause_id").loc["n2", "n_cases"] == 0  # not executable, said so
    frame = pd.DataFrame(
        {
            "clause_id": ["n1", "n1", "n2"],
            "generated_rule": [same, wrong, same],
            "reference_rule": [reference, reference, clauses["rule"][1]],
        }
    )  # fmt: skip
    columns, _ = score_execution(frame, suites, notation="lrml")
    assert list(columns["exec_match"][:2]) == [True, False] and pd.isna(columns["exec_match"][2])
    assert columns["equivalence"][0] == "proved_equivalent" and columns["equivalence"][1] == "proved_different"


@pytest.mark.skipif(not NZBC_CSV.exists(), reason="the NZBC dataset beside the project (../shared) is absent")
def test_three_quarters_of_the_nzbc_reference_rules_execute():
    from rulelens.evaluation.lrml_exec import executable

    rules = pd.read_csv(NZBC_CSV)["lrml"].astype(str)
    share = rules.map(executable).mean()
    # 75.1% when measured (docs/evaluation.md; 55.5% before quantities such as "350 mm" parsed as one
    # term); a translator or validator change shows here
    assert 0.7 <= share <= 0.8

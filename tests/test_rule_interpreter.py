"""The safe rule interpreter (rulelens.data.rule_interpreter): known answers per construct."""

from __future__ import annotations

import pandas as pd
import pytest

from rulelens.data.rule_interpreter import attribute_unit, compile_rule, explain_instance, rule_verdict

ROOM = 'rule("X 1", room, when=room.is_habitable, require=room.headroom_m >= 2.0)'


def verdict(rule: str, scene: dict) -> str:
    (only,) = rule_verdict(rule, scene)
    return only


def room(**facts) -> dict:
    return {"room": [facts]}


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"is_habitable": True, "headroom": 2.0}, "pass"),
        ({"is_habitable": True, "headroom": 1.99}, "fail"),
        ({"is_habitable": False, "headroom": 1.0}, "not_applicable"),
        ({"is_habitable": True}, "unknown"),  # the requirement's fact is missing
        ({"headroom": 2.5}, "unknown"),  # whether the rule applies is unknown
        ({"is_habitable": False}, "not_applicable"),  # False when: nothing else needed
    ],
)
def test_four_verdicts(facts, expected):
    assert verdict(ROOM, room(**facts)) == expected


def test_units_are_stored_once_per_stem_in_si():
    assert attribute_unit("headroom_mm").stem == attribute_unit("headroom_m").stem == "headroom"
    for headroom in (1.999, 2.0, 2.001):
        scene = room(headroom=headroom)
        metres = verdict('rule("X", room, require=room.headroom_m >= 2.0)', scene)
        millimetres = verdict('rule("X", room, require=room.headroom_mm >= 2000)', scene)
        assert metres == millimetres == ("pass" if headroom >= 2.0 else "fail")
    scene = room(openable_area=0.05, duration=5400.0)
    assert verdict('rule("X", room, require=room.openable_area_pct >= 5)', scene) == "pass"
    assert verdict('rule("X", room, require=room.openable_area_ratio >= 0.06)', scene) == "fail"
    assert verdict('rule("X", room, require=room.duration_min == 90 and room.duration_h == 1.5)', scene) == "pass"


def test_three_valued_logic():
    scene = room(a=1.0)
    assert verdict('rule("X", room, require=room.a > 5 and room.b > 1)', scene) == "fail"  # False and unknown
    assert verdict('rule("X", room, require=room.a < 5 or room.b > 1)', scene) == "pass"  # True or unknown
    assert verdict('rule("X", room, require=room.a < 5 and room.b > 1)', scene) == "unknown"
    assert verdict('rule("X", room, require=not room.b > 1)', scene) == "unknown"


def test_lookalikes_differ_at_the_boundary():
    scene = room(headroom=2.0)
    assert verdict('rule("X", room, require=room.headroom_m > 2.0)', scene) == "fail"
    assert verdict('rule("X", room, require=room.headroom_m >= 2.0)', scene) == "pass"


@pytest.mark.parametrize(
    ("rule", "facts", "expected"),
    [
        ('rule("X", stair, require=between(stair.riser_mm, 100, 178))', {"riser": 0.178}, "pass"),
        ('rule("X", stair, require=between(stair.riser_mm, 100, 178))', {"riser": 0.179}, "fail"),
        ('rule("X", stair, require=100 <= stair.riser_mm <= 178)', {"riser": 0.1}, "pass"),
        ('rule("X", stair, require=stair.w_count >= per(stair.p_count, 50))', {"w": 2.0, "p": 51.0}, "pass"),
        ('rule("X", stair, require=stair.w_count >= per(stair.p_count, 50))', {"w": 1.0, "p": 51.0}, "fail"),
        ('rule("X", stair, require=stair.w_count >= per(stair.p_count, 50))', {"w": 1.0, "p": 50.0}, "pass"),
        ('rule("X", stair, require=ratio(stair.a_m, stair.b_m) <= 0.5)', {"a": 1.0, "b": 2.0}, "pass"),
        ('rule("X", stair, require=min_of(stair.a_m, 3) == 1 and max_of(stair.a_m, 3) == 3)', {"a": 1.0}, "pass"),
        ('rule("X", stair, require=any_of(stair.a_m > 2, stair.b_m > 2))', {"a": 1.0, "b": 3.0}, "pass"),
        ('rule("X", stair, require=all_of(stair.a_m > 2, stair.b_m > 2))', {"a": 1.0, "b": 3.0}, "fail"),
        ('rule("X", stair, require=complies_with(stair, "D1/AS1"))', {"complies_with": ["D1/AS1"]}, "pass"),
        ('rule("X", stair, require=complies_with(stair, "D1/AS1"))', {"complies_with": []}, "fail"),
        ('rule("X", stair, require=within(stair, "dwelling"))', {}, "unknown"),
        ('rule("X", stair, require=stair.kind in ["a", "b"])', {"kind": "b"}, "pass"),
        ('rule("X", stair, require=stair.kind == "a" or stair.kind == "b")', {"kind": "c"}, "fail"),
    ],
)
def test_helpers(rule, facts, expected):
    assert verdict(rule, {"stair": [facts]}) == expected


def test_collections_count_the_scene_instances():
    rule = 'rule("X", dwelling, require=count(toilet) >= 1 and exists(basin))'
    assert verdict(rule, {"dwelling": [{}], "toilet": [{}, {}], "basin": [{}]}) == "pass"
    assert verdict(rule, {"dwelling": [{}], "toilet": [], "basin": [{}]}) == "fail"
    assert verdict(rule, {"dwelling": [{}], "toilet": [{}]}) == "unknown"  # basins not described


def test_one_verdict_per_subject_instance():
    scene = {"room": [{"headroom": 2.1}, {"headroom": 1.9}, {}]}
    assert rule_verdict('rule("X", room, require=room.headroom_m >= 2.0)', scene) == ["pass", "fail", "unknown"]


@pytest.mark.parametrize(
    ("rule", "facts", "reason"),
    [
        ('rule("X", room, require=room.a_m / room.b_m > 1)', {"a": 1.0, "b": 0.0}, "division by zero"),
        ('rule("X", room, require=room.kind > 3)', {"kind": "B"}, "type mismatch"),
        ('rule("X", room, require=room.kind == 3)', {"kind": "B"}, "type mismatch"),
        ('rule("X", room, require=room.a_m)', {"a": 2.0}, "type mismatch"),
        ('rule("X", room, require=room.a_m * 1e308 * 10 > 1)', {"a": 2.0}, "out of range"),
    ],
)
def test_bad_evaluations_are_named_errors(rule, facts, reason):
    scene = {"room": [facts]}
    assert verdict(rule, scene) == "error"
    assert reason in explain_instance(compile_rule(rule), scene, facts)


def test_a_malformed_rule_is_an_error_verdict_not_a_crash():
    assert rule_verdict("rule(room, require=__import__('os'))", {}) == ["error"]
    assert rule_verdict("not a rule", {}) == ["error"]
    assert verdict('rule("X", room, require=room.a_m > 1' + "e999)", room(a=1.0)) == "error"  # inf literal


def test_every_shipped_rule_runs_on_an_empty_scene():
    rules = pd.read_csv("data/01_raw/building_code_rules.csv")["rule"]
    verdicts = {v for r in rules for v in rule_verdict(r, {})}
    assert verdicts == {"unknown"}

"""Known-answer tests of the LRML F1 as the published pipeline of Fuchs et al. computed it.

Every expected number below is a fact obtained by running the published code itself (repository
``stefan-1992/phd-thesis-supplementary-material``) on that input, outside this project: the reverse
transformations in the order of ``Chapter6/ecppm_ir_lrml_baseline_training.py`` (``get_original``), then
``Chapter6/lrml_utils.py``'s ``tree_based_spacing``, applied to prediction and reference, then
``Chapter5/lrml_score.py``'s ``compute_lrml_score`` / ``compute_lrml`` with ``entity_weight=2, filter_empty=True``.
Scores are in percent; the module must agree with them within 0.1 points.
"""

from pathlib import Path

import pandas as pd
import pytest

from rulelens.evaluation.lrml_published import (
    PublishedPipelineError,
    cut_clue,
    lrml_f1_published,
    lrml_f1_published_pair,
    normalise_like_published,
    parse_scored_terms,
    restore_verbose_lrml,
    score_normalised_pair,
    scored_words,
)

POINTS = 0.1  # allowed distance from the published code, in percentage points
NZBC_CSV = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "nzbc-lrml" / "clauses.csv"

WALL_RULE = (
    "if(and(is(building,residential),has(wall,externalWall))),then(obligation(greaterThanEqual(wall.thickness,350 mm)))"
)
WINDOW_PREDICTION = (
    "if(has(room,window)),then(obligation(and(define(room.floorArea,x1),"
    "greaterThanEqual(window.openableArea,'0.05 * x1'))))"
)
WINDOW_REFERENCE = (
    "if(has(room,window)),then(obligation(and(define(room.floorArea,x1),"
    "define(window.openableArea,x0),greaterThanEqual(x0,'0.1 * x1'))))"
)
GLAZING_PREDICTION = "if(has(opening,glazing)),then(obligation(is(glazing.type,or(safetyGlass,laminatedGlass))))"
RISER_PREDICTION = "if(is(stair,private)),then(obligation(inBetween(stair.riser.height,150 mm,190 mm)))"
STOREY_PREDICTION = "if(has(building,storey)),then(obligation(loop(forEach(building.storey),has(storey,smokeAlarm))))"
FLOOR_PREDICTION = "then(obligation(and(lessThanEqual(floor.load,'2.5 kPa'),greaterThan(slab.mass,220 kg/m2))))"

# (case, prediction, reference, precision %, recall %): from the published code run on these inputs.
HAND_CASES = [
    ("identical", WALL_RULE, WALL_RULE, 100.0, 100.0),
    (
        "partial overlap, other quantity",
        "if(is(building,residential)),then(obligation(greaterThanEqual(wall.thickness,200 mm)))",
        WALL_RULE,
        89.6991,
        64.7817,
    ),
    ("empty prediction", "", WALL_RULE, 0.0, 0.0),
    ("unclosed brackets", "if(and(is(building,residential),has(wall", WALL_RULE, 100.0, 32.0685),
    ("prose", "The external wall must be at least 350 mm thick.", WALL_RULE, 0.0, 0.0),
    ("quoted arithmetic and dotted attributes", WINDOW_PREDICTION, WINDOW_REFERENCE, 96.1425, 75.7298),
    (
        "permission against obligation",
        "if(is(stair,private)),then(permission(lessThanEqual(riser.height,220 mm)))",
        "if(is(stair,private)),then(obligation(lessThanEqual(riser.height,190 mm)))",
        87.2685,
        87.2685,
    ),
    (
        "prohibition",
        "if(has(roof,membrane)),then(prohibition(has(membrane,penetration)))",
        "if(has(roof,membrane)),then(prohibition(and(has(membrane,penetration),not(is(penetration,sealed)))))",
        100.0,
        63.1579,
    ),
    (
        "connector inside data",
        GLAZING_PREDICTION,
        "if(has(opening,glazing)),then(obligation(is(glazing.type,safetyGlass)))",
        62.5,
        100.0,
    ),
    (
        "loop",
        STOREY_PREDICTION,
        "if(has(building,storey)),then(obligation(loop(forEach(building.storey),has(storey,heatAlarm))))",
        93.9103,
        93.9103,
    ),
    (
        "quoted against derived unit",
        FLOOR_PREDICTION,
        "then(obligation(and(lessThanEqual(floor.load,2.5 kPa),greaterThan(slab.mass,220 kg/m2))))",
        92.402,
        77.8955,
    ),
    (
        "no atoms: calls folded back",
        "if(buildingIsTall),then(obligation(sprinklers))",
        "if(is(building,tall)),then(obligation(has(building,sprinklers)))",
        80.9524,
        22.6667,
    ),
    (
        "third argument and third dotted part dropped",
        RISER_PREDICTION,
        "if(is(stair,private)),then(obligation(and(greaterThanEqual(riser.height,150 mm),"
        "lessThanEqual(riser.height,190 mm))))",
        75.5952,
        44.9153,
    ),
    (
        "'root(' cut from every name",
        "then(obligation(has(tree,taproot(depth))))",
        "then(obligation(has(tree,taproot)))",
        69.2308,
        69.2308,
    ),
    (
        "leading clue",
        "obligation: if(is(building,residential)),then(obligation(has(wall,externalWall)))",
        WALL_RULE,
        80.3571,
        46.3542,
    ),
]

# Inputs on which the published code raises IndexError; this module scores them 0 instead.
PUBLISHED_CRASHES = [
    pytest.param(WALL_RULE.replace("350 mm", "350\tmm"), id="quantity separated by a tab"),
    pytest.param("expression(function,x)", id="function without a name"),
]

# The published normal form (the text its scorer saw), from the published code run on these inputs.
NORMAL_FORMS = [
    (
        WALL_RULE,
        "if( and( expression( function( is), atom( variable( building)), data( residential)), expression( function("
        " has), atom( variable( wall)), data( external wall)))), then( obligation( expression( function( greater than"
        " equal), atom( relation( thickness), variable( wall)), data( baseunit( prefix( milli), kind( metre)), value("
        " 350.0)))))",
    ),
    (
        WINDOW_PREDICTION,
        "if( expression( function( has), atom( variable( room)), data( window))), then( obligation( and( expression("
        " function( define), atom( relation( floor area), variable( room)), data( x1)), expression( function( greater"
        " than equal), atom( relation( openable area), variable( window)), data( '0.05 * x1')))))",
    ),
    (
        GLAZING_PREDICTION,
        "if( expression( function( has), atom( variable( opening)), data( glazing))), then( or( obligation("
        " expression( function( is), atom( relation( type), variable( glazing)), data( safety glass))), obligation("
        " expression( function( is), atom( relation( type), variable( glazing)), data( laminated glass)))))",
    ),
    (
        STOREY_PREDICTION,
        "if( expression( function( has), atom( variable( building)), data( storey))), then( obligation( expression("
        " rulestatement( expression( function( for each), atom( relation( storey), variable( building)))),"
        " appliedstatement( expression( function( has), atom( variable( storey)), data( smoke alarm))))))",
    ),
    (
        FLOOR_PREDICTION,
        "then( obligation( and( expression( function( less than equal), atom( relation( load), variable( floor)), data("
        " '2.5 kPa')), expression( function( greater than), atom( relation( mass), variable( slab)), data( derivedunit("
        " baseunit( prefix( kilo), kind( gram)), operator( name( division)), baseunit( exponent( 2.0), kind( metre))),"
        " value( 220.0))))))",
    ),
    ("if(buildingIsTall),then(obligation(sprinklers))", "if( building is tall), then( obligation( sprinklers))"),
    (
        "if(and(is(building,residential),has(wall",
        "if( and( expression( function( is), atom( variable( building)), data( residential)), expression( function("
        " has))))",
    ),
    ("The external wall must be at least 350 mm thick.", "The external wall must be at least 350 mm thick."),
    (
        RISER_PREDICTION,
        "if( expression( function( is), atom( variable( stair)), data( private))), then( obligation( expression("
        " function( in between), atom( relation( riser), variable( stair)), data( baseunit( prefix( milli), kind("
        " metre)), value( 150.0)))))",
    ),
    (  # a bare atom is moved behind its siblings when no later sibling re-sorts them
        "if(and(has(wall,lining),exposed,not(is(wall,internal)))),then(obligation(has(wall,cavity)))",
        "if( and( expression( function( has), atom( variable( wall)), data( lining)), not( expression( function( is),"
        " atom( variable( wall)), data( internal))), expression( function( exposed)))), then( obligation( expression("
        " function( has), atom( variable( wall)), data( cavity))))",
    ),
    (
        "then(obligation(has(tree,taproot(depth))))",
        "then( obligation( expression( function( has), atom( variable( tree)), data( tapdepth))))",
    ),
]

# Scorer alone, on texts taken as already normalised: (case, prediction, reference, precision %, recall %),
# from the published compute_lrml_score(prediction, reference, 2, True) run on these texts.
SCORER_CASES = [
    ("entity weight follows the matched element", "xy(has(wall))", "xy((wall))", 50.0, 75.0),
    (
        "'then' closes an unclosed if",
        "xif(has(a,b)then(obligation(c)))",
        "xif(has(a,b)),then(obligation(c))",
        100.0,
        100.0,
    ),
    (
        "' then' does not",
        "xif( has( a, b) then( obligation( c)))",
        "xif( has( a, b)), then( obligation( c))",
        95.8333,
        100.0,
    ),
    ("empty prediction entities dropped", "x( has( wall), (), ())", "x( has( wall))", 100.0, 100.0),
]


def assert_published(pair: tuple[float, float], precision: float, recall: float) -> None:
    """A (precision, recall) pair in 0..1 equals the oracle's percentages within POINTS."""
    assert (100 * pair[0], 100 * pair[1]) == (
        pytest.approx(precision, abs=POINTS),
        pytest.approx(recall, abs=POINTS),
    )


@pytest.mark.parametrize(
    ("prediction", "reference", "precision", "recall"),
    [pytest.param(*case[1:], id=case[0]) for case in HAND_CASES],
)
def test_hand_made_pairs_score_as_published(prediction, reference, precision, recall):
    assert_published(lrml_f1_published_pair(prediction, reference), precision, recall)


@pytest.mark.parametrize(
    ("prediction", "reference", "precision", "recall"),
    [pytest.param(*case[1:], id=case[0]) for case in SCORER_CASES],
)
def test_scorer_quirks_as_published(prediction, reference, precision, recall):
    assert_published(score_normalised_pair(prediction, reference), precision, recall)


@pytest.mark.parametrize(("compact", "normal_form"), NORMAL_FORMS)
def test_normal_form_is_the_published_one(compact, normal_form):
    assert normalise_like_published(compact) == normal_form


@pytest.mark.parametrize("prediction", PUBLISHED_CRASHES)
def test_inputs_that_crash_the_published_code_score_zero(prediction):
    with pytest.raises(PublishedPipelineError):
        restore_verbose_lrml(prediction)
    assert normalise_like_published(prediction) == ""
    assert lrml_f1_published_pair(prediction, WALL_RULE) == (0.0, 0.0)
    assert lrml_f1_published_pair(WALL_RULE, prediction) == (0.0, 0.0)


def test_non_string_and_deeply_nested_output_never_raise():
    assert lrml_f1_published_pair(None, WALL_RULE) == (0.0, 0.0)  # type: ignore[arg-type]
    assert lrml_f1_published_pair(float("nan"), WALL_RULE) == (0.0, 0.0)  # type: ignore[arg-type]
    deep = "then(" + "has(" * 3000 + "x" + ")" * 3000 + ")"
    assert lrml_f1_published_pair(deep, WALL_RULE) == (0.0, 0.0)


def test_quirks_of_the_published_scorer():
    # Without a ':' in the first 30 characters, find() gives -1 and the first character is cut.
    assert cut_clue("if( a)") == "f( a)"
    assert cut_clue("obligation: if(a)") == "if(a)"
    # Commas vanish before words are split: a compact rule glues words across them.
    assert scored_words("spacenaturalVentilation") == ["spacenatural", "ventilation"]
    (term,) = parse_scored_terms("has(space,naturalVentilation)")
    assert term.words == ["spacenatural", "ventilation"]
    # An atom written before a call becomes part of that call's relation name; quotes are not special
    # (published parse of this text: relations and, xhas, a'b; words ["c'"]).
    (outer,) = parse_scored_terms("and(x,has(a,'b(c'))")
    assert [t.relation for t in outer.subterms] == ["xhas"]
    assert outer.subterms[0].subterms[0].relation == "a'b"
    assert outer.words == ["c'"]
    # Units: digit-letter split, kN kept whole.
    assert scored_words("0.2kN at 350mm") == ["0.2", "kn", "at", "350", "mm"]


def test_normalised_form_scores_the_same_as_the_compact_pair():
    prediction, reference = normalise_like_published(WINDOW_PREDICTION), normalise_like_published(WINDOW_REFERENCE)
    assert score_normalised_pair(prediction, reference) == lrml_f1_published_pair(WINDOW_PREDICTION, WINDOW_REFERENCE)


def test_corpus_aggregates_means_then_f1_as_published():
    predictions = [case[1] for case in HAND_CASES]
    references = [case[2] for case in HAND_CASES]
    scores = lrml_f1_published(predictions, references)
    # compute_lrml on the published normal forms of HAND_CASES
    assert scores["lrml_precision"] == pytest.approx(75.20385526170979, abs=POINTS)
    assert scores["lrml_recall"] == pytest.approx(58.53193684001654, abs=POINTS)
    assert scores["lrml_f1"] == pytest.approx(65.8287095343315, abs=POINTS)
    assert lrml_f1_published([""], [WALL_RULE]) == {"lrml_f1": 0.0, "lrml_precision": 0.0, "lrml_recall": 0.0}
    with pytest.raises(ValueError):
        lrml_f1_published([WALL_RULE], [])
    with pytest.raises(ValueError):
        lrml_f1_published([], [])


# --------------------------------------------------------------------------- the real NZBC rules


@pytest.fixture(scope="module")
def nzbc_rules() -> list[str]:
    if not NZBC_CSV.exists():
        pytest.skip(f"NZBC dataset not found at {NZBC_CSV}")
    return pd.read_csv(NZBC_CSV)["lrml"].tolist()


# (row of the prediction, row of the reference, precision %, recall %): from the published code on those rows.
NZBC_PAIRS = [
    (0, 0, 100.0, 100.0),
    (0, 1, 7.0351, 17.1053),
    (2, 3, 98.6486, 79.4259),
    (40, 41, 18.6548, 12.4601),
    (47, 48, 33.7321, 49.1667),
    (47, 47, 100.0, 100.0),
    (100, 101, 2.4854, 4.1667),
    (139, 140, 3.3143, 42.2194),
    (250, 251, 26.9164, 16.3586),
    (300, 302, 53.4091, 3.6374),
    (450, 451, 20.2574, 15.5498),
    (600, 601, 24.7442, 28.4657),
    (662, 661, 49.5141, 12.986),
]


@pytest.mark.parametrize(("prediction_row", "reference_row", "precision", "recall"), NZBC_PAIRS)
def test_nzbc_row_pairs_score_as_published(nzbc_rules, prediction_row, reference_row, precision, recall):
    pair = lrml_f1_published_pair(nzbc_rules[prediction_row], nzbc_rules[reference_row])
    assert_published(pair, precision, recall)


def test_nzbc_corpus_scores_as_published(nzbc_rules):
    predictions = nzbc_rules[200:212]
    references = nzbc_rules[201:213]  # each rule scored against the next one
    scores = lrml_f1_published(predictions, references)
    assert scores["lrml_precision"] == pytest.approx(35.9783, abs=POINTS)
    assert scores["lrml_recall"] == pytest.approx(34.9322, abs=POINTS)
    assert scores["lrml_f1"] == pytest.approx(35.4476, abs=POINTS)


@pytest.mark.slow
def test_every_nzbc_rule_scores_full_marks_against_itself(nzbc_rules):
    # The published code gives 100 / 100 on all 663 identical pairs; none of the rules makes it crash.
    assert all(normalise_like_published(rule) for rule in nzbc_rules)
    assert lrml_f1_published(nzbc_rules, nzbc_rules) == {
        "lrml_f1": 100.0,
        "lrml_precision": 100.0,
        "lrml_recall": 100.0,
    }

"""Word segmentation and categories on the tricky cases named in docs/method.md."""

import pytest

from rulelens.words import (
    DEONTIC,
    DOMAIN_ENTITY,
    NUMERICAL_CONSTRAINT,
    OTHER,
    RULE_IDENTIFIER,
    category_counts,
    split_words,
)


def words_and_categories(text):
    return [(w.text, w.category) for w in split_words(text)]


@pytest.mark.parametrize(
    "clause, identifier_words",
    [
        ("BCA C.3.2.1 - Minimum headroom: rooms shall be high.", ["BCA", "C.3.2.1"]),
        ("SCDF 2.3.12(b) - Two-way travel distance: exits shall be provided.", ["SCDF", "2.3.12(b)"]),
        ("NZBC D1/AS1 2.1.3 Ramps shall be level.", ["NZBC", "D1/AS1", "2.1.3"]),
        ("1.2.2 Natural ventilation must be achieved.", ["1.2.2"]),
        ("IBC 1011.5.2 Stairs shall comply.", ["IBC", "1011.5.2"]),
    ],
)
def test_leading_identifiers_stay_whole(clause, identifier_words):
    words = split_words(clause)
    leading = [w.text for w in words if w.category == RULE_IDENTIFIER]
    assert leading == identifier_words


@pytest.mark.parametrize("number", ["2.0", "1:12", "5%", "1 200", "0.75", "12 500", "1,200"])
def test_numbers_stay_whole_and_are_constraints(number):
    clause = f"BCA D2.13 - Example: the value shall be {number} at most."
    found = [w for w in split_words(clause) if w.text == number]
    assert len(found) == 1
    assert found[0].category == NUMERICAL_CONSTRAINT


def test_units_after_numbers_are_constraints_but_not_elsewhere():
    words = dict(words_and_categories("ADB B1.7 - The clear width shall be 1 200 mm and the m is a letter."))
    assert words["1 200"] == NUMERICAL_CONSTRAINT
    assert words["mm"] == NUMERICAL_CONSTRAINT
    assert words["m"] == OTHER


def test_comparison_phrases_are_constraints_and_modals_deontic():
    pairs = words_and_categories("BCA C.3.2.1 - Headroom: the headroom must not be less than 2.0 metres.")
    categories = {text: category for text, category in pairs}
    for word in ("not", "be", "less", "than", "2.0", "metres"):
        assert categories[word] == NUMERICAL_CONSTRAINT, word
    assert categories["must"] == DEONTIC
    assert categories["headroom"] == DOMAIN_ENTITY


def test_not_less_than_phrase_and_shall():
    pairs = words_and_categories("SCDF 1.4.5 The exit shall be not less than 850 mm wide.")
    assert [c for t, c in pairs if t in ("not", "less", "than")] == [NUMERICAL_CONSTRAINT] * 3
    assert dict(pairs)["shall"] == DEONTIC


def test_standard_references_are_identifiers_not_values():
    pairs = dict(words_and_categories("HKBD 5.3.2 Alarms shall comply with BS 5839, AS 1670.1 and Table 4.2(a)."))
    assert pairs["5839"] == RULE_IDENTIFIER
    assert pairs["1670.1"] == RULE_IDENTIFIER
    assert pairs["4.2(a)"] == RULE_IDENTIFIER


def test_spans_index_the_clause_and_punctuation_is_not_a_word():
    clause = "BCA F4.4(a) - Light: windows, doors; and 5% (minimum)."
    words = split_words(clause)
    assert all(clause[w.start : w.end] == w.text for w in words)
    assert [w.index for w in words] == list(range(len(words)))
    assert not any(w.text in {",", ";", "-", ":", ".", "(", ")"} for w in words)
    assert [w.text for w in words][:2] == ["BCA", "F4.4(a)"]


def test_category_counts_cover_every_category():
    counts = category_counts(split_words("BCA C.3.2.1 Rooms shall be 2.0 m high."))
    assert set(counts) == {RULE_IDENTIFIER, NUMERICAL_CONSTRAINT, DEONTIC, DOMAIN_ENTITY, OTHER}
    assert sum(counts.values()) == 8


# --------------------------------------------------------------------------- NZ Building Code text


@pytest.mark.parametrize(
    "clause, identifiers",
    [
        ("1.2.2 Natural ventilation of occupied spaces must be no less than 5% of the floor area.", ["1.2.2"]),
        ("1.4 Calculating occupant loads 1.4.3 Duplication shall be avoided.", ["1.4", "1.4.3"]),
        ("C1-C6 Protection from Fire; refer to Acceptable Solution C/AS1.", ["C1-C6", "C/AS1"]),
        ("Sprinklers shall comply with NZS 4541 and AS/NZS 1170.0.", ["NZS", "4541", "AS/NZS", "1170.0"]),
        (
            "Gutters shall be sized as in Table 3.2 and Figures 3 and 4 (see Paragraph 3.7).",
            ["Table", "3.2", "Figures", "3", "4", "Paragraph", "3.7"],
        ),
        ("Vents shall comply with E2/AS1 clause 6.4.1.", ["E2/AS1", "clause", "6.4.1"]),
    ],
)
def test_nzbc_clause_numbers_standards_and_cross_references_are_identifiers(clause, identifiers):
    assert [w.text for w in split_words(clause) if w.category == RULE_IDENTIFIER] == identifiers


@pytest.mark.parametrize(
    "clause, constraints",
    [
        ("Pipes shall withstand 350 kPa at the outlet.", ["350", "kPa"]),
        ("The discharge shall be at least 0.3 L/s.", ["at", "least", "0.3", "L/s"]),
        ("Each opening shall be 1.5 m² or 3 m2 in area.", ["1.5", "m²", "3", "m2"]),
        ("Laps shall be minimum 200 mm and fixings 0.2 kN.", ["minimum", "200", "mm", "0.2", "kN"]),
        ("2.0 m of headroom shall be kept.", ["2.0", "m"]),
    ],
)
def test_nzbc_values_with_units_are_numerical_constraints(clause, constraints):
    assert [w.text for w in split_words(clause) if w.category == NUMERICAL_CONSTRAINT] == constraints


def test_nzbc_leading_clause_number_and_unit_words_elsewhere():
    pairs = words_and_categories("2.3 Fire resistance ratings 2.3.6 Floors shall have an FRR of 60 minutes.")
    assert pairs[0] == ("2.3", RULE_IDENTIFIER) and ("2.3.6", RULE_IDENTIFIER) in pairs
    assert ("60", NUMERICAL_CONSTRAINT) in pairs and ("minutes", NUMERICAL_CONSTRAINT) in pairs
    # a unit word with no number before it stays an ordinary word
    assert dict(words_and_categories("1.1 The kPa rating shall be shown."))["kPa"] == OTHER

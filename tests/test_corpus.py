"""The shipped corpus keeps its promises: every rule parses and carries its clause's numbers."""

from pathlib import Path

import pandas as pd

from rulelens.data.corpus_checks import corpus_problems, rule_problems
from rulelens.words.table import is_quantitative

CORPUS = Path(__file__).resolve().parents[1] / "data" / "01_raw" / "building_code_rules.csv"


def test_every_rule_parses_and_matches_its_clause():
    corpus = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    assert len(corpus) >= 400
    assert corpus_problems(corpus) == []


def test_corpus_mix_and_variety():
    corpus = pd.read_csv(CORPUS, dtype=str, keep_default_na=False)
    quantitative = corpus["clause"].map(is_quantitative)
    assert quantitative.mean() >= 0.55 and (~quantitative).mean() >= 0.30
    assert corpus["clause"].is_unique and corpus["clause_id"].is_unique
    assert corpus["agency"].nunique() >= 5 and corpus["domain"].nunique() >= 10


def test_checks_catch_a_missing_number_and_a_wrong_identifier():
    clause = "BCA D2.13 - Risers: each riser must be not more than 190 mm high."
    assert rule_problems(clause, 'rule("BCA D2.13", riser, require=riser.height_mm <= 190)') == []
    assert (
        "lacks clause number(s) [190.0]"
        in rule_problems(clause, 'rule("BCA D2.13", riser, require=riser.height_mm <= 180)')[0]
    )
    assert "identifier" in rule_problems(clause, 'rule("BCA D2.14", riser, require=riser.height_mm <= 190)')[0]

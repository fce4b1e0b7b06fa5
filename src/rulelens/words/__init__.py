"""Clause words: the unit a reader sees and attribution perturbs (docs/method.md).

- split:   :func:`split_words` cuts a clause into categorised words (rule identifiers, numerical
           constraints, deontic words, domain entities, other); re-exported here
- table:   every clause's words as a table (``clause_words``), and whether a clause is quantitative
- perturb: a clause as fixed text plus one feature per word, and the delete / mask operators
           that attribution, the deletion curves and the LDS apply to those words

Plain Python: data processing, attribution, statistics and reporting share this one definition.
"""

from rulelens.words.split import (
    CATEGORIES,
    DEONTIC,
    DOMAIN_ENTITY,
    NUMERICAL_CONSTRAINT,
    OTHER,
    RULE_IDENTIFIER,
    Word,
    category_counts,
    split_words,
)

__all__ = [
    "CATEGORIES",
    "DEONTIC",
    "DOMAIN_ENTITY",
    "NUMERICAL_CONSTRAINT",
    "OTHER",
    "RULE_IDENTIFIER",
    "Word",
    "category_counts",
    "split_words",
]

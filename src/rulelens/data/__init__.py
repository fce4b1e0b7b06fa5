"""The data contract: what a clause/rule table must satisfy and how the study's clauses are drawn.

- validation:    row-level checks with a column mapping; rejected rows kept with their reasons
- splitting:     train/validation/test splits (seeded, or the file's own), repeats kept in one split
- selection:     the study's clauses: one seeded, stratified sample shared by evaluation and attribution
- rule_format:   the rulelens rule format (parser, entities, numbers a rule must carry)
- corpus_checks: checks of the shipped corpus (``scripts/check_corpus.py``)

Plain Python and pandas, no Kedro: ``pipelines/data_processing`` wires them (docs/data_format.md).
"""

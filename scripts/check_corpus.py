"""Check a clause/rule CSV against the rule format: every rule parses, names its clause's
identifier, and states every number of its clause. Prints problems; exits 1 if any.

Usage: python scripts/check_corpus.py data/01_raw/building_code_rules.csv
"""

from __future__ import annotations

import sys

import pandas as pd

from rulelens.data.corpus_checks import corpus_problems


def main(path: str) -> int:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    problems = corpus_problems(frame)
    for row, message in problems:
        print(f"{path}: row {row}: {message}")
    print(f"{len(frame)} rows, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

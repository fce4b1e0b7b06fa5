"""How many faithfulness clauses, random orders and LDS masks the verdicts need (a simulation, not a test).

Reads one finished run's per-variant outputs (deletion curves with the random orders' spread, and
the attribution vectors), then simulates the study's two faithfulness verdicts with the clause as
the unit (rulelens.statistics.faithfulness_power) over a grid of clause counts, random orders
per clause and masks per clause, at the observed effect, at half of it, and under the null. Prints
power, the null's false-pass rate and the model calls per variant of each design, so that the
cheapest design that keeps the verdicts' power can be chosen (docs/statistics.md).

Usage: .venv/bin/python scripts/power_faithfulness.py RUN_OUTPUT_DIR [--sims 400]
  RUN_OUTPUT_DIR: data/07_model_output/<dataset> of a run (any faithfulness settings)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from rulelens.statistics.faithfulness_power import curves_power, faithfulness_prompts, lds_power


def observed_clauses(outputs: Path) -> pd.DataFrame:
    """Per (variant, clause): attribution and random-order AOPC and the random orders' spread (mean std over k)."""
    rows = []
    for path in sorted(outputs.glob("*/*/faithfulness_curves.parquet")):
        curves = pd.read_parquet(path)
        for clause_id, clause in curves.groupby("clause_id"):
            attribution = clause[clause["order"] == "attribution"]
            random = clause[clause["order"] == "random"]
            rows.append(
                {
                    "variant": f"{path.parent.parent.name}.{path.parent.name}",
                    "clause_id": clause_id,
                    **{
                        f"{measure}_{part}": value
                        for measure in ("comprehensiveness", "sufficiency")
                        for part, value in (
                            ("attribution", attribution[measure].mean()),
                            ("random", random[measure].mean()),
                            ("random_sd", random[f"{measure}_std"].mean()),
                        )
                    },
                }
            )
    return pd.DataFrame(rows)


def attribution_vectors(outputs: Path) -> list[np.ndarray]:
    vectors = []
    for path in sorted(outputs.glob("*/*/attributions.parquet")):
        table = pd.read_parquet(path)
        for _, clause in table.groupby("clause_id"):
            vectors.append(clause.sort_values("word_index")["score"].to_numpy(dtype=float))
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outputs", type=Path)
    parser.add_argument("--sims", type=int, default=400)
    args = parser.parse_args()
    clauses = observed_clauses(args.outputs)
    # pooled verdict: variants averaged per clause first (the unit is the clause)
    pooled = clauses.drop(columns="variant").groupby("clause_id").mean()
    print(f"observed: {len(clauses)} variant x clause rows, {len(pooled)} distinct clauses")
    vectors = attribution_vectors(args.outputs)
    print(f"attribution vectors: {len(vectors)} (words {np.median([v.size for v in vectors]):.0f} median)")
    for measure, better in (("comprehensiveness", "higher"), ("sufficiency", "lower")):
        for level, table in (("per variant", clauses), ("pooled", pooled)):
            a = table[f"{measure}_attribution"]
            mu, sd = table[f"{measure}_random"], table[f"{measure}_random_sd"]
            d = a - mu
            print(
                f"\n{measure} ({level}): attribution - random mean {d.mean():+.2f} (sd over clauses {d.std():.2f}); "
                f"random orders' sd within a clause {sd.mean():.2f}"
            )
            print(f"{'clauses':>8} {'orders':>7} {'power':>6} {'power(half)':>11} {'null':>6}")
            for n in (6, 8, 10):
                for r in (2, 3, 4, 10):
                    common = dict(n_clauses=n, n_random=r, better=better, n_sims=args.sims)
                    power = curves_power(a, mu, sd, **common)
                    half = curves_power(a, mu, sd, effect_scale=0.5, **common)
                    null = curves_power(a, mu, sd, effect_scale=0.0, **common)
                    print(f"{n:>8} {r:>7} {power:>6.2f} {half:>11.2f} {null:>6.3f}")
    print("\nLDS (additive model on the observed attribution vectors, paired t-test vs permutation baseline)")
    print(f"{'clauses':>8} {'masks':>6} {'LDS':>5} {'power':>6} {'null':>6}")
    lds_sims = max(args.sims // 4, 50)
    for target in (0.9, 0.6):
        for n in (6, 8, 10):
            for masks in (12, 16, 24, 32):
                common = dict(n_clauses=n, n_masks=masks, target_lds=target, n_sims=lds_sims, n_permutations=100)
                power = lds_power(vectors, **common)
                null = lds_power(vectors, null=True, **common)
                print(f"{n:>8} {masks:>6} {target:>5.1f} {power:>6.2f} {null:>6.3f}")
    print("\nmodel calls per variant (K = 3; upper bound, before de-duplication):")
    for n, r, m in ((6, 10, 32), (8, 4, 16), (8, 3, 16), (8, 3, 12), (10, 3, 12)):
        print(f"  {n} clauses x {r} orders x {m} masks: {n * faithfulness_prompts(3, r, m):.0f}")


if __name__ == "__main__":
    main()

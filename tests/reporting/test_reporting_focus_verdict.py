"""The strategy-focus verdict: three honest states per size and overall, every comparison oriented FFT minus adapter.

Unit of each comparison row: the clause (a Holm-corrected Wilcoxon over clauses, made upstream);
these tests feed the finding hand-made comparison rows with known outcomes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rulelens.reporting.findings import (
    CONTRADICTED,
    INCONCLUSIVE,
    NOT_TESTABLE,
    REPRODUCED,
    focus_finding,
    oriented_pairs,
    three_state,
)


def _row(size, a, b, r, p, diff, low, high):
    return {
        "family": "focus",
        "metric": "normalised_entropy",
        "size": size,
        "group_a": a,
        "group_b": b,
        "comparison": f"{a} vs {b}",
        "effect_size": r,
        "direction": float(np.sign(r)),
        "p_value": p,
        "p_adjusted": p,
        "test": "wilcoxon",
        "n": 24,
        "mean_difference": diff,
        "ci_low": low,
        "ci_high": high,
        "mde": 0.7,
        "mde_name": "d_z",
        "effect_d": diff * 10,
        "effect_size_name": "rank_biserial",
        "note": "",
    }


FOCUSED = dict(r=-0.6, p=0.001, diff=-0.05, low=-0.08, high=-0.02)  # FFT significantly more focused
AGAINST = dict(r=+0.6, p=0.001, diff=+0.05, low=+0.02, high=+0.08)  # significantly less focused
NOTHING = dict(r=-0.1, p=0.6, diff=-0.002, low=-0.01, high=+0.006)  # CI inside the 0.02 margin
UNSURE = dict(r=-0.3, p=0.2, diff=-0.02, low=-0.06, high=+0.02)  # neither


def _table(cells):
    return pd.DataFrame([_row(size, "fft", adapter, **outcome) for size, adapter, outcome in cells])


def test_the_claim_must_hold_at_every_size():
    every = _table([(s, a, FOCUSED) for s in ("xs", "s", "m") for a in ("lora", "qlora")])
    assert focus_finding(every, 0.05, margin=0.02).verdict == REPRODUCED
    # significant at the least-trained rung only, against the claim elsewhere: never "partly reproduced"
    mixed = _table(
        [("xs", "lora", FOCUSED), ("xs", "qlora", FOCUSED), ("s", "lora", AGAINST), ("s", "qlora", AGAINST)]
        + [("m", "lora", AGAINST), ("m", "qlora", FOCUSED)]
    )
    finding = focus_finding(mixed, 0.05, margin=0.02)
    assert finding.verdict == CONTRADICTED and "xs reproduced" in finding.observed
    some = _table([("xs", "lora", FOCUSED), ("xs", "qlora", FOCUSED), ("m", "lora", UNSURE), ("m", "qlora", FOCUSED)])
    assert focus_finding(some, 0.05, margin=0.02).verdict == INCONCLUSIVE


def test_no_effect_is_contradicted_only_by_equivalence_not_by_a_missing_p():
    assert three_state(True, False, (-0.01, 0.006), 0.02) == CONTRADICTED  # inside the margin
    assert three_state(True, False, (-0.06, 0.02), 0.02) == INCONCLUSIVE  # too wide to say
    assert three_state(True, False, (-0.01, 0.006), None) == INCONCLUSIVE  # no margin declared
    assert three_state(False, True, (0.02, 0.08), 0.02) == CONTRADICTED
    assert three_state(True, True, (-0.08, -0.02), 0.02) == REPRODUCED
    flat = _table([(s, a, NOTHING) for s in ("s", "m") for a in ("lora", "qlora")])
    assert focus_finding(flat, 0.05, margin=0.02).verdict == CONTRADICTED
    assert focus_finding(flat, 0.05, margin=None).verdict == INCONCLUSIVE


def test_a_strategy_that_sorts_before_fft_is_flipped_not_dropped():
    # "dora" would sort before "fft": its row reads dora minus fft and must be turned round
    row = _row("m", "lora", "fft", r=+0.6, p=0.001, diff=+0.05, low=0.02, high=0.08)  # adapter less focused
    flipped = oriented_pairs(pd.DataFrame([row]), ["fft"], ["lora"])
    assert list(flipped[["group_a", "group_b"]].iloc[0]) == ["fft", "lora"]
    assert flipped["effect_size"].iloc[0] == -0.6 and flipped["mean_difference"].iloc[0] == -0.05
    assert (flipped["ci_low"].iloc[0], flipped["ci_high"].iloc[0]) == (-0.08, -0.02)
    assert focus_finding(pd.DataFrame([row]), 0.05, margin=0.02).verdict == REPRODUCED


def test_no_pair_is_not_testable_and_the_text_never_reads_observed_power():
    assert focus_finding(_table([]).reindex(columns=list(_row("m", "a", "b", 0, 1, 0, 0, 0))), 0.05).verdict == (
        NOT_TESTABLE
    )
    finding = focus_finding(_table([("m", "lora", UNSURE), ("m", "qlora", UNSURE)]), 0.05, margin=0.02)
    text = finding.observed + " ".join(finding.details)
    assert "could not have been seen" not in text and "detects d_z = 0.70 with power 0.8" in text


def test_every_finding_combines_its_parts_in_three_states():
    from rulelens.reporting.findings import _combine, _verdict

    # a non-significant estimate is inconclusive whatever its sign; significance against contradicts
    assert _verdict(False, False) == _verdict(True, False) == INCONCLUSIVE
    assert _verdict(False, True) == CONTRADICTED and _verdict(True, True) == REPRODUCED
    assert _combine([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert _combine([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE  # never "partly reproduced"
    assert _combine([REPRODUCED, CONTRADICTED]) == CONTRADICTED
    assert _combine([NOT_TESTABLE]) == NOT_TESTABLE

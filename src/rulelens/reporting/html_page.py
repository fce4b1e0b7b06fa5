"""One self-contained HTML report: findings in words, figures as inline SVG, tables, example heatmaps.

Nothing is fetched when the file opens (no CDN, no script): figures are SVG in the page and the
side-by-side clause heatmaps are the attribution stage's fragments inlined (their class-scoped
styles included once), so the page is one file that prints and screenshots whole.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rulelens.reporting.findings import CONTRADICTED, NOT_TESTABLE, REPRODUCED, Finding

VERDICT_CLASS = {
    REPRODUCED: "good",
    "faithful": "good",
    CONTRADICTED: "bad",
    "not faithful": "bad",
    NOT_TESTABLE: "muted",
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{border-bottom:2px solid #eee;padding-bottom:.2em;margin-top:2em}
.meta{color:#666;font-size:.9em} figure{margin:1em 0} figure svg{max-width:100%;height:auto}
figcaption{color:#555;font-size:.9em}
table.data{border-collapse:collapse;font-size:.8em;margin:.6em 0;display:block;overflow-x:auto}
table.data th,table.data td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap}
table.data th{background:#f6f6f6} table.data td:first-child,table.data th:first-child{text-align:left}
.verdict{font-weight:600;padding:.1em .45em;border-radius:4px;background:#fff3cd}
.verdict.good{background:#d4edda} .verdict.bad{background:#f8d7da} .verdict.muted{background:#eee}
.finding{border-left:4px solid #ccc;padding:.3em 1em;margin:1em 0}
.finding ul{margin:.3em 0;font-size:.9em}
details summary{cursor:pointer;color:#1f5fa8}
div.heatmap{border:1px solid #ddd;border-radius:4px;padding:.2em 1em;margin:.5em 0 1.5em}
.caveat{background:#fafafa;border:1px solid #eee;padding:.6em 1em;font-size:.92em}
"""


@dataclass(frozen=True)
class Section:
    """A titled part of the report: prose paragraphs, figure names and (caption, table) pairs."""

    title: str
    paragraphs: Sequence[str] = ()
    figures: Sequence[str] = ()
    tables: Sequence[tuple[str, pd.DataFrame]] = ()


def figure_svg(figure) -> str:
    """The figure as an inline SVG element (the XML prologue dropped)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.find("<svg") :]


def table_html(frame: pd.DataFrame, max_rows: int = 60) -> str:
    """A compact HTML table; floats to 4 significant digits, long tables cut with a note."""
    shown = frame.head(max_rows)

    def fmt(value):
        if isinstance(value, (float, np.floating)):
            return "" if not np.isfinite(value) else f"{value:.4g}"
        return value

    body = shown.map(fmt).to_html(index=False, classes="data", border=0, escape=True, na_rep="")
    if len(frame) > max_rows:
        body += f'<p class="meta">{len(frame) - max_rows} more rows in the saved table.</p>'
    return body


def finding_html(finding: Finding) -> str:
    css = VERDICT_CLASS.get(finding.verdict, "")
    items = "".join(f"<li>{html.escape(d)}</li>" for d in finding.details)
    return (
        f'<div class="finding"><p><b>{html.escape(finding.question)}</b><br>'
        f'Published: {html.escape(finding.published)}<br>This run: <span class="verdict {css}">'
        f"{html.escape(finding.verdict)}</span> &mdash; {html.escape(finding.observed)}</p>"
        + (f"<details><summary>evidence</summary><ul>{items}</ul></details>" if items else "")
        + "</div>"
    )


def heatmap_css() -> str:
    """The heatmap pages' own rules, without those for body and h1 (the report sets its own)."""
    from rulelens.attribution.result import HEATMAP_CSS

    return "\n".join(line for line in HEATMAP_CSS.strip().splitlines() if not line.startswith(("body", "h1")))


def render_report(
    title: str,
    run_info: Mapping[str, str],
    findings: Sequence[Finding],
    sections: Sequence[Section],
    figures: Mapping[str, tuple[object, str]],
    heatmaps: Sequence[tuple[str, str]] = (),
) -> str:
    """The whole page. ``figures``: name -> (matplotlib Figure, caption); ``heatmaps``: (title, HTML fragment)."""
    info = " &middot; ".join(f"{html.escape(k)}: <b>{html.escape(str(v))}</b>" for k, v in run_info.items())
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{CSS}{heatmap_css() if heatmaps else ''}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><p class="meta">{info}</p>',
        "<h2>Answers at a glance</h2>",
        *[finding_html(f) for f in findings],
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [f"<p>{p}</p>" for p in section.paragraphs]
        for name in section.figures:
            figure, caption = figures[name]
            parts.append(
                f'<figure id="fig-{html.escape(name)}">{figure_svg(figure)}'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        for caption, frame in section.tables:
            parts.append(
                f"<details><summary>{html.escape(caption)} ({len(frame)} rows)</summary>{table_html(frame)}</details>"
            )
    if heatmaps:
        parts.append(
            "<h2>Example clauses under every variant</h2><p>Red words raise log p(target rule), blue "
            "words lower it; one colour scale per clause. Every clause's page is in "
            "<code>attribution_heatmaps/</code>.</p>"
        )
        for heading, fragment in heatmaps:
            parts.append(f'<h3>{html.escape(heading)}</h3><div class="heatmap">{fragment}</div>')
    parts.append("</body></html>")
    return "\n".join(parts)

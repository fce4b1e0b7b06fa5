"""The compliance page: one self-contained HTML file grouped by clause (docs/compliance.md).

Per clause: the clause with its attribution heatmap (why the variant wrote its rule), the rule,
the verdict counts, the failing elements with the values they were judged on, the properties the
model lacks behind the unknowns, and the reference rule's verdicts beside the variant's with the
elements on which the two disagree. Styles are the study report's (no script, nothing fetched).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from rulelens.compliance.check import missing_counts
from rulelens.data.rule_interpreter import FAIL, NOT_APPLICABLE, PASS, UNKNOWN_VERDICT, VERDICTS

VERDICT_STYLE = {PASS: "good", FAIL: "bad", NOT_APPLICABLE: "muted", UNKNOWN_VERDICT: "", "error": "bad"}
PAGE_CSS = """
.rule{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em;background:#f6f8fa;padding:.4em .6em;
border-radius:4px;white-space:pre-wrap;word-break:break-word}
.counts span{margin-right:.8em} .warn{background:#fff3cd;border:1px solid #f0d98c;padding:.5em 1em}
section.clause{border-top:1px solid #ddd;margin-top:1.5em}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _counts_html(statuses: pd.DataFrame, source: str) -> str:
    rows = statuses[statuses["rule_source"] == source]
    if rows.empty:
        return ""
    row = rows.iloc[0]
    if row["status"] != "checked":
        return f'<p class="warn">{_esc(source)} rule: {_esc(row["status"])}</p>'
    spans = "".join(
        f'<span class="verdict {VERDICT_STYLE[v]}">{_esc(v)} {int(row[v])}</span>' for v in VERDICTS if int(row[v])
    )
    elements = f"{int(row['n_elements'])} {_esc(row['subject'])} element(s)"
    return f'<p class="counts"><b>{_esc(source)} rule</b> on {elements}: {spans}</p>'


def _verdict_counts(statuses: pd.DataFrame, clause_id: str, source: str) -> str:
    """'1 pass, 1 fail' for one clause and rule source, or its status when it checked nothing."""
    rows = statuses[(statuses["clause_id"] == clause_id) & (statuses["rule_source"] == source)]
    if rows.empty:
        return "-"
    row = rows.iloc[0]
    if row["status"] != "checked":
        return str(row["status"]).split(":")[0]
    return ", ".join(f"{int(row[v])} {v.replace('_', ' ')}" for v in VERDICTS if int(row[v])) or "0 elements"


def _summary_html(rules: pd.DataFrame, checks: pd.DataFrame, statuses: pd.DataFrame) -> str:
    """One row per clause: the variant's and the reference's verdict counts, and how many elements they disagree on."""
    if rules.empty:
        return ""
    body = []
    for clause_id in rules["clause_id"].astype(str):
        differ = len(_disagreements(checks[checks["clause_id"] == clause_id]))
        cells = [
            f'<a href="#clause-{_esc(clause_id)}">{_esc(clause_id)}</a>',
            _esc(_verdict_counts(statuses, clause_id, "variant")),
            _esc(_verdict_counts(statuses, clause_id, "reference")),
            str(differ),
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("clause", "variant's rule", "reference rule", "elements they disagree on"))
    return f'<h2>Summary</h2><table class="data"><tr>{head}</tr>{"".join(body)}</table>'


def _element_table(rows: pd.DataFrame, limit: int, extra: str | None = None) -> str:
    if rows.empty:
        return ""
    head = ["GlobalId", "IFC class", "name", "storey", "values used"] + ([extra] if extra else [])
    body = []
    for row in rows.head(limit).itertuples(index=False):
        values = ", ".join(f"{k} = {v}" for k, v in json.loads(row.values).items()) or "-"
        cells = [row.global_id, row.ifc_class, row.name, row.storey, values]
        if extra:
            cells.append(getattr(row, "other_verdict", ""))
        body.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>")
    more = f'<p class="meta">{len(rows) - limit} more in the element table</p>' if len(rows) > limit else ""
    header = "".join(f"<th>{_esc(h)}</th>" for h in head)
    return f'<table class="data"><tr>{header}</tr>{"".join(body)}</table>{more}'


def _unknowns_html(rows: pd.DataFrame) -> str:
    unknown = rows[rows["verdict"] == UNKNOWN_VERDICT]
    if unknown.empty:
        return ""
    lacking = missing_counts(unknown.to_dict(orient="records"))
    problems: dict[str, str] = {}
    for text in unknown["problems"]:
        problems.update(json.loads(text))
    items = "".join(f"<li><code>{_esc(name)}</code>: missing on {n} element(s)</li>" for name, n in lacking.items())
    items += "".join(f"<li><code>{_esc(stem)}</code>: {_esc(why)}</li>" for stem, why in problems.items())
    return f"<p>{len(unknown)} unknown: the model lacks what the rule reads</p><ul>{items}</ul>"


def _disagreements(checks: pd.DataFrame) -> pd.DataFrame:
    variant = checks[checks["rule_source"] == "variant"].set_index("global_id")
    reference = checks[checks["rule_source"] == "reference"].set_index("global_id")
    both = variant.index.intersection(reference.index)
    differ = [g for g in both if variant.at[g, "verdict"] != reference.at[g, "verdict"]]
    frame = variant.loc[differ].reset_index()
    return frame.assign(other_verdict=[f"{variant.at[g, 'verdict']} vs {reference.at[g, 'verdict']}" for g in differ])


def clause_section(
    clause: Mapping[str, Any], checks: pd.DataFrame, statuses: pd.DataFrame, heatmap: str, variant: str, limit: int
) -> str:
    """One clause: heatmap, rules, counts, failing elements, unknowns, disagreements with the reference."""
    parts = [
        f'<section class="clause" id="clause-{_esc(clause["clause_id"])}"><h2>Clause {_esc(clause["clause_id"])}</h2>'
    ]
    cid = _esc(clause["clause_id"])
    parts.append(
        f'<div class="heatmap" id="heatmap-{cid}">{heatmap}</div>' if heatmap else f"<p>{_esc(clause['clause'])}</p>"
    )
    parts.append(
        f'<p>{_esc(variant)} wrote:</p><div class="rule">{_esc(clause["generated_rule"] or "(no rule)")}</div>'
    )
    parts.append(_counts_html(statuses, "variant"))
    variant_rows = checks[checks["rule_source"] == "variant"]
    failing = variant_rows[variant_rows["verdict"] == FAIL]
    if not failing.empty:
        parts.append(f"<h3>Failing elements ({len(failing)})</h3>" + _element_table(failing, limit))
    parts.append(_unknowns_html(variant_rows))
    if clause.get("reference_rule"):
        parts.append(f'<p>Reference rule:</p><div class="rule">{_esc(clause["reference_rule"])}</div>')
        parts.append(_counts_html(statuses, "reference"))
        differ = _disagreements(checks)
        if not differ.empty:
            parts.append(
                f"<h3>Where the variant's rule and the reference disagree ({len(differ)})</h3>"
                + _element_table(differ, limit, extra="variant vs reference")
            )
    parts.append("</section>")
    return "".join(p for p in parts if p)


def render_compliance_page(
    model_info: Mapping[str, Any],
    rules: pd.DataFrame,
    checks: pd.DataFrame,
    statuses: pd.DataFrame,
    heatmaps: Mapping[str, str],
    variant: str,
    limit: int = 25,
) -> str:
    """The whole page: the model, a summary table, then one section per clause."""
    from rulelens.attribution.result import HEATMAP_CSS
    from rulelens.reporting.html_page import CSS

    title = f"Compliance of {model_info['file_name']} with {variant}'s rules"
    meta = (
        f'<p class="meta">{_esc(model_info["schema"])}, project length unit {_esc(model_info["length_unit"])}, '
        f"{int(model_info['n_elements'])} mapped element(s); SHA-256 {_esc(model_info['sha256'][:16])}...; "
        f"{len(rules)} clause(s)</p>"
    )
    warning = ""
    if int(model_info["n_elements"]) == 0:
        warning = (
            '<p class="warn">No element of this model is mapped to the rule vocabulary '
            "(conf ifc_mapping): nothing was checked.</p>"
        )
    summary_html = _summary_html(rules, checks, statuses)
    heatmap_css = "\n".join(line for line in HEATMAP_CSS.strip().splitlines() if not line.startswith(("body", "h1")))
    sections = []
    for clause in rules.to_dict(orient="records"):
        cid = str(clause["clause_id"])
        sections.append(
            clause_section(
                clause,
                checks[checks["clause_id"] == cid],
                statuses[statuses["clause_id"] == cid],
                heatmaps.get(cid, ""),
                variant,
                limit,
            )
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{CSS}{heatmap_css}{PAGE_CSS}</style></head><body>"
        f"<h1>{_esc(title)}</h1>{meta}{warning}{summary_html}{''.join(sections)}</body></html>"
    )

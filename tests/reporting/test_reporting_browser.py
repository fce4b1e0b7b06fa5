"""The report opened in headless Chromium: every figure and heatmap frame is drawn on screen.

Skips only when no browser can be driven here (scripts/setup.sh installs Debian's chromium
where it can); the reason is printed in the pytest summary.
"""

from __future__ import annotations

import importlib.util

import pytest

from rulelens.reporting import FIGURES
from rulelens.reporting.browser import check_report, chromium_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None or chromium_path() is None,
        reason="needs the playwright package (dev extra) and a Chromium binary (apt-get install chromium)",
    ),
]


def test_every_figure_and_heatmap_renders(planted_study, tmp_path):
    report = tmp_path / "study_report.html"
    report.write_text(planted_study["study_report"], encoding="utf-8")
    renders = check_report(report, screenshot=tmp_path / "shot.png")
    names = [r.name for r in renders if r.selector == "figure"]
    assert names == [f"fig-{name}" for name in FIGURES]
    assert len([r for r in renders if r.selector == "div.heatmap"]) == 2
    assert all(r.rendered for r in renders), [r for r in renders if not r.rendered]
    assert (tmp_path / "shot.png").stat().st_size > 10_000


def test_a_figure_that_does_not_draw_is_caught(planted_study, tmp_path):
    page = planted_study["study_report"]
    start = page.index('<figure id="fig-quality">') + len('<figure id="fig-quality">')
    end = page.index("</svg>", start) + len("</svg>")
    broken = page[:start] + "<svg></svg>" + page[end:]  # the figure's drawing lost, caption kept
    report = tmp_path / "broken.html"
    report.write_text(broken, encoding="utf-8")
    renders = {r.name: r for r in check_report(report)}
    assert not renders["fig-quality"].rendered
    assert renders["fig-focus"].rendered

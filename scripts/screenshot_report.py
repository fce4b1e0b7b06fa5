"""Open the study report in headless Chromium, save a full-page screenshot, check every figure rendered.

    .venv/bin/python scripts/screenshot_report.py [REPORT.html] [--out report.png]

Default report: data/08_reporting/building_code_rules/study_report.html. Prints one line per
figure / heatmap block (size, share of inked pixels, distinct colours) and exits 1 if any of
them is blank. Needs the dev extra (playwright) and a system Chromium (see scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rulelens.reporting.browser import check_report

DEFAULT = Path("data/08_reporting/building_code_rules/study_report.html")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--out", type=Path, default=None, help="full-page screenshot (PNG)")
    args = parser.parse_args()
    out = args.out or args.report.with_name(args.report.stem + "_screenshot.png")
    renders = check_report(args.report, screenshot=out)
    for r in renders:
        print(
            f"{'ok   ' if r.rendered else 'BLANK'} {r.name:<24} {r.width:6.0f} x {r.height:6.0f} px  "
            f"ink {100 * r.ink:5.1f}%  colours {r.colours}"
        )
    blank = [r.name for r in renders if not r.rendered]
    print(f"{len(renders) - len(blank)} of {len(renders)} elements rendered; screenshot: {out}")
    return 1 if blank or not renders else 0


if __name__ == "__main__":
    sys.exit(main())

"""Open the HTML report in headless Chromium and check that every figure and heatmap really renders.

Used by ``scripts/screenshot_report.py`` and the browser test. Needs the ``playwright`` Python
package (the dev extra) and a Chromium binary; nothing is downloaded: Playwright drives the
system browser (``/usr/bin/chromium`` from Debian, or ``RULELENS_CHROMIUM``). The browser runs
with networking features off, so a report that needed the network would show it.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MIN_INK = 0.01  # at least 1% of an element's pixels are not (near) white
MIN_COLOURS = 3  # and more than text: several distinct chromatic (non-grey) colours


@dataclass(frozen=True)
class ElementRender:
    """How one figure or heatmap block looked on screen."""

    selector: str
    name: str
    width: float
    height: float
    ink: float  # fraction of pixels that are not near-white
    colours: int  # distinct chromatic colours among those pixels (quantised; greys of text excluded)

    @property
    def rendered(self) -> bool:
        return self.width > 50 and self.height > 50 and self.ink >= MIN_INK and self.colours >= MIN_COLOURS


def chromium_path() -> str | None:
    """The browser to drive: $RULELENS_CHROMIUM, else chromium / chromium-browser / google-chrome on PATH."""
    explicit = os.environ.get("RULELENS_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _ink(png: bytes) -> tuple[float, int]:
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16).reshape(-1, 3)
    inked = pixels[pixels.min(axis=1) < 235]
    chromatic = inked[(inked.max(axis=1) - inked.min(axis=1)) > 48] // 32
    colours = len({tuple(p) for p in chromatic.tolist()})
    return len(inked) / max(1, len(pixels)), colours


def check_report(report: Path, screenshot: Path | None = None, width: int = 1280) -> list[ElementRender]:
    """Render ``report``; one :class:`ElementRender` per ``figure`` and heatmap block on the page."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise FileNotFoundError("no Chromium found: install Debian's chromium or set RULELENS_CHROMIUM")
    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(Path(report).resolve().as_uri(), wait_until="load")
            for selector in ("figure", "div.heatmap"):
                for index, element in enumerate(page.query_selector_all(selector)):
                    element.scroll_into_view_if_needed()
                    box = element.bounding_box() or {"width": 0, "height": 0}
                    ink, colours = _ink(element.screenshot()) if box["width"] and box["height"] else (0.0, 0)
                    name = element.get_attribute("id") or f"{selector}[{index}]"
                    results.append(ElementRender(selector, name, box["width"], box["height"], ink, colours))
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return results

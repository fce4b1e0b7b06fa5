"""Print (or with --write, update docs/architecture.md with) the stage map generated from the pipelines."""

from __future__ import annotations

import re
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
BLOCK = re.compile(r"(<!-- stage-map:start -->\n```mermaid\n)(.*?)(\n```\n<!-- stage-map:end -->)", re.S)


def main() -> None:
    from rulelens.pipeline_map import current_map

    diagram = current_map()
    if "--write" not in sys.argv:
        print(diagram)
        return
    PAGE.write_text(BLOCK.sub(lambda m: m.group(1) + diagram + m.group(3), PAGE.read_text()))
    print(f"updated {PAGE}")


if __name__ == "__main__":
    main()

"""Write the example building model of docs/compliance.md: a small house in IFC4 (millimetres).

    .venv/bin/python scripts/build_example_model.py [--out data/01_raw/example_house.ifc] [--schema IFC2X3]

The house is the test suite's (tests/compliance/ifc_builders.py), with its planted violations: door
D2 is 700 mm wide, flight F2's risers are 200 mm, the store room is 2.1 m high, handrail H1 is 900 mm
high, ramp flight RF2 rises 1 in 8. Built in code with IfcOpenShell's API, so no file is downloaded.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.compliance.ifc_builders import PLANTED, build_small_house  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data/01_raw/example_house.ifc")
    parser.add_argument("--schema", default="IFC4", choices=["IFC4", "IFC2X3"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        built = build_small_house(Path(folder), schema=args.schema)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, args.out)
    print(f"{args.out} ({args.schema}); planted violations:")
    for name, violation in PLANTED.items():
        print(f"  {name}: {violation}")


if __name__ == "__main__":
    main()

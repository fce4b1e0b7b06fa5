"""Wall time of `kedro run` with the sequential runner and with rulelens.runners.DaskRunner on a local
cluster (default 2 workers x 1 thread), each on a fresh copy of the project (nothing cached, nothing skipped).

    .venv/bin/python scripts/bench_dask.py                 # the default CPU grid (about 35 + 50 min here)
    .venv/bin/python scripts/bench_dask.py --env test      # the tiny profile (about a minute each)

Tracking is off (``tracking.enabled=false``) unless ``--tracking``: a sqlite store is not meant for several
writers. The DaskRunner's workers split the cores (OMP_NUM_THREADS = cores / workers); the sequential run
uses them all. Prints one line per runner and the speed-up; ``--json`` writes the figures to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.project_copy import copy_project  # noqa: E402


def run(root: Path, args: argparse.Namespace, runner: list[str]) -> tuple[float, int, str]:
    command = [str(Path(sys.executable).with_name("kedro")), "run", *runner]
    if args.env:
        command += ["--env", args.env]
    if args.pipelines:
        command += ["--pipelines", args.pipelines]
    if not args.tracking:
        command += ["--params", "tracking.enabled=false"]
    env = dict(
        os.environ,
        KEDRO_DISABLE_TELEMETRY="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        HF_HUB_OFFLINE="1",
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
        RULELENS_DASK_SCHEDULER="",
    )
    start = time.perf_counter()
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, result.returncode, (result.stdout + result.stderr)[-3000:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default=None, help="Kedro environment (default: base + local, the CPU grid)")
    parser.add_argument("--pipelines", default=None, help="e.g. data_processing,training (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers, 1 thread each (default 2)")
    parser.add_argument("--tracking", action="store_true", help="keep MLflow tracking on (sqlite per copy)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    figures = {
        "env": args.env or "base",
        "pipelines": args.pipelines or "__default__",
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }
    with tempfile.TemporaryDirectory(prefix="bench_dask_") as scratch:
        for label, runner in (
            ("sequential", []),
            (
                f"dask {args.workers}x1",
                ["--runner", "rulelens.runners.DaskRunner", "--runner-params", f"n_workers={args.workers}"],
            ),
        ):
            root = copy_project(Path(scratch) / label.replace(" ", "_"))
            seconds, code, tail = run(root, args, runner)
            if code != 0:
                print(tail, file=sys.stderr)
                raise SystemExit(f"{label}: kedro run failed ({code})")
            figures[label] = round(seconds, 1)
            print(f"{label:>14}: {seconds:7.1f} s", flush=True)
    dask_label = f"dask {args.workers}x1"
    print(f"{'speed-up':>14}: {figures['sequential'] / figures[dask_label]:7.2f}x")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

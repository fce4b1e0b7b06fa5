"""Benchmark the default pipeline stage by stage, as a user runs it (not a test).

Copies the project into a scratch folder (so your data/ and mlflow.db stay untouched), runs
``kedro run --pipelines <stage>`` for each stage in order, and prints each stage's wall time,
then the per-variant training figures the training pipeline recorded (time, tokens/s, peak RSS,
loss before -> after). Base models already converted in this checkout's cache are reused
(``--cold`` converts them again).

Usage: .venv/bin/python scripts/bench_pipeline.py [--env ENV] [--stages a,b] [--cold] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
STAGES = ("data_processing", "training", "evaluation", "attribution", "reporting")


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    load = os.getloadavg()[0]
    return f"{cpu}, {os.cpu_count()} logical cores, load average {load:.2f} at start"


def copy_project(destination: Path, cold: bool) -> Path:
    sys.path.insert(0, str(PROJECT))
    from tests.project_copy import copy_project as copy

    root = copy(destination)
    base_cache = PROJECT / "data" / "06_models" / "base"
    if base_cache.is_dir() and not cold:
        shutil.copytree(base_cache, root / "data" / "06_models" / "base")
    return root


def run_stage(root: Path, stage: str, env: str | None) -> float:
    command = [str(Path(sys.executable).with_name("kedro")), "run", "--pipelines", stage]
    if env:
        command += ["--env", env]
    started = time.perf_counter()
    result = subprocess.run(
        command,
        cwd=root,
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="200", MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}"),
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:])
        raise SystemExit(f"stage {stage} failed")
    return seconds


def training_table(root: Path, dataset: str) -> list[str]:
    lines = [
        f"{'variant':10} {'params':>12} {'trainable':>11} {'train s':>8} {'tok/s':>7} {'peak RSS MB':>11} "
        f"{'train loss':>15} {'val loss':>15}"
    ]
    for path in sorted((root / "data" / "07_model_output" / dataset).glob("*/*/training_metrics.json")):
        m = json.loads(path.read_text())
        name = f"{path.parent.parent.name}.{path.parent.name}"
        lines.append(
            f"{name:10} {m['total_params']:>12,} {m['trainable_params']:>11,} {m['wall_time_s']:>8.1f} "
            f"{m['tokens_per_s']:>7.0f} {m['peak_rss_mb']:>11.0f} "
            f"{m.get('train_loss_first', float('nan')):>6.2f} -> {m.get('train_loss_last', float('nan')):<5.2f} "
            f"{m.get('val_loss_first', float('nan')):>6.2f} -> {m.get('val_loss_last', float('nan')):<5.2f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None)
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--cold", action="store_true", help="convert base models again")
    parser.add_argument("--keep", default=None, help="run in this folder and keep it")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rulelens-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print("machine:", machine())
    root = copy_project(folder, args.cold)
    times = {}
    for stage in args.stages.split(","):
        times[stage] = run_stage(root, stage, args.env)
        print(f"{stage:16} {times[stage]:8.1f} s", flush=True)
    print(f"{'total':16} {sum(times.values()):8.1f} s")
    dataset = "test_profile" if args.env == "test" else "building_code_rules"
    print("\n".join(training_table(root, dataset)))
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

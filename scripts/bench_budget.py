"""The main job's budget, stage by stage: seconds, FLOPs and the share of this machine's matmul peak.

Machines of the project's kind differ 2x or more in floating-point speed (AVX-512/AMX Xeons against
AVX2-only EPYCs), so a time alone says little about another machine. This script runs the main job
as a user does (one ``kedro run`` on the embedded defaults, in a scratch copy of the project, base
models converted in the run unless ``--warm``), timestamps every line it logs, and adds up each
node's seconds (Kedro's "Running node" to "Completed node") by the stage whose pipeline holds the
node. It then reports per stage the seconds, the FLOPs the stage had to do (from the token counts
each variant records and the models' parameter counts: 2 x parameters per token forward, 6x for full
fine-tuning steps, 4x for adapter steps whose frozen base needs input gradients only), the FLOP rate
reached, its share of the machine's measured fp32 matmul peak (a GEMM of the models' MLP shape), and
the seconds the stage would take on a machine with another peak (``--reference-gflops``, default
150: an AVX2-only 2-core EPYC at 70-79 GFLOPS per core) at the same share of peak.

``--avx2`` runs everything on torch's, MKL's and oneDNN's AVX2 code paths (ATEN_CPU_CAPABILITY=avx2,
MKL_ENABLE_INSTRUCTIONS=AVX2, ONEDNN_MAX_CPU_ISA=AVX2) on a machine that has AVX-512; the measured
peak then says how close that emulation comes to a real AVX2-only machine.

Usage: .venv/bin/python scripts/bench_budget.py [--avx2] [--env ENV] [--warm] [--keep DIR]
       [--reference-gflops 150]
       .venv/bin/python scripts/bench_budget.py --from-log RUN_LOG --outputs DIR [--peak GFLOPS] (an earlier run:
       RUN_LOG has one "<seconds since start> <line>" per logged line; DIR its data/07_model_output/<dataset>)
Figures are recorded in docs/performance.md with the machine they ran on.
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
STAGES = ("data_processing", "training", "evaluation", "attribution", "reporting")  # then "other": start-up
AVX2_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
ADAPTER_STRATEGIES = ("lora", "qlora")  # frozen base: forward + input gradients only (4x), not weight gradients


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    isa = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "no AVX2"
    return f"{cpu}, {os.cpu_count()} logical cores, {isa} in hardware, load average {os.getloadavg()[0]:.2f}"


def matmul_peak_gflops(repeats: int = 30) -> tuple[float, str]:
    """Best fp32 GEMM rate over the model's MLP shape (2048 tokens x 576 -> 1536), and torch's CPU capability."""
    import torch

    torch.manual_seed(0)
    a, b = torch.randn(2048, 576), torch.randn(576, 1536)
    for _ in range(5):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * 2048 * 576 * 1536 / best / 1e9, torch.backends.cpu.get_cpu_capability()


def run_timestamped(root: Path, env_name: str | None, env: dict[str, str], log: Path) -> float:
    """One ``kedro run`` in ``root``; every output line written to ``log`` as ``<seconds since start> <line>``."""
    command = [str(Path(sys.executable).with_name("kedro")), "run"]
    if env_name:
        command += ["--env", env_name]
    started = time.perf_counter()
    with (
        subprocess.Popen(
            command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as process,
        log.open("w") as out,
    ):
        for line in process.stdout:
            out.write(f"{int(time.perf_counter() - started)} {line}")
        code = process.wait()
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"kedro run failed (exit {code}); log: {log}")
    return seconds


def node_stages() -> dict[str, str]:
    """Node name (without the variant namespace) -> the stage whose registered pipeline holds it."""
    from rulelens.pipeline_map import STAGES as REGISTERED
    from rulelens.pipeline_registry import register_pipelines

    pipelines = register_pipelines()
    stages = {}
    for stage in REGISTERED:
        for node in pipelines[stage].nodes:
            stages[node.name.rsplit(".", 1)[-1]] = stage
    return stages


def stage_seconds(log_lines: list[str], stages: dict[str, str]) -> tuple[dict[str, float], float]:
    """Seconds per stage (sums of node durations from a timestamped log) and the run's total seconds.

    Kedro's sequential runner runs one node at a time, so the node durations add up to the run
    less its start-up and hooks (counted as ``other``).
    """
    import re

    running = re.compile(r"Running node: (\w+):")
    completed = re.compile(r"Completed node:\s*([\w.]+)?")
    wrapped_name = re.compile(r"^\s*([\w.]+)\s*$")
    times = dict.fromkeys((*STAGES, "other"), 0.0)
    started_at, last, ended_at = None, 0.0, None
    for line in log_lines:
        stamp, _, text = line.partition(" ")
        if not stamp.isdigit():
            continue
        last = float(stamp)
        if ended_at is not None:  # a narrow terminal wraps the node's name onto the next line
            name = match.group(1) if (match := wrapped_name.match(text)) else "?"
            times[stages.get(name.rsplit(".", 1)[-1], "other")] += ended_at - started_at
            started_at = ended_at = None
        if running.search(text):
            started_at = last
        elif (match := completed.search(text)) and started_at is not None:
            if match.group(1) and match.group(1) != "runner.py":
                times[stages.get(match.group(1).rsplit(".", 1)[-1], "other")] += last - started_at
                started_at = None
            else:
                ended_at = last
    times["other"] = max(last - sum(times.values()), 0.0)
    return times, last


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _metric(metrics: dict, name: str) -> float:
    """A metric as the node wrote it or with its stage prefix (``generation_prompt_tokens``)."""
    return float(metrics.get(name, metrics.get(f"generation_{name}", 0)) or 0)


def stage_flops(outputs: Path) -> dict[str, float]:
    """FLOPs per stage from what every variant (and zero-shot base) recorded under ``outputs``."""
    flops = dict.fromkeys(STAGES, 0.0)
    folders = sorted(p for p in outputs.glob("*/*") if p.is_dir())
    base_params = {
        folder.name: float(_json(folder / "base_model.json").get("n_params", 0) or 0)
        for folder in folders
        if (folder / "base_model.json").exists()
    }
    for folder in folders:
        strategy = folder.parent.name
        training = _json(folder / "training_metrics.json")
        params = float(training.get("total_params") or base_params.get(folder.name, 0))
        if training and params:
            factor = 4.0 if strategy in ADAPTER_STRATEGIES else 6.0
            steps = max(float(training.get("global_step", 0)), 1.0)
            tokens_per_row = float(training.get("train_tokens", 0)) / (steps * 4)  # batch of 4 rows (conf/base)
            passes = len(str(training.get("val_curve", "")).split())
            eval_tokens = passes * float(training.get("validation_examples", 0)) * tokens_per_row
            flops["training"] += factor * params * float(training.get("train_tokens", 0)) + 2 * params * eval_tokens
        evaluation = _json(folder / "evaluation_metrics.json")
        if evaluation and params:
            tokens = _metric(evaluation, "prompt_tokens") + _metric(evaluation, "decode_token_slots")
            flops["evaluation"] += 2 * params * tokens
        attribution = _json(folder / "attribution_metrics.json")
        if attribution and params:
            tokens = _metric(attribution, "attribution_padded_tokens") + _metric(
                attribution, "faithfulness_padded_tokens"
            )
            flops["attribution"] += 2 * params * tokens
    return flops


def translated_seconds(seconds: float, work: float, peak: float, reference: float) -> float:
    """The stage's seconds on a machine whose matmul peak is ``reference``, at the same share of peak.

    A stage that does counted FLOPs is taken to scale with the peak as a whole (its Python and I/O
    overhead are small beside its matmuls); a stage without (data processing, reporting) is unchanged.
    """
    return seconds * peak / reference if work else seconds


def report(times: dict[str, float], flops: dict[str, float], peak: float, reference: float) -> list[str]:
    lines = [
        f"{'stage':16} {'seconds':>8} {'TFLOP':>7} {'GFLOP/s':>8} {'% of peak':>9} "
        f"{f's at {reference:.0f} GFLOP/s':>16}"
    ]
    for stage, seconds in times.items():
        work = flops.get(stage, 0.0)
        rate = work / seconds / 1e9 if seconds else 0.0
        lines.append(
            f"{stage:16} {seconds:8.1f} {work / 1e12:7.2f} {rate:8.1f} {100 * rate / peak:8.1f}% "
            f"{translated_seconds(seconds, work, peak, reference):16.0f}"
        )
    total_s, total_f = sum(times.values()), sum(flops.get(s, 0.0) for s in times)
    scaled = sum(translated_seconds(t, flops.get(s, 0.0), peak, reference) for s, t in times.items())
    lines.append(
        f"{'total':16} {total_s:8.1f} {total_f / 1e12:7.2f} {total_f / total_s / 1e9:8.1f} "
        f"{100 * total_f / total_s / 1e9 / peak:8.1f}% {scaled:16.0f}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, help="Kedro environment (default: base)")
    parser.add_argument("--avx2", action="store_true", help="torch, MKL and oneDNN on their AVX2 code paths")
    parser.add_argument("--warm", action="store_true", help="reuse this checkout's converted base models")
    parser.add_argument("--keep", default=None, help="run in this folder and keep it")
    parser.add_argument("--reference-gflops", type=float, default=150.0, help="another machine's fp32 matmul peak")
    parser.add_argument("--from-log", type=Path, default=None, help="report an earlier run's timestamped log")
    parser.add_argument("--outputs", type=Path, default=None, help="with --from-log: its data/07_model_output/<ds>")
    parser.add_argument("--peak", type=float, default=None, help="the matmul peak measured with the run (GFLOP/s)")
    args = parser.parse_args()
    if args.avx2:
        os.environ.update(AVX2_ENV)
    env = dict(
        os.environ,
        KEDRO_DISABLE_TELEMETRY="true",
        MLFLOW_DISABLE_TELEMETRY="true",
        HF_HUB_OFFLINE="1",
        COLUMNS="200",
    )
    print("machine:", machine())
    if args.peak:
        peak = args.peak
        print(f"fp32 matmul peak: {peak:.0f} GFLOP/s (given; measured with the run)")
    else:
        peak, capability = matmul_peak_gflops()
        emulated = ", emulated" if args.avx2 else ""
        print(f"fp32 matmul peak: {peak:.0f} GFLOP/s (torch CPU capability {capability}{emulated})")
    dataset = "test_profile" if args.env == "test" else "building_code_rules"
    folder = None
    if args.from_log:
        log, outputs = args.from_log, args.outputs
    else:
        folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="rulelens-budget-"))
        folder.mkdir(parents=True, exist_ok=True)
        sys.path.insert(0, str(PROJECT))
        from tests.project_copy import copy_project

        root = copy_project(folder)
        if args.warm and (PROJECT / "data" / "06_models" / "base").is_dir():
            shutil.copytree(PROJECT / "data" / "06_models" / "base", root / "data" / "06_models" / "base")
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        env["PYTHONPATH"] = str(root / "src")  # the copy's code, not the checkout's editable install
        log, outputs = root / "bench_run.log", root / "data" / "07_model_output" / dataset
        seconds = run_timestamped(root, args.env, env, log)
        print(f"kedro run: {seconds:.0f} s ({seconds / 60:.1f} min)")
    times, total = stage_seconds(log.read_text().splitlines(), node_stages())
    flops = stage_flops(outputs)
    print("\n".join(report(times, flops, peak, args.reference_gflops)))
    if folder is not None and not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

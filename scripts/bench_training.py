"""Benchmark the training library on the project's own configuration (not a test).

Three modes, each reading the training settings of a configuration environment (``conf/base``
by default, ``--env nzbc`` for the NZBC set) and the clauses table that ``kedro run --pipelines
data_processing`` wrote for it:

    # tokens/s of each batching option against the old one (padded rows, logits at every
    # position, random order), interleaved in rounds so that a busy machine slows all alike
    .venv/bin/python scripts/bench_training.py throughput --variants fft.xs fft.m lora.m

    # learning-rate / schedule sweep on one variant with the configured early stopping
    .venv/bin/python scripts/bench_training.py sweep --variant fft.xs --learning-rates 5e-5 1e-4 2e-4

    # the configured grid as `kedro run` trains it: steps, why it stopped, best validation loss
    .venv/bin/python scripts/bench_training.py grid

Results go to docs/models.md and docs/performance.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads made
# a step up to 5-10x slower whenever another process was busy (docs/models.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]

# (batching, vocabulary logits only at rule positions, length-grouped order); the first is the baseline
BATCHING_OPTIONS = [
    ("padded", False, False),
    ("padded", True, False),
    ("padded", True, True),
    ("flattened", True, False),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="configuration environment (conf/<env>)")
    parser.add_argument("--clauses", help="clauses parquet (default: the env's data/03_primary table)")
    parser.add_argument("--json", help="also write the result rows to this JSON file")
    modes = parser.add_subparsers(dest="mode", required=True)
    throughput = modes.add_parser("throughput", help="tokens/s per batching option, ratio to the old one")
    throughput.add_argument("--variants", nargs="+", default=["fft.xs", "lora.m", "fft.m"])
    throughput.add_argument("--steps", type=int, default=4, help="optimizer steps per option and round")
    throughput.add_argument("--rounds", type=int, default=3)
    sweep = modes.add_parser("sweep", help="train one variant per learning rate x schedule")
    sweep.add_argument("--variant", default="fft.xs")
    sweep.add_argument("--learning-rates", nargs="+", type=float, required=True)
    sweep.add_argument("--schedules", nargs="+", default=None, help="lr_scheduler values (default: configured)")
    modes.add_parser("grid", help="train the configured grid")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- configuration and data


def load_parameters(env: str) -> dict[str, Any]:
    """The env's parameters merged over base, as `kedro run --env` sees them."""
    return dict(config_loader(env)["parameters"])


def config_loader(env: str):
    from kedro.config import OmegaConfigLoader

    from rulelens.settings import CONFIG_LOADER_ARGS

    return OmegaConfigLoader(str(ROOT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": env})


def load_splits(params: dict[str, Any], env: str, clauses: str | None):
    """(train, validation) frames of the env's clauses table (run data_processing first)."""
    import pandas as pd

    if clauses is None:
        dataset = config_loader(env)["globals"]["dataset"]
        clauses = str(ROOT / "data" / "03_primary" / dataset / "clauses.parquet")
    if not Path(clauses).is_file():
        raise SystemExit(
            f"{clauses} not found: run `kedro run --pipelines data_processing"
            f"{'' if env == 'base' else ' --env ' + env}` first"
        )
    frame = pd.read_parquet(clauses)
    return frame[frame["split"] == "train"], frame[frame["split"] == "validation"]


def settings_of(params: dict[str, Any], namespace: str) -> dict[str, Any]:
    from rulelens.variant_grid import Variant, variant_settings

    strategy, size = namespace.split(".", 1)
    return variant_settings(params, Variant(strategy, size))


def prepare(settings: dict[str, Any]):
    from rulelens.modeling.strategies import prepare_for_strategy

    spec = {**settings["base_model"], "size_name": settings["model_size"]}
    return prepare_for_strategy(spec, settings["strategy"], settings["strategy_params"])


def machine_line() -> str:
    import platform

    import psutil
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"torch {torch.__version__} threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}, "
        f"load average {load:.1f}"
    )


# --------------------------------------------------------------------------- throughput


def time_steps(
    model: Any,
    optimizer: Any,
    collate: Any,
    examples: list[dict],
    order: list[int],
    batch_size: int,
    rule_logits_only: bool,
) -> tuple[float, int]:
    """Seconds and real (non-padding) tokens of forward+backward+step over ``order``'s batches."""
    from rulelens.modeling.sft import rule_token_loss

    tokens, started = 0, time.perf_counter()
    for start in range(0, len(order), batch_size):
        batch = [examples[i] for i in order[start : start + batch_size]]
        tokens += sum(len(e["input_ids"]) for e in batch)
        loss, _ = rule_token_loss(model, collate(batch), rule_logits_only=rule_logits_only)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return time.perf_counter() - started, tokens


def throughput(args: argparse.Namespace, params: dict[str, Any], frames) -> list[dict[str, Any]]:
    """Per variant and batching option: median tokens/s over rounds and its ratio to the baseline.

    The learning rate is 0 (the weights never change), so every option sees the same model and
    the same batches; options alternate within a round so that load on a shared machine falls on
    all of them alike.
    """
    import random

    import torch

    from rulelens.modeling.sft_examples import LengthGroupedBatches, batch_collator, prepare_examples
    from rulelens.modeling.trainer_settings import TrainerSettings
    from rulelens.prompts import PromptStyle

    rows = []
    for namespace in args.variants:
        settings = settings_of(params, namespace)
        trainer = TrainerSettings.from_params(settings["trainer"])
        batch_size, n_examples = trainer.batch_size, trainer.batch_size * args.steps
        prepared = prepare(settings)
        examples, _, counts = prepare_examples(
            frames[0],
            None,
            prepared.tokenizer,
            PromptStyle.from_params(settings["prompt"]),
            TrainerSettings.from_params({**settings["trainer"], "max_train_examples": n_examples}),
        )
        model = prepared.model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.0)
        shuffled = list(range(len(examples)))
        random.Random(0).shuffle(shuffled)
        grouped = list(LengthGroupedBatches([len(e["input_ids"]) for e in examples], batch_size, 0))
        time_steps(
            model,
            optimizer,
            batch_collator(trainer, prepared.tokenizer),
            examples,
            shuffled[:batch_size],
            batch_size,
            True,
        )  # warm-up
        rates: dict[tuple, list[float]] = {option: [] for option in BATCHING_OPTIONS}
        for _ in range(args.rounds):
            for option in BATCHING_OPTIONS:
                batching, rule_only, by_length = option
                collate = batch_collator(
                    TrainerSettings.from_params({**settings["trainer"], "batching": batching}), prepared.tokenizer
                )
                seconds, tokens = time_steps(
                    model, optimizer, collate, examples, grouped if by_length else shuffled, batch_size, rule_only
                )
                rates[option].append(tokens / seconds)
        baseline = statistics.median(rates[BATCHING_OPTIONS[0]])
        for option, values in rates.items():
            row = {
                "variant": namespace,
                "batching": option[0],
                "rule_logits_only": option[1],
                "length_grouped": option[2],
                "tokens_per_s": statistics.median(values),
                "ratio": statistics.median(values) / baseline,
                "rounds": values,
                "batch_size": batch_size,
                "steps": args.steps,
                "max_length": counts["max_length"],
            }
            rows.append(row)
            print(
                f"{namespace:<9} {option[0]:<9} rule-only logits {option[1]!s:<5} length-grouped {option[2]!s:<5} "
                f"{row['tokens_per_s']:6.0f} tok/s  x{row['ratio']:.2f}  "
                f"(rounds: {', '.join(f'{v:.0f}' for v in values)})",
                flush=True,
            )
        del prepared, model, optimizer
        gc.collect()
    return rows


# --------------------------------------------------------------------------- training runs


def train_once(settings: dict[str, Any], frames, workdir: str, **overrides: Any) -> dict[str, Any]:
    """One variant trained by train_sft with the configured trainer settings plus ``overrides``."""
    from rulelens.modeling.sft import train_sft
    from rulelens.prompts import PromptStyle

    prepared = prepare(settings)
    trainer = {**settings["trainer"], **overrides, "resume": False, "disable_tqdm": True}
    name = "-".join([settings["strategy"], settings["model_size"], *map(str, overrides.values())])
    _, metrics, history = train_sft(
        prepared,
        frames[0],
        frames[1],
        trainer,
        os.path.join(workdir, name),
        PromptStyle.from_params(settings["prompt"]),
    )
    del prepared
    gc.collect()  # peft models hold reference cycles; free them before the next run's peak RSS
    curve = history[history["split"] == "validation"][["step", "loss"]].to_dict(orient="records")
    return {**metrics, "validation_curve": curve}


def print_run(label: str, row: dict[str, Any]) -> None:
    curve = " ".join(f"{int(p['step'])}:{p['loss']:.2f}" for p in row["validation_curve"])
    print(
        f"{label:<28} steps {row['global_step']:>3} ({row['stopped_by']:<14}) "
        f"best val {row.get('best_val_loss', float('nan')):.3f}"
        f" @ {row.get('best_step', -1):>3}  train {row['wall_time_s']:6.1f} s (eval {row['eval_time_s']:5.1f})"
        f"  {row['tokens_per_s']:5.0f} tok/s | val curve {curve}",
        flush=True,
    )


def sweep(args: argparse.Namespace, params: dict[str, Any], frames, workdir: str) -> list[dict[str, Any]]:
    settings = settings_of(params, args.variant)
    schedules = args.schedules or [settings["trainer"]["lr_scheduler"]]
    rows = []
    for schedule in schedules:
        for lr in args.learning_rates:
            row = train_once(settings, frames, workdir, learning_rate=lr, lr_scheduler=schedule)
            rows.append({"variant": args.variant, "learning_rate": lr, "lr_scheduler": schedule, **row})
            print_run(f"{args.variant} lr {lr:g} {schedule}", row)
    return rows


def grid(params: dict[str, Any], env: str, frames, workdir: str) -> list[dict[str, Any]]:
    from rulelens.variant_grid import load_grid

    rows = []
    for variant in load_grid(ROOT / "conf", env):
        row = train_once(settings_of(params, variant.namespace), frames, workdir)
        rows.append({"variant": variant.namespace, **row})
        print_run(variant.namespace, row)
    print(f"training total {sum(r['wall_time_s'] for r in rows):.0f} s for {len(rows)} variants")
    return rows


def main(argv: list[str] | None = None) -> int:
    import logging

    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    params = load_parameters(args.env)
    frames = load_splits(params, args.env, args.clauses)
    print(machine_line())
    print(f"data: env {args.env}, {len(frames[0])} train / {len(frames[1])} validation rows", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_training_") as workdir:
        if args.mode == "throughput":
            rows = throughput(args, params, frames)
        elif args.mode == "sweep":
            rows = sweep(args, params, frames, workdir)
        else:
            rows = grid(params, args.env, frames, workdir)
    print(f"wall time {time.perf_counter() - started:.0f} s; {machine_line()}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"mode": args.mode, "env": args.env, "rows": rows}, indent=2, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

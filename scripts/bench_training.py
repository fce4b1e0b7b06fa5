"""Benchmark the default training grid (strategies x ladder sizes) on a clause/rule CSV.

Not a test: trains every variant briefly and prints wall time, tokens/s, peak RSS and the
first/last train and validation losses, so the defaults can be tuned to finish in a few
minutes on a small CPU machine while still visibly learning.

    .venv/bin/python scripts/bench_training.py                       # the default grid
    .venv/bin/python scripts/bench_training.py --strategies lora --sizes xs --train-examples 16

The CSV needs clause/rule columns (``clause,rule``; ``text,lrml`` is recognised too). A
``random_split`` column (1 train, 2 validation) is used when present; otherwise the first rows
train and the next ones validate. The clause text is only read, never written anywhere.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning threads made
# a step up to 5-10x slower whenever another process was busy (measured, docs/models.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEFAULT_CSV = "/work/shared/datasets/nzbc-lrml/clauses.csv"

# The tuned defaults (docs/models.md explains how they were chosen).
BENCH_DEFAULTS: dict[str, Any] = {
    "strategies": ["fft", "lora", "qlora"],
    "sizes": ["xs", "s", "m"],
    "train_examples": 24,
    "val_examples": 8,
    "trainer": {
        "max_length": 192, "epochs": 1, "batch_size": 4, "eval_batch_size": 8, "logging_steps": 1,
        "eval_strategy": "epoch",
        "eval_on_start": True, "save_strategy": "no", "lr_scheduler": "constant", "seed": 0,
    },
    "learning_rate": {"fft": 5e-5, "lora": 2e-3, "qlora": 2e-3},
    "strategy_params": {
        "fft": {},
        "lora": {"r": 16, "alpha": 32, "dropout": 0.05},
        "qlora": {"r": 16, "alpha": 32, "dropout": 0.05, "compute_dtype": "float32"},
    },
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = BENCH_DEFAULTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default=DEFAULT_CSV, help="clause/rule CSV (read only)")
    parser.add_argument("--strategies", nargs="+", default=d["strategies"])
    parser.add_argument("--sizes", nargs="+", default=d["sizes"], help="rungs of the default ladder")
    parser.add_argument("--train-examples", type=int, default=d["train_examples"])
    parser.add_argument("--val-examples", type=int, default=d["val_examples"])
    parser.add_argument("--max-length", type=int, default=d["trainer"]["max_length"])
    parser.add_argument("--epochs", type=float, default=d["trainer"]["epochs"])
    parser.add_argument("--batch-size", type=int, default=d["trainer"]["batch_size"])
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--cache-dir", default="data/06_models/base", help="base-model cache")
    parser.add_argument("--json", help="also write the result rows to this JSON file")
    return parser.parse_args(argv)


def read_frames(path: str, train_examples: int, val_examples: int):
    """(train, validation) frames with clause/rule columns, from the split column when there is one."""
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if {"text", "lrml"} <= set(frame.columns) and "clause" not in frame.columns:
        frame = frame.rename(columns={"text": "clause", "lrml": "rule"})
    if "random_split" in frame.columns:
        train, val = frame[frame.random_split == "1"], frame[frame.random_split == "2"]
    else:
        train, val = frame.iloc[: train_examples * 2], frame.iloc[train_examples * 2:]
    return train[["clause", "rule"]], val[["clause", "rule"]]


def bench_variant(size: str, strategy: str, args: argparse.Namespace, frames, workdir: str) -> dict[str, Any]:
    """Prepare and train one variant; the row the report prints."""
    from rulelens.modeling.base_models import DEFAULT_LADDER
    from rulelens.modeling.sft import train_sft
    from rulelens.modeling.strategies import prepare_for_strategy

    spec = {**DEFAULT_LADDER[size], "size_name": size, "cache_dir": args.cache_dir}
    started = time.perf_counter()
    prepared = prepare_for_strategy(spec, strategy, BENCH_DEFAULTS["strategy_params"][strategy])
    load_s = time.perf_counter() - started
    trainer = {**BENCH_DEFAULTS["trainer"], "max_length": args.max_length, "epochs": args.epochs,
               "batch_size": args.batch_size, "max_steps": args.max_steps,
               "learning_rate": BENCH_DEFAULTS["learning_rate"][strategy],
               "max_train_examples": args.train_examples, "max_eval_examples": args.val_examples}
    _, metrics, _ = train_sft(prepared, frames[0], frames[1], trainer, os.path.join(workdir, f"{strategy}-{size}"))
    del prepared
    gc.collect()  # peft models hold reference cycles; free them before the next variant's peak RSS
    return {"variant": f"{strategy}.{size}", "load_s": load_s, **metrics}


def print_row(row: dict[str, Any]) -> None:
    print(f"{row['variant']:<9} params {row['total_params'] / 1e6:6.1f}M "
          f"trainable {row['trainable_params'] / 1e6:6.2f}M "
          f"load {row['load_s']:4.1f}s train {row['wall_time_s']:5.1f}s (eval {row['eval_time_s']:4.1f}s) "
          f"{row['tokens_per_s']:4.0f} tok/s "
          f"peak RSS {row['peak_rss_mb']:6.0f} MB | train loss {row.get('train_loss_first', float('nan')):.3f}"
          f"->{row.get('train_loss_last', float('nan')):.3f} | val loss {row.get('val_loss_first', float('nan')):.3f}"
          f"->{row.get('val_loss_last', float('nan')):.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    import platform

    import psutil
    import torch

    from rulelens.modeling.base_models import DEFAULT_LADDER, materialize_base_model

    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("rulelens.modeling.base_models").setLevel(logging.INFO)
    frames = read_frames(args.csv, args.train_examples, args.val_examples)
    print(f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, "
          f"torch threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}")
    print(f"data: {args.csv} ({len(frames[0])} train / {len(frames[1])} validation rows available)")
    rows, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_training_") as workdir:
        for size in args.sizes:
            convert_started = time.perf_counter()
            materialize_base_model({**DEFAULT_LADDER[size], "size_name": size, "cache_dir": args.cache_dir})
            print(f"base {size}: ready in {time.perf_counter() - convert_started:.1f} s "
                  f"(conversion happens once; later runs read the cache)", flush=True)
        for size in args.sizes:
            for strategy in args.strategies:
                rows.append(bench_variant(size, strategy, args, frames, workdir))
                print_row(rows[-1])
    total = time.perf_counter() - started
    print(f"total wall time {total:.0f} s for {len(rows)} variants")
    failed = [r["variant"] for r in rows if not r.get("val_loss_last", 0) < r.get("val_loss_first", 0)]
    print("validation loss dropped for every variant" if not failed else f"validation loss did NOT drop: {failed}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"total_s": total, "rows": rows, "defaults": BENCH_DEFAULTS}, handle, indent=2, default=str)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())

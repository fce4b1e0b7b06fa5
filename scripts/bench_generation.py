"""Generation throughput of SmolLM2-135M-Instruct (and depth-pruned copies) on this machine.

Runs :func:`rulelens.evaluation.generate_rules` (greedy, the training prompt) on eight
building-code clauses for batch sizes 1, 4 and 8 and prints rules/s and generated tokens/s.
The decoding settings are the env's ``evaluation.generation`` block (``--env``, conf/base by default)
with this bench's own overrides: ``--max-new-tokens``, the batch size, plain greedy decoding
(``constrain: false``; scripts/bench_constraint.py measures the constraint), and the stop rule and
stop strings off unless ``--stop-rules``, so every configuration does the same work (up to
``--max-new-tokens`` per clause, ending early only at eos or the env's repetition stop).

    .venv/bin/python scripts/bench_generation.py [--env base] [--layers 30 16 8] [--batch-sizes 1 4 8]

Other jobs on a shared machine slow this down: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

CLAUSES = [
    "B.4.2 Every habitable room shall have a ceiling height of not less than 2.4 m over at least two-thirds of its floor area.",  # noqa: E501
    "C.7.1 A stair serving more than two storeys shall have a handrail on each side of every flight.",
    "D.3.5 The gradient of an accessible ramp shall not be steeper than 1:12.",
    "E.2.1(a) A building exceeding 25 m in effective height shall be fitted with an automatic sprinkler system.",
    "F.5.3 Each dwelling shall have at least one smoke detector on every storey.",
    "G.1.4 Fire doors shall be self-closing and fitted with smoke seals.",
    "H.6.2 The travel distance to an exit shall not exceed 45 m where the building is sprinklered.",
    "J.2.7 Windows in habitable rooms shall provide an openable area of not less than 5% of the floor area of the room.",  # noqa: E501
]


def machine() -> str:
    """CPU model, cores and torch threads: throughput means nothing without them."""
    import torch

    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            model = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{model}; {os.cpu_count()} logical cores; torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads; python {platform.python_version()}"
    )


def load_model(keep_layers: int | None):
    """SmolLM2-135M-Instruct de-quantised from the packaged GGUF, optionally depth-pruned."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils.logging import disable_progress_bar

    from rulelens.modeling.base_models import prune_layers
    from rulelens.offline_weights import gguf_location

    disable_progress_bar()
    folder, name = gguf_location()
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    if keep_layers is not None and keep_layers < model.config.num_hidden_layers:
        prune_layers(model, keep_layers)
    return model


def generation_settings(env: str, max_new_tokens: int, stop_rules: bool) -> dict[str, Any]:
    """The env's ``evaluation.generation`` (every key, from conf) with this bench's overrides."""
    from bench_training import load_parameters

    base = {**load_parameters(env)["evaluation"]["generation"], "max_new_tokens": max_new_tokens, "constrain": False}
    if not stop_rules:
        base.update(balanced_call=None, stop_strings=[])
    return base


def bench(model, tokenizer, batch_sizes, base: dict[str, Any]) -> list[dict]:
    """One timed run per batch size (after a short warm-up); ``base``: complete generation settings."""
    from rulelens.evaluation import generate_rules, throughput

    generate_rules(model, tokenizer, CLAUSES[:2], params={**base, "max_new_tokens": 4, "batch_size": 2})
    rows = []
    for batch_size in batch_sizes:
        out = generate_rules(model, tokenizer, CLAUSES, params={**base, "batch_size": batch_size})
        rows.append(
            {**throughput(out), "stops": sorted({i.stop_reason for i in out.items}), "example": out.texts[0][:70]}
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="configuration environment (conf/<env>) of evaluation.generation")
    parser.add_argument("--layers", type=int, nargs="+", default=[30, 16, 8], help="decoder layers to keep")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--stop-rules", action="store_true", help="use the env's stop rule and stop strings")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from rulelens.offline_weights import load_gguf_tokenizer

    settings = generation_settings(args.env, args.max_new_tokens, args.stop_rules)
    print("machine:", machine())
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    tokenizer = load_gguf_tokenizer()
    print(
        f"{len(CLAUSES)} clauses, max_new_tokens={args.max_new_tokens}, stop rules {'on' if args.stop_rules else 'off'}"
    )
    print(
        f"{'layers':>6} {'params':>8} {'batch':>5} {'seconds':>8} {'tokens':>6} {'rules/s':>8} {'tokens/s':>9}  stops"
    )
    for layers in args.layers:
        started = time.perf_counter()
        model = load_model(layers)
        params = sum(p.numel() for p in model.parameters())
        load_s = time.perf_counter() - started
        for row in bench(model, tokenizer, args.batch_sizes, settings):
            print(
                f"{layers:>6} {params / 1e6:>7.1f}M {row['batch_size']:>5} {row['seconds']:>8.2f} "
                f"{row['generated_tokens']:>6} {row['rules_per_s']:>8.3f} {row['tokens_per_s']:>9.1f}  "
                f"{','.join(row['stops'])}"
            )
        print(
            f"       (load {load_s:.1f} s; load average now %.2f; first output: {row['example']!r})"
            % os.getloadavg()[0]
        )
        del model
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()

"""Benchmark the attribution engine against the reference implementation and captum.

Runs on the real offline base model (SmolLM2-135M-Instruct from the packaged GGUF) and prints,
per clause, seconds for: the engine, the one-sequence-at-a-time reference, captum one-pass
(``forward_in_tokens=False``) and, optionally on one short clause, captum's default
token-by-token mode; ratios against the engine; the largest score differences; and the
engine's achieved FLOP/s as a fraction of this machine's measured fp32 matmul throughput.

    .venv/bin/python scripts/bench_attribution.py                 # 3 clauses
    .venv/bin/python scripts/bench_attribution.py --n 5 --csv my.csv --token-mode

Clauses: ``--csv`` (columns clause,rule or text,lrml); otherwise the NZBC-LRML corpus in
/work/shared when present (read only, first N rows); otherwise built-in invented examples.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_CORPUS = Path("/work/shared/datasets/nzbc-lrml/clauses.csv")
BUILT_IN = [
    (
        "Q.4.1 The clear width of every accessible route shall be not less than 1.2 m, measured between "
        "handrails or between a handrail and a wall, and the route shall have no step or threshold higher than 20 mm.",
        "rule('Q.4.1', accessible_route, require=and(clear_width >= 1.2 m, threshold_height <= 20 mm))",
    ),
    (
        "Q.7.3 A habitable room in a dwelling shall have a window with a net openable area of at least 5% of "
        "the floor area of the room.",
        "rule('Q.7.3', habitable_room, require=window.openable_area >= 0.05 * floor_area)",
    ),
    (
        "Q.9.2 Treads of a common stair shall be not less than 280 mm deep and risers shall not exceed 180 mm.",
        "rule('Q.9.2', common_stair, require=and(tread_depth >= 280 mm, riser_height <= 180 mm))",
    ),
    (
        "Q.2 Every exit door shall swing in the direction of escape.",
        "rule('Q.2', exit_door, require=swing == direction_of_escape)",
    ),
]


def load_pairs(csv: str | None, n: int, builtin: bool) -> tuple[list[tuple[str, str]], str]:
    """(clause, rule) pairs and a label saying where they came from."""
    import pandas as pd

    if csv or (SHARED_CORPUS.is_file() and not builtin):
        path = Path(csv) if csv else SHARED_CORPUS
        frame = pd.read_csv(path)
        text_col, rule_col = ("clause", "rule") if "clause" in frame.columns else ("text", "lrml")
        rows = frame[[text_col, rule_col]].dropna().head(n)
        return list(rows.itertuples(index=False, name=None)), f"{path} (first {len(rows)} rows)"
    return BUILT_IN[:n], "built-in examples"


def machine() -> dict:
    """CPU model, core counts and torch threads, for the report."""
    import torch

    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def matmul_flops(size: int = 1024, seconds: float = 3.0) -> float:
    """Measured fp32 matmul throughput (FLOP/s) of this machine with torch's current threads."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        torch.matmul(a, b)
        count += 1
    return 2 * size**3 * count / (time.perf_counter() - started)


def load_model():
    import torch
    from transformers import AutoModelForCausalLM

    from rulelens.offline_weights import gguf_location, load_gguf_tokenizer

    folder, name = gguf_location()
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    return model, load_gguf_tokenizer()


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def max_gap(a, b) -> float:
    return max(abs(x - y) for x, y in zip(a.scores, b.scores))


def param_split(model) -> tuple[int, int, int]:
    """(all parameters, transformer-body matmul parameters, output-head parameters)."""
    n_params = sum(p.numel() for p in model.parameters())
    head = model.get_output_embeddings().weight.numel()
    embed = model.get_input_embeddings().weight.numel()
    return n_params, n_params - embed - (0 if model.config.tie_word_embeddings else head), head


def flop_counts(model, stats: dict) -> tuple[float, float]:
    """(2 x all params x tokens, 2 x matmul params x tokens + head at target positions only)."""
    n_params, body, head = param_split(model)
    tokens = stats["tokens_processed"]
    scored = stats["sequences"] * stats["target_tokens"]
    return 2.0 * n_params * tokens, 2.0 * body * tokens + 2.0 * head * scored


def one_pass_flops(model, stats: dict) -> float:
    """Matmul FLOPs of one full forward per sequence with logits everywhere (reference, captum)."""
    _, body, head = param_split(model)
    return 2.0 * (body + head) * stats["tokens_processed"]


def run(args) -> dict:
    import torch

    from rulelens.attribution import attribute_clause, captum_attribution, reference_attribution
    from rulelens.words import split_words

    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine()
    pairs, source = load_pairs(args.csv, args.n, args.builtin)
    started = time.perf_counter()
    model, tokenizer = load_model()
    load_seconds = time.perf_counter() - started
    peak = matmul_flops()
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"machine: {info}\nmodel: SmolLM2-135M-Instruct, {n_params / 1e6:.1f}M params, loaded in {load_seconds:.1f} s"
    )
    print(f"fp32 matmul throughput (1024x1024): {peak / 1e9:.1f} GFLOP/s\nclauses: {source}\n")
    attribute_clause(model, tokenizer, "Q.1 Doors shall open.", "rule('Q.1', door)")  # warm-up

    rows = []
    for i, (clause, rule) in enumerate(pairs):
        timings = {"engine": [], "reference": [], "captum": []}
        for _ in range(args.repeats):  # interleaved, best of N: the machine may be shared
            engine, t = timed(attribute_clause, model, tokenizer, clause, rule, dtype=args.dtype)
            timings["engine"].append(t)
            reference, t = timed(reference_attribution, model, tokenizer, clause, rule)
            timings["reference"].append(t)
            captum, t = timed(captum_attribution, model, tokenizer, clause, rule, forward_in_tokens=False)
            timings["captum"].append(t)
        t_engine, t_reference, t_captum = (min(timings[k]) for k in ("engine", "reference", "captum"))
        brief, matmul = flop_counts(model, engine.stats)
        row = {
            "clause": i,
            "words": len(split_words(clause)),
            "prompt_tokens": len(reference_prompt(tokenizer, clause)),
            "target_tokens": len(engine.target_ids),
            "engine_s": t_engine,
            "reference_s": t_reference,
            "captum_onepass_s": t_captum,
            "reference_over_engine": t_reference / t_engine,
            "captum_over_engine": t_captum / t_engine,
            "max_diff_engine_reference": max_gap(engine, reference),
            "max_diff_engine_captum": max_gap(engine, captum),
            "max_diff_reference_captum": max_gap(reference, captum),
            "full_score": engine.full_score,
            "engine_batches": engine.stats["batches"],
            "prefix_tokens": engine.stats["prefix_tokens"],
            "tokens_processed": engine.stats["tokens_processed"],
            "engine_flops_2N": brief / t_engine,
            "engine_flops_matmul": matmul / t_engine,
            "engine_matmul_gflop": matmul / 1e9,
            "one_pass_matmul_gflop": one_pass_flops(model, reference.stats) / 1e9,
            "flop_ratio_one_pass_over_engine": one_pass_flops(model, reference.stats) / matmul,
            "timings": timings,
        }
        rows.append(row)
        print(
            f"clause {i}: {row['words']} words, {row['prompt_tokens']} prompt + {row['target_tokens']} target tokens | "
            f"engine {t_engine:.2f} s, reference {t_reference:.2f} s ({row['reference_over_engine']:.1f}x), "
            f"captum one-pass {t_captum:.2f} s ({row['captum_over_engine']:.1f}x) | max |diff| "
            f"engine-ref {row['max_diff_engine_reference']:.2e}, "
            f"engine-captum {row['max_diff_engine_captum']:.2e} nats | "
            f"engine {brief / t_engine / 1e9:.1f} GFLOP/s (2N) = {brief / t_engine / peak:.0%} of matmul peak; "
            f"counting matmuls only {matmul / t_engine / 1e9:.1f} GFLOP/s = {matmul / t_engine / peak:.0%} | "
            f"one-pass needs {row['flop_ratio_one_pass_over_engine']:.2f}x the engine's matmul FLOPs"
        )

    token_mode = None
    if args.token_mode:
        clause, rule = min(pairs, key=lambda p: len(split_words(p[0])))
        engine = attribute_clause(model, tokenizer, clause, rule)
        captum_tokens, t_tokens = timed(captum_attribution, model, tokenizer, clause, rule, forward_in_tokens=True)
        token_mode = {
            "words": len(split_words(clause)),
            "target_tokens": len(engine.target_ids),
            "seconds": t_tokens,
            "over_engine": t_tokens / engine.stats["seconds"],
            "max_diff_vs_engine": max_gap(engine, captum_tokens),
            "full_score_engine": engine.full_score,
            "full_score_tokens": captum_tokens.full_score,
        }
        print(f"\ncaptum token-by-token on the shortest clause: {token_mode}")
    else:
        print("\ncaptum token-by-token mode skipped (pass --token-mode to run it on the shortest clause)")

    summary = summarise(rows)
    summary["engine_fraction_of_peak_2N"] = summary["engine_flops_2N_mean"] / peak
    summary["engine_fraction_of_peak_matmul"] = summary["engine_flops_matmul_mean"] / peak
    print("\nsummary:", json.dumps(summary, indent=1))
    return {
        "machine": info,
        "matmul_flops": peak,
        "n_params": n_params,
        "source": source,
        "clauses": rows,
        "token_mode": token_mode,
        "summary": summary,
        "model_load_s": load_seconds,
    }


def reference_prompt(tokenizer, clause):
    from rulelens.prompts import build_prompt, encode_prompt

    return encode_prompt(tokenizer, build_prompt(tokenizer, clause))


def summarise(rows: list[dict]) -> dict:
    total = {k: sum(r[k] for r in rows) for k in ("engine_s", "reference_s", "captum_onepass_s")}
    return {
        **{f"{k}_per_clause": v / len(rows) for k, v in total.items()},
        "reference_over_engine": total["reference_s"] / total["engine_s"],
        "captum_over_engine": total["captum_onepass_s"] / total["engine_s"],
        "max_diff_engine_reference": max(r["max_diff_engine_reference"] for r in rows),
        "max_diff_engine_captum": max(r["max_diff_engine_captum"] for r in rows),
        "max_diff_reference_captum": max(r["max_diff_reference_captum"] for r in rows),
        "engine_flops_2N_mean": sum(r["engine_flops_2N"] for r in rows) / len(rows),
        "engine_flops_matmul_mean": sum(r["engine_flops_matmul"] for r in rows) / len(rows),
        "flop_ratio_one_pass_over_engine": sum(r["one_pass_matmul_gflop"] for r in rows)
        / sum(r["engine_matmul_gflop"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3, help="number of clauses (default 3)")
    parser.add_argument("--csv", help="CSV with columns clause,rule (or text,lrml)")
    parser.add_argument("--builtin", action="store_true", help="use the built-in example clauses")
    parser.add_argument(
        "--token-mode", action="store_true", help="also run captum's slow token-by-token mode on the shortest clause"
    )
    parser.add_argument("--dtype", default=None, help="engine autocast dtype, e.g. bfloat16 (default fp32)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=1, help="time each method N times, keep the best")
    parser.add_argument("--json", help="also write all figures to this JSON file")
    args = parser.parse_args()
    report = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

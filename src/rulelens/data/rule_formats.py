"""Rule formats declared in conf: a grammar for constrained decoding and a validator for validity.

A format is two things (docs/data_format.md, "Bring your own rule format"): a GBNF grammar that
constrained decoding turns into token masks (:mod:`rulelens.data.rule_grammar`) and a validator,
``text -> bool``, that decides the ``valid`` metric and the exact check of a row's final text.
``evaluation.rule_formats`` in ``conf/base/parameters_evaluation.yml`` declares them by name;
``evaluation.rule_format`` picks one. The same object goes to generation and to scoring, so the
constraint and the validity it is measured by can never be two different definitions, and
``valid_unconstrained`` stays exact.

The grammar must accept every text the validator accepts (it may accept more): a grammar that
excluded a valid rule would bend the model's own valid rules and make ``valid_unconstrained``
wrong. Tests keep the shipped grammars sound (tests/test_rule_grammar.py,
tests/evaluation/test_lrml_grammar.py).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Mapping

from rulelens.data.rule_grammar import GRAMMARS
from rulelens.param_blocks import check_block

GRAMMAR_SUFFIX = ".gbnf"
SOURCE = "conf/base/parameters_evaluation.yml"


@dataclass(frozen=True)
class RuleFormat:
    """One declared rule format: ``grammar`` (a shipped grammar's name, or a path to a ``.gbnf``
    file, relative to the working directory, i.e. the project root under ``kedro run``) and
    ``validator`` (``package.module:function``, a ``str -> bool``)."""

    name: str
    grammar: str
    validator: str

    @cached_property
    def grammar_path(self) -> Path:
        path = Path(self.grammar) if self.grammar.endswith(GRAMMAR_SUFFIX) else GRAMMARS / f"{self.grammar}.gbnf"
        if not path.is_file():
            shipped = sorted(p.stem for p in GRAMMARS.glob(f"*{GRAMMAR_SUFFIX}"))
            raise ValueError(
                f"rule format {self.name!r}: grammar {self.grammar!r} is neither a shipped grammar {shipped} "
                f"nor a {GRAMMAR_SUFFIX} file ({path.resolve()} not found)"
            )
        return path

    @cached_property
    def grammar_text(self) -> str:
        """The GBNF text of the grammar."""
        return self.grammar_path.read_text(encoding="utf-8")

    @cached_property
    def is_valid(self) -> Callable[[str], bool]:
        """The validator function (imported on first use)."""
        return import_validator(self.validator, self.name)


def import_validator(path: str, format_name: str) -> Callable[[str], bool]:
    """``package.module:function`` imported; a clear error naming the format when it is not there."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"rule format {format_name!r}: validator {path!r} must be 'package.module:function'")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"rule format {format_name!r}: cannot import validator {path!r} ({error})") from None
    if not callable(function):
        raise ValueError(f"rule format {format_name!r}: validator {path!r} is not callable")
    return function


def rule_format(evaluation: Mapping[str, Any]) -> RuleFormat:
    """The format ``evaluation.rule_format`` names, from the declarations in ``evaluation.rule_formats``."""
    name = evaluation["rule_format"]
    declared = evaluation.get("rule_formats") or {}
    if name not in declared:
        raise ValueError(
            f"evaluation.rule_format {name!r} is not declared in evaluation.rule_formats "
            f"(declared: {sorted(declared)}); add it there with its grammar and validator (docs/data_format.md)"
        )
    entry = check_block(declared[name], f"evaluation.rule_formats.{name}", ("grammar", "validator"), SOURCE)
    return RuleFormat(name=name, grammar=str(entry["grammar"]), validator=str(entry["validator"]))


# The shipped formats, for library callers that name a format; conf/base declares the same two
# (a test keeps them equal).
SHIPPED = {
    "rulelens": RuleFormat("rulelens", "rulelens", "rulelens.data.rule_format:is_valid_rule"),
    "lrml": RuleFormat("lrml", "lrml", "rulelens.evaluation.lrml:is_valid_lrml"),
}


def as_rule_format(value: RuleFormat | str) -> RuleFormat:
    """A RuleFormat from itself or a shipped format's name (``rulelens``, ``lrml``)."""
    if isinstance(value, RuleFormat):
        return value
    if value not in SHIPPED:
        raise ValueError(f"unknown rule format {value!r}; expected one of {tuple(SHIPPED)} or a declared RuleFormat")
    return SHIPPED[value]


def format_name(value: RuleFormat | str) -> str:
    """The name of a rule format given as a RuleFormat or by name."""
    return value.name if isinstance(value, RuleFormat) else value


__all__ = ["SHIPPED", "RuleFormat", "as_rule_format", "format_name", "import_validator", "rule_format"]

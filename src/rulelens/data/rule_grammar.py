"""The rule format's declared grammar, and token masks for it from a maintained library.

The grammar lives in a file (`grammars/rulelens.gbnf`, GBNF/EBNF: shown in docs/rule_format.md),
not in code, so a user who brings another rule format brings a grammar. llguidance computes token
masks for it (chosen by a measured comparison with xgrammar, docs/evaluation.md,
"Structured-generation libraries"): for a prefix of tokens, the set of tokens after which the
text can still become a sentence of the grammar. The exact final check stays
:func:`rulelens.data.rule_format.parse_rule`; the grammar must never exclude a valid rule
(tests/test_rule_grammar.py).
"""

from __future__ import annotations

import weakref
from functools import lru_cache
from pathlib import Path
from typing import Any

GRAMMARS = Path(__file__).with_name("grammars")


def grammar_text(name: str = "rulelens") -> str:
    """The GBNF text of a rule format's grammar (``grammars/<name>.gbnf``)."""
    path = GRAMMARS / f"{name}.gbnf"
    if not path.is_file():
        known = sorted(p.stem for p in GRAMMARS.glob("*.gbnf"))
        raise ValueError(f"no grammar for rule format {name!r} in {GRAMMARS}; known: {known}")
    return path.read_text(encoding="utf-8")


def llguidance_grammar(name: str = "rulelens") -> str:
    """A shipped grammar as llguidance takes it (its own GBNF-to-Lark conversion)."""
    return compile_gbnf(grammar_text(name))


@lru_cache(maxsize=8)
def compile_gbnf(text: str) -> str:
    """GBNF text as llguidance takes it; cached by text, so a format's grammar converts once per process."""
    from llguidance import LLMatcher
    from llguidance.gbnf_to_lark import gbnf_to_lark

    return LLMatcher.grammar_from_lark(gbnf_to_lark(text))


_GRAMMAR_TOKENIZERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def grammar_tokenizer(tokenizer: Any) -> Any:
    """llguidance's view of a Hugging Face (fast) tokenizer: built once per tokenizer (0.3 s for
    SmolLM2's 49k tokens), then shared."""
    import llguidance.hf

    if tokenizer not in _GRAMMAR_TOKENIZERS:
        _GRAMMAR_TOKENIZERS[tokenizer] = llguidance.hf.from_tokenizer(tokenizer, n_vocab=len(tokenizer))
    return _GRAMMAR_TOKENIZERS[tokenizer]


def rule_matcher(grammar_tokenizer: Any, name: str = "rulelens", text: str | None = None) -> Any:
    """A fresh matcher at the start of a rule: ``compute_bitmask()``, ``consume_token(t)``, ``is_accepting()``.

    ``text``: the GBNF of a format's grammar (:class:`rulelens.data.rule_formats.RuleFormat`); by
    default the shipped grammar ``name``."""
    from llguidance import LLMatcher

    matcher = LLMatcher(grammar_tokenizer, compile_gbnf(text) if text is not None else llguidance_grammar(name))
    if matcher.is_error():
        raise ValueError(f"grammar {name!r}: {matcher.get_error()}")
    return matcher


def mask_allows(mask: bytes, token: int) -> bool:
    """Whether llguidance's bitmask (``compute_bitmask()``: one bit per token) allows ``token``."""
    return bool(mask[token // 8] >> (token % 8) & 1)


def accepts_tokens(matcher: Any, token_ids: list[int]) -> bool:
    """Whether every token is allowed by the mask at its step and the grammar accepts the whole."""
    for token in token_ids:
        if not mask_allows(matcher.compute_bitmask(), token) or not matcher.consume_token(token):
            return False
    return matcher.is_accepting()


__all__ = [
    "accepts_tokens",
    "compile_gbnf",
    "grammar_text",
    "grammar_tokenizer",
    "llguidance_grammar",
    "mask_allows",
    "rule_matcher",
]

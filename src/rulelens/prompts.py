"""One prompt definition shared by training, evaluation and attribution.

Attribution must perturb the clause inside exactly the prompt the model was trained on, so
the prompt is built as three strings: ``prefix + clause + suffix``. With a chat template the
parts come from rendering the template around a sentinel; without one a plain instruction
format is used. The target (the rule) is tokenized on its own and appended, so the token
boundary between prompt and rule is identical in training, generation and scoring.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from rulelens.param_blocks import check_block

PROMPT_SOURCE = "conf/base/parameters.yml"  # declares every key of prompt
# The library default (``PromptStyle()``), for callers outside a pipeline run; equal to conf/base's
# ``prompt`` block (a test keeps them equal). Runs read the block through PromptStyle.from_params.
DEFAULT_SYSTEM = (
    "You translate building-code clauses into computer-processable rules in the rulelens "
    "rule format: rule(identifier, subject, when=..., require=...)."
)
DEFAULT_INSTRUCTION = "Translate this building-code clause into one rule.\nClause: "
PLAIN_SUFFIX = "\nRule: "
_SENTINEL = "\u2063CLAUSE\u2063"


@dataclass(frozen=True)
class PromptParts:
    """A prompt split around the clause: ``text == prefix + clause + suffix``."""

    prefix: str
    clause: str
    suffix: str

    @property
    def text(self) -> str:
        return self.prefix + self.clause + self.suffix

    def with_clause(self, clause: str) -> PromptParts:
        """The same prompt around another (for example perturbed) clause."""
        return PromptParts(self.prefix, clause, self.suffix)


@dataclass(frozen=True)
class PromptStyle:
    """How prompts are rendered: the ``prompt`` block (``conf/base/parameters.yml``), so training,
    evaluation and attribution agree. The field defaults are the library default only (see above)."""

    system: str = DEFAULT_SYSTEM
    instruction: str = DEFAULT_INSTRUCTION
    use_chat_template: bool = True

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> PromptStyle:
        """The style of a complete ``prompt`` block (a missing key is an error); None: the library default."""
        if params is None:
            return cls()
        check_block(params, "prompt", [f.name for f in fields(cls)], PROMPT_SOURCE)
        return cls(**params)


def uses_chat_template(tokenizer: Any, style: PromptStyle) -> bool:
    """True when the style asks for a chat template and the tokenizer has one."""
    return bool(style.use_chat_template and getattr(tokenizer, "chat_template", None))


def special_token_strings(tokenizer: Any) -> list[str]:
    """Every string the tokenizer turns into a control token: its special tokens and the added
    tokens marked special (SmolLM2: ``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``,
    ``<repo_name>``, ...). Longest first."""
    strings = {str(t) for t in (getattr(tokenizer, "all_special_tokens", None) or []) if t}
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    strings |= {str(t.content) for t in added.values() if getattr(t, "special", False) and getattr(t, "content", "")}
    return sorted(strings, key=lambda t: (-len(t), t))


def special_tokens_in(tokenizer: Any, text: str) -> list[str]:
    """The tokenizer special-token strings that occur in ``text`` (empty list: none)."""
    return [token for token in special_token_strings(tokenizer) if token in text]


def check_clause_text(tokenizer: Any, clause: str, parts: PromptParts | None = None) -> None:
    """Raise ValueError when ``clause`` would be parsed (partly) as a control token.

    A special-token string inside the clause, or one formed across the clause's boundary with
    the prompt's prefix or suffix, would be tokenized as a control token (for example
    ``<|im_end|>`` ending the user turn) in training, generation and attribution alike.
    """
    found = special_tokens_in(tokenizer, clause)
    if found:
        raise ValueError(
            f"clause contains the tokenizer special token {found[0]!r}; such text would be "
            f"parsed as a control token (clause starts {clause[:60]!r})"
        )
    if parts is None:
        return
    for token in special_token_strings(tokenizer):
        for cut in range(1, len(token)):
            head, tail = token[:cut], token[cut:]
            if (clause.endswith(head) and parts.suffix.startswith(tail)) or (
                parts.prefix.endswith(head) and clause.startswith(tail)
            ):
                raise ValueError(
                    f"clause forms the tokenizer special token {token!r} with the prompt template "
                    f"(clause starts {clause[:60]!r})"
                )


def build_prompt(tokenizer: Any, clause: str, style: PromptStyle = PromptStyle()) -> PromptParts:
    """Render the prompt for ``clause`` and split it around the clause.

    Raises ValueError when the clause contains a tokenizer special-token string (see
    :func:`check_clause_text`): training, generation and attribution all build prompts here.
    """
    check_clause_text(tokenizer, clause)
    if uses_chat_template(tokenizer, style):
        messages = []
        if style.system:
            messages.append({"role": "system", "content": style.system})
        messages.append({"role": "user", "content": style.instruction + _SENTINEL})
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prefix, suffix = rendered.split(_SENTINEL)
    else:
        prefix, suffix = style.instruction, PLAIN_SUFFIX
    parts = PromptParts(prefix=prefix, clause=clause, suffix=suffix)
    check_clause_text(tokenizer, clause, parts)
    return parts


def target_text(tokenizer: Any, rule: str) -> str:
    """The training/scoring target: the rule followed by the end-of-sequence marker."""
    return rule + (tokenizer.eos_token or "")


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without automatically added special tokens.

    Chat templates already spell their special tokens; plain prompts get the tokenizer's
    BOS (if it has one) prepended by :func:`encode_prompt` instead.
    """
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_prompt(tokenizer: Any, parts: PromptParts) -> list[int]:
    """Prompt ids: BOS (when the tokenizer has one and the template did not add it) + text."""
    ids = encode(tokenizer, parts.text)
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is not None and not parts.prefix.startswith(tokenizer.bos_token or "\0") and (not ids or ids[0] != bos):
        if not getattr(tokenizer, "chat_template", None):
            ids = [bos] + ids
    return ids

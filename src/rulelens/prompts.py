"""One prompt definition shared by training, evaluation and attribution.

Attribution must perturb the clause inside exactly the prompt the model was trained on, so
the prompt is built as three strings: ``prefix + clause + suffix``. With a chat template the
parts come from rendering the template around a sentinel; without one a plain instruction
format is used. The target (the rule) is tokenized on its own and appended, so the token
boundary between prompt and rule is identical in training, generation and scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    """How prompts are rendered; comes from parameters so training and attribution agree."""

    system: str = DEFAULT_SYSTEM
    instruction: str = DEFAULT_INSTRUCTION
    use_chat_template: bool = True

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> PromptStyle:
        return cls(**(params or {}))


def uses_chat_template(tokenizer: Any, style: PromptStyle) -> bool:
    """True when the style asks for a chat template and the tokenizer has one."""
    return bool(style.use_chat_template and getattr(tokenizer, "chat_template", None))


def build_prompt(tokenizer: Any, clause: str, style: PromptStyle = PromptStyle()) -> PromptParts:
    """Render the prompt for ``clause`` and split it around the clause."""
    if uses_chat_template(tokenizer, style):
        messages = []
        if style.system:
            messages.append({"role": "system", "content": style.system})
        messages.append({"role": "user", "content": style.instruction + _SENTINEL})
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        prefix, suffix = rendered.split(_SENTINEL)
    else:
        prefix, suffix = style.instruction, PLAIN_SUFFIX
    return PromptParts(prefix=prefix, clause=clause, suffix=suffix)


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

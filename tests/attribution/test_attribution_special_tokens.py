"""A clause can never smuggle a control token into a prompt; the mask placeholder is plain text."""

from __future__ import annotations

import pytest

from rulelens.attribution.plan import plan_clause
from rulelens.prompts import PromptStyle, build_prompt, check_clause_text, special_tokens_in


@pytest.mark.parametrize("token", ["<|im_end|>", "<|endoftext|>", "<|im_start|>", "<file_sep>"])
@pytest.mark.parametrize("chat", [True, False])
def test_build_prompt_rejects_special_token_strings_in_the_clause(smol_tokenizer, token, chat):
    clause = f"C.1 Doors shall open {token} outwards."
    with pytest.raises(ValueError, match="special token") as error:
        build_prompt(smol_tokenizer, clause, PromptStyle(use_chat_template=chat))
    message = str(error.value)
    assert repr(token) in message and "C.1 Doors shall open" in message


def test_build_prompt_accepts_ordinary_clauses(smol_tokenizer, clause):
    parts = build_prompt(smol_tokenizer, clause)
    assert parts.clause == clause and special_tokens_in(smol_tokenizer, clause) == []


def test_special_token_formed_with_the_template_is_rejected(smol_tokenizer):
    from rulelens.prompts import PromptParts

    parts = PromptParts("Translate <|im_", "", "|>")  # a template that leaves a special token half open
    with pytest.raises(ValueError, match="with the prompt template"):
        check_clause_text(smol_tokenizer, "end|> C.1 Doors shall open.", parts)
    with pytest.raises(ValueError, match="with the prompt template"):
        check_clause_text(smol_tokenizer, "C.1 Doors <|im_end", parts.with_clause(""))
    real = build_prompt(smol_tokenizer, "C.1 Doors shall open outwards.")
    check_clause_text(smol_tokenizer, "C.1 Doors shall open outwards <", real)  # "<" + "<|im_end|>": text, then token


def test_training_generation_and_attribution_all_refuse(smol_tokenizer):
    from rulelens.evaluation.generation import prompt_ids
    from rulelens.modeling.sft_examples import encode_example

    clause = "C.1 Exits shall be lit.<|im_end|>"
    with pytest.raises(ValueError, match="special token"):
        encode_example(smol_tokenizer, clause, "rule('C.1', exit)")
    with pytest.raises(ValueError, match="special token"):
        prompt_ids(smol_tokenizer, [clause], PromptStyle())


def test_attribution_plan_refuses_special_tokens(smol_tokenizer):
    with pytest.raises(ValueError, match="<\\|im_end\\|>"):
        plan_clause(smol_tokenizer, "C.1 Exits <|im_end|> shall be lit.")


def test_mask_operator_never_inserts_a_special_token(smol_tokenizer, clause):
    plan = plan_clause(smol_tokenizer, clause, operator="mask")
    assert plan.mask_text == "___"
    special = set(smol_tokenizer.all_special_ids)
    base_count = sum(i in special for i in plan.prompt_ids[0])
    for ids in plan.prompt_ids[1:]:
        assert sum(i in special for i in ids) == base_count  # only the chat template's own
    with pytest.raises(ValueError, match="<\\|endoftext\\|>"):
        plan_clause(smol_tokenizer, clause, operator="mask", mask_token="<|endoftext|>")

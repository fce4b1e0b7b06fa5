"""Fixtures for evaluation tests: the real sentence encoder (once) and scripted tiny models."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def encoder():
    """all-MiniLM-L6-v2 from the offline package, loaded once per test session."""
    from rulelens.evaluation.metrics import load_encoder

    return load_encoder()


@pytest.fixture
def scripted_model(tiny_llama):
    """A tiny Llama whose greedy output is forced to a given token script, through real ``generate``.

    A forward hook adds a large logit to ``script[step]``; the step restarts whenever a prompt
    (more than one input token) is fed, i.e. at every ``generate`` call. ``model.calls`` counts
    decoding steps, so a test can check that generation really ended early.
    """

    def build(script: list[int]):
        model = tiny_llama(seed=0)
        model.calls = 0
        state = {"step": -1}

        def hook(module, args, kwargs, output):
            ids = kwargs.get("input_ids")
            state["step"] = 0 if ids is not None and ids.shape[1] > 1 else state["step"] + 1
            model.calls += 1
            token = script[min(state["step"], len(script) - 1)]
            logits = output.logits.clone()
            logits[..., token] += 1e4
            output.logits = logits
            return output

        model.register_forward_hook(hook, with_kwargs=True)
        return model

    return build

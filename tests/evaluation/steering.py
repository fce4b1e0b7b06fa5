"""Helpers for tiny models steered row by row through the real decoder."""

from __future__ import annotations


def follow_the_batch(cache, state):
    """Keep ``state["rows"]`` (one script per batch row) in step with the decoder dropping finished rows:
    it drops them from the KV cache with ``batch_select_indices``, so the steered model sees the same."""
    select = cache.batch_select_indices

    def select_and_follow(indices):
        state["rows"] = [state["rows"][i] for i in indices.tolist()]
        return select(indices)

    cache.batch_select_indices = select_and_follow

"""Prompt layout for prefix caching: how much of each annotation prompt is shared.

A query's ~100 judgement prompts differ only in the document, which the annotation template puts
last, so a server with prefix caching (vLLM `--enable-prefix-caching`, SGLang's radix cache)
computes the shared part once per query. `shared_prefix_report(groups, count_tokens)` measures
it on real prompts: `groups` maps a query to the prompts of its judgements; per judgement it
counts the prompt tokens and the tokens of the longest prefix common to all the query's prompts.
"""

from __future__ import annotations

import os
from collections.abc import Callable


def chars_per_token_counter(chars_per_token: float = 4.0) -> Callable[[str], int]:
    """A tokenizer-free token count (English text with BPE tokenizers: about 4 chars/token)."""
    return lambda text: max(1, round(len(text) / chars_per_token))


def tokenizer_counter(tokenizer) -> Callable[[str], int]:
    """Token count with a transformers tokenizer (no special tokens)."""
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def shared_prefix_report(
    groups: dict[str, list[str]], count_tokens: Callable[[str], int]
) -> dict[str, float | int]:
    """`judgements`, `prompt_tokens_per_judgement` (mean), `shared_prefix_tokens_per_judgement`
    (mean) and `shared_prefix_share` (shared / prompt tokens, over all judgements). A query with
    one judgement shares nothing (there is nothing to reuse)."""
    judgements = prompt_tokens = shared_tokens = 0
    for prompts in groups.values():
        if not prompts:
            continue
        prefix = os.path.commonprefix(prompts) if len(prompts) > 1 else ""
        prefix_tokens = count_tokens(prefix) if prefix else 0
        for prompt in prompts:
            judgements += 1
            prompt_tokens += count_tokens(prompt)
            shared_tokens += prefix_tokens
    if not judgements:
        return {"judgements": 0}
    return {
        "judgements": judgements,
        "prompt_tokens_per_judgement": round(prompt_tokens / judgements, 1),
        "shared_prefix_tokens_per_judgement": round(shared_tokens / judgements, 1),
        "shared_prefix_share": round(shared_tokens / prompt_tokens, 3),
    }


def annotation_prefix_report(
    rows: list[dict], render: Callable[[dict], str], count_tokens: Callable[[str], int]
) -> dict[str, float | int]:
    """The report for judgement rows (query, doc_text, domain, ...), rendered by `render` (the
    annotation step's `render`), grouped by (domain, query)."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(f"{row['domain']}\n{row['query']}", []).append(render(row))
    return shared_prefix_report(groups, count_tokens)

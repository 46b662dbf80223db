"""Budgets: tokens or cost per role and run, and the kind of row they defer.

`Budget` prices tokens (USD per million prompt / completion tokens, from the role's `price`) and
says when a run's spend reaches `max_tokens` or `max_cost_usd`. Spend is what a run sent fresh;
answers from the request cache are free, so a re-run of a stopped run spends its budget on NEW
requests and goes further. A step whose role's budget is spent sends nothing more: its rows are
marked `rejected_kind = "deferred"` (see steps/llm_task.py). Overshoot is bounded by one batch
per step process, since the check runs before each batch.

The output stays consistent: a query any of whose rows was deferred is left out whole (never a
sample with a part of its candidates judged: steps/assembly.py marks it "deferred"), and deferred
rows are not reported as rejections (they are work for the next run). A run that deferred
anything must not be replayed from distilabel's step cache, which would return the deferred rows
again: `reasonembed.factory.run_state` keeps that fact next to the caches.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFERRED_KIND = "deferred"


@dataclass(frozen=True)
class Budget:
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    prompt_usd_per_million: float = 0.0
    completion_usd_per_million: float = 0.0

    @property
    def limited(self) -> bool:
        return self.max_tokens is not None or self.max_cost_usd is not None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for these tokens."""
        return (
            prompt_tokens * self.prompt_usd_per_million
            + completion_tokens * self.completion_usd_per_million
        ) / 1e6

    def exceeded(self, tokens: int, cost_usd: float) -> str | None:
        """Why a spend of `tokens` / `cost_usd` reaches this budget, or None."""
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return f"{tokens} tokens spent, budget {self.max_tokens}"
        if self.max_cost_usd is not None and cost_usd >= self.max_cost_usd:
            return f"${cost_usd:.4f} spent, budget ${self.max_cost_usd:.4f}"
        return None

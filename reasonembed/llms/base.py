"""The LLM interface every ReMixer step uses, on top of distilabel's `LLM`.

Steps call `complete(prompts, template_hash, attempt)` and get one `Completion` per prompt, in
order. Completions are looked up in, and added to, the request cache first, so a re-run (after a
crash, a kill or a config change elsewhere) never pays twice for a finished request. A re-ask of a
rejected answer uses the next `attempt`, which is part of the cache key and of the sampling seed.

Subclasses implement `_generate(messages_list, seed) -> list[Completion]` (uncached). Being
distilabel `LLM`s, they serialise into pipeline.yaml (never with a secret: only the *name* of the
environment variable that holds an API key is a field) and also work with distilabel's own tasks
through `generate`.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from distilabel.models.llms.base import LLM
from pydantic import Field, PrivateAttr

from reasonembed.llms.budget import Budget
from reasonembed.llms.request_cache import RequestCache, request_key
from reasonembed.llms.usage import UsageLedger, current_run_id, role_of

logger = logging.getLogger(__name__)


@dataclass
class Completion:
    """One answer: text, token counts, whether it came from the request cache, how many times
    the client retried it, and `deferred` (a reason) when there is no answer this run."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    retries: int = 0
    deferred: str | None = None  # why no answer was obtained (budget, server down): ask next run


class ReasonEmbedLLM(LLM):
    """Common fields and the cached `complete` of every backend."""

    model: str
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int | None = 40
    max_new_tokens: int = 512
    seed: int = 42
    request_cache_path: str | None = Field(
        default=None, description="SQLite file of the request cache (None: no cache)."
    )
    price_prompt_usd_per_million: float = 0.0
    price_completion_usd_per_million: float = 0.0
    budget_max_tokens: int | None = None
    budget_max_cost_usd: float | None = None

    _cache: RequestCache | None = PrivateAttr(default=None)
    _ledger: UsageLedger | None = PrivateAttr(default=None)

    def load(self) -> None:
        super().load()
        self._cache = RequestCache(self.request_cache_path) if self.request_cache_path else None
        self._ledger = UsageLedger(self.request_cache_path) if self.request_cache_path else None

    @property
    def budget(self) -> Budget:
        return Budget(
            max_tokens=self.budget_max_tokens,
            max_cost_usd=self.budget_max_cost_usd,
            prompt_usd_per_million=self.price_prompt_usd_per_million,
            completion_usd_per_million=self.price_completion_usd_per_million,
        )

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def identity(self) -> str:
        """What makes two backends give the same answers (cache key part)."""
        return f"{type(self).__name__}:{self.model}"

    def settings(self, max_new_tokens: int | None = None) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "max_new_tokens": max_new_tokens or self.max_new_tokens,
        }

    def complete(
        self,
        prompts: list[str],
        template_hash: str,
        attempt: int = 0,
        max_new_tokens: int | None = None,
        stage: str | None = None,
    ) -> list[Completion]:
        """One completion per prompt (single user turn), served from the cache when possible.

        Fresh requests are recorded in the usage ledger under `stage` (and its role). When the
        role's budget for this run is spent, no request is sent: the uncached prompts get
        completions with `deferred` set (the next run asks them). A request that failed is
        deferred too, and never cached.
        """
        messages_list = [[{"role": "user", "content": prompt}] for prompt in prompts]
        settings = self.settings(max_new_tokens)
        keys = [
            request_key(self.identity, messages, settings, template_hash, attempt)
            for messages in messages_list
        ]
        results: list[Completion | None] = [None] * len(prompts)
        if self._cache is not None:
            for index, key in enumerate(keys):
                hit = self._cache.get(key)
                if hit is not None:
                    results[index] = Completion(hit[0], hit[1], hit[2], cached=True)
        todo = [index for index, result in enumerate(results) if result is None]
        refusal = self._budget_refusal(stage) if todo else None
        fresh: list[Completion] = []
        if refusal:
            for index in todo:
                results[index] = Completion(text="", deferred=refusal)
        elif todo:
            fresh = self._generate(
                [messages_list[index] for index in todo],
                settings=settings,
                seed=self.seed + 1000 * attempt,
            )
            for index, completion in zip(todo, fresh, strict=True):
                results[index] = completion
                if self._cache is not None and completion.deferred is None:
                    self._cache.put(
                        keys[index],
                        completion.text,
                        completion.prompt_tokens,
                        completion.completion_tokens,
                    )
        if self._ledger is not None:
            self._ledger.record(
                current_run_id(),
                stage,
                self.model,
                fresh,
                cached=len(prompts) - len(todo),
                deferred=len(todo) if refusal else 0,
                cost_usd=sum(self.budget.cost(c.prompt_tokens, c.completion_tokens) for c in fresh),
            )
        return [result for result in results if result is not None]

    def _budget_refusal(self, stage: str | None) -> str | None:
        """Why no new request may be sent now (this role's budget is spent), or None."""
        budget = self.budget
        if not budget.limited or self._ledger is None:
            return None
        role = role_of(stage)
        tokens, cost = self._ledger.spent(current_run_id(), role)
        reason = budget.exceeded(tokens, cost)
        if reason:
            logger.warning(
                "%s budget reached (%s): deferring new requests to the next run", role, reason
            )
            return f"budget reached: {role} {reason}"
        return None

    @abstractmethod
    def _generate(
        self, messages_list: list[list[dict]], settings: dict[str, Any], seed: int
    ) -> list[Completion]:
        """Uncached generation, one Completion per conversation, in order."""

    # distilabel's interface, so these backends also serve distilabel's own tasks.
    def generate(self, inputs: list[Any], num_generations: int = 1) -> list[dict]:
        outputs = []
        for conversation in inputs:
            generations, input_tokens, output_tokens = [], [], []
            for attempt in range(num_generations):
                completion = self._generate([conversation], self.settings(), self.seed + attempt)[0]
                generations.append(completion.text)
                input_tokens.append(completion.prompt_tokens)
                output_tokens.append(completion.completion_tokens)
            outputs.append(
                {
                    "generations": generations,
                    "statistics": {"input_tokens": input_tokens, "output_tokens": output_tokens},
                }
            )
        return outputs

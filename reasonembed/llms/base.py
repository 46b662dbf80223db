"""The LLM interface every ReMixer step uses, on top of distilabel's `LLM`.

Steps call `complete(prompts, template_hash, attempt)` and get one `Completion` per prompt, in
order. Completions are looked up in the request cache first; each fresh completion is committed
to the cache the moment it arrives (not when the whole call returns), so a re-run after a crash
or a SIGKILL re-sends at most the requests that were in flight at the kill. A re-ask of a
rejected answer uses the next `attempt`, which is part of the cache key and of the sampling seed.

Answers are stripped of a reasoning block (`strip_reasoning`: everything up to and including the
last `</think>`) before they are cached or returned: the cache holds the answer a step parses.

Subclasses implement `_generate(messages_list, settings, seed) -> list[Completion]` (uncached,
in order). A backend that can hand out answers one by one also overrides
`_generate_each(messages_list, settings, seed, on_result)`, calling `on_result(position,
completion)` as each arrives. `settings` holds temperature, top_p, top_k, max_new_tokens and,
when set, `chat_template_kwargs`. Being distilabel `LLM`s, backends serialise into pipeline.yaml
(never with a secret: only the *name* of the environment variable that holds an API key is a
field), also work with distilabel's own tasks through `generate`, and pickle (loaded or not:
runtime resources, `_runtime_attrs`, are dropped and re-created on first use).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from distilabel.models.llms.base import LLM
from pydantic import Field, PrivateAttr

from reasonembed.llms.budget import Budget
from reasonembed.llms.request_cache import RequestCache, request_key
from reasonembed.llms.usage import UsageLedger, current_run_id, role_of
from reasonembed.logs import quiet_third_party_loggers

logger = logging.getLogger(__name__)

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
# fresh completions are added to the usage ledger at most LEDGER_FLUSH_S seconds after they
# arrive, in rows of at most LEDGER_CHUNK: a killed call loses at most one unrecorded chunk of
# counts, and the progress displays (factory.progress) move as answers arrive
LEDGER_CHUNK = 64
LEDGER_FLUSH_S = 1.0


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


OnResult = Callable[[int, Completion], None]


def strip_reasoning(text: str) -> str:
    """The answer without its reasoning: everything up to and including the last `</think>` is
    dropped (as the ReasonEmbed authors do). An answer that opens `<think>` and never closes it
    (the token limit cut the reasoning) has no answer: "" (the step's parser rejects it)."""
    _, closed, answer = text.rpartition(THINK_CLOSE)
    if closed:
        return answer.strip()
    if text.lstrip().startswith(THINK_OPEN):
        return ""
    return text.strip()


class _LedgerChunks:
    """The usage-ledger rows of one `complete` call, written as completions arrive.

    A completion is written at once when the call wrote nothing in the last LEDGER_FLUSH_S
    seconds, else with the others that arrive meanwhile, by a timer at most LEDGER_FLUSH_S after
    the previous row (or at LEDGER_CHUNK pending): progress readers see every answer about a
    second late at most, and a busy call writes about one row a second, not one per request."""

    def __init__(self, llm: ReasonEmbedLLM, stage: str | None) -> None:
        self.llm, self.stage = llm, stage
        self.pending: list[Completion] = []
        self.last_flush = -math.inf
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def add(self, completion: Completion) -> None:
        with self._lock:
            self.pending.append(completion)
            wait = self.last_flush + LEDGER_FLUSH_S - time.monotonic()
            if len(self.pending) >= LEDGER_CHUNK or wait <= 0:
                self._write()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._on_timer)
                self._timer.daemon = True
                self._timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            self._write()

    def flush(self, cached: int = 0, deferred: int = 0, final: bool = False) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._write(cached, deferred, final)

    def _write(self, cached: int = 0, deferred: int = 0, final: bool = False) -> None:
        if self.llm._ledger is None or not (self.pending or final):
            return
        fresh, self.pending = self.pending, []
        self.last_flush = time.monotonic()
        budget = self.llm.budget
        self.llm._ledger.record(
            current_run_id(),
            self.stage,
            self.llm.model,
            fresh,
            cached=cached,
            deferred=deferred,
            cost_usd=sum(budget.cost(c.prompt_tokens, c.completion_tokens) for c in fresh),
            calls=int(final),
        )


class ReasonEmbedLLM(LLM):
    """Common fields and the cached `complete` of every backend."""

    model: str
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int | None = 40
    max_new_tokens: int = 512
    seed: int = 42
    chat_template_kwargs: dict[str, Any] | None = Field(
        default=None,
        description="Extra arguments of the chat template (e.g. enable_thinking: false).",
    )
    request_cache_path: str | None = Field(
        default=None, description="SQLite file of the request cache (None: no cache)."
    )
    price_prompt_usd_per_million: float = 0.0
    price_completion_usd_per_million: float = 0.0
    budget_max_tokens: int | None = None
    budget_max_cost_usd: float | None = None

    # private attributes that hold runtime resources: dropped when pickled, re-made on use
    _runtime_attrs: ClassVar[tuple[str, ...]] = ("_cache", "_ledger")
    _cache: RequestCache | None = PrivateAttr(default=None)
    _ledger: UsageLedger | None = PrivateAttr(default=None)

    def load(self) -> None:
        super().load()
        quiet_third_party_loggers()  # step processes too: no log line per HTTP request
        self._open_stores()

    def _open_stores(self) -> None:
        """Open the request cache and the usage ledger (once per process)."""
        if self.request_cache_path and self._cache is None:
            self._cache = RequestCache(self.request_cache_path)
            self._ledger = UsageLedger(self.request_cache_path)

    def __getstate__(self) -> dict[Any, Any]:
        """Pickle the configuration only: runtime resources (`_runtime_attrs`) are reset."""
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        for name in self._runtime_attrs:
            private[name] = self.__private_attributes__[name].get_default(call_default_factory=True)
        state["__pydantic_private__"] = private
        return state

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
        """Generation settings (part of the cache key; `chat_template_kwargs` only when set, so
        the keys of earlier runs stay valid)."""
        settings = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "max_new_tokens": max_new_tokens or self.max_new_tokens,
        }
        if self.chat_template_kwargs:
            settings["chat_template_kwargs"] = dict(self.chat_template_kwargs)
        return settings

    def complete(
        self,
        prompts: list[str],
        template_hash: str,
        attempt: int = 0,
        max_new_tokens: int | None = None,
        stage: str | None = None,
    ) -> list[Completion]:
        """One completion per prompt (single user turn), in order, from the cache when possible.

        Each fresh answer is committed to the request cache as it arrives and recorded in the
        usage ledger under `stage` (and its role), in chunks. When the role's budget for this
        run is spent, no request is sent: the uncached prompts get completions with `deferred`
        set (the next run asks them). A request that failed is deferred too, and never cached.
        """
        self._open_stores()
        messages_list = [[{"role": "user", "content": prompt}] for prompt in prompts]
        settings = self.settings(max_new_tokens)
        keys = [
            request_key(self.identity, messages, settings, template_hash, attempt)
            for messages in messages_list
        ]
        results: list[Completion | None] = [None] * len(prompts)
        if self._cache is not None:
            for index, hit in enumerate(self._cache.get_many(keys)):
                if hit is not None:
                    results[index] = Completion(hit[0], hit[1], hit[2], cached=True)
        todo = [index for index, result in enumerate(results) if result is None]
        refusal = self._budget_refusal(stage) if todo else None
        ledger = _LedgerChunks(self, stage)
        if refusal:
            for index in todo:
                results[index] = Completion(text="", deferred=refusal)
        elif todo:

            def on_result(position: int, completion: Completion) -> None:
                index = todo[position]
                completion.text = strip_reasoning(completion.text)
                if self._cache is not None and completion.deferred is None:
                    self._cache.put(
                        keys[index],
                        completion.text,
                        completion.prompt_tokens,
                        completion.completion_tokens,
                        model=self.identity,
                        stage=stage,
                    )
                results[index] = completion
                ledger.add(completion)

            try:
                self._generate_each(
                    [messages_list[index] for index in todo],
                    settings=settings,
                    seed=self.seed + 1000 * attempt,
                    on_result=on_result,
                )
            except BaseException:
                ledger.flush()  # what arrived is cached: keep its counts too
                raise
        missing = [index for index, result in enumerate(results) if result is None]
        if missing:
            raise RuntimeError(f"{type(self).__name__} gave no answer for prompts {missing[:5]}")
        ledger.flush(
            cached=len(prompts) - len(todo), deferred=len(todo) if refusal else 0, final=True
        )
        return results  # type: ignore[return-value]

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

    def _generate(
        self, messages_list: list[list[dict]], settings: dict[str, Any], seed: int
    ) -> list[Completion]:
        """Uncached generation, one Completion per conversation, in order. A backend overrides
        this or `_generate_each` (default: `_generate_each`'s answers, put in order)."""
        results: list[Any] = [None] * len(messages_list)
        self._generate_each(messages_list, settings, seed, results.__setitem__)
        return results

    def _generate_each(
        self,
        messages_list: list[list[dict]],
        settings: dict[str, Any],
        seed: int,
        on_result: OnResult,
    ) -> None:
        """Uncached generation calling `on_result(position, completion)` exactly once per
        conversation, as soon as it is available (any order). Default: after `_generate`."""
        for position, completion in enumerate(self._generate(messages_list, settings, seed)):
            on_result(position, completion)

    # distilabel's interface, so these backends also serve distilabel's own tasks.
    def generate(self, inputs: list[Any], num_generations: int = 1) -> list[dict]:
        outputs = []
        for conversation in inputs:
            generations, input_tokens, output_tokens = [], [], []
            for attempt in range(num_generations):
                completion = self._generate([conversation], self.settings(), self.seed + attempt)[0]
                generations.append(strip_reasoning(completion.text))
                input_tokens.append(completion.prompt_tokens)
                output_tokens.append(completion.completion_tokens)
            outputs.append(
                {
                    "generations": generations,
                    "statistics": {"input_tokens": input_tokens, "output_tokens": output_tokens},
                }
            )
        return outputs

"""`openai` backend: any OpenAI-compatible chat-completions server (vLLM, SGLang,
`transformers serve`, llama.cpp, OpenAI).

- Concurrency: `concurrency` workers per call, each taking the next prompt as soon as its
  previous request is answered (no head-of-line blocking: a slow request holds one slot only).
  Each answer is handed to `on_result` (the request cache commits it) before its worker takes
  another prompt, so at most `concurrency` answered requests are ever uncommitted.
- Retries are the `openai` client's own (`max_retries`): 408/409/429/5xx, timeouts and dropped
  connections, exponential backoff with jitter, Retry-After honoured. This class only COUNTS
  them, through an httpx event hook that reads the client's `x-stainless-retry-count` header on
  every attempt; responses with an error status are counted by code.
- `timeout_s` bounds every attempt (connect, read, write).
- Several `base_urls`: requests are spread round-robin; a request that still fails after its
  retries on one server is tried once on each other server.
- A request that fails everywhere does not raise (distilabel would turn the whole batch into
  rows of None): its `Completion` carries `deferred` (the reason), is never cached, and the step
  marks the row deferred so that the next run asks again.
- The API key is read from the environment variable named by `api_key_env` at load time, never
  stored in a field (so never in pipeline.yaml), and the `openai` client's own log filter
  redacts it from debug logs.

- `chat_template_kwargs` (e.g. `{"enable_thinking": False}` for Qwen3) is sent in the request
  body as `chat_template_kwargs` (vLLM and SGLang read it there), next to `top_k`.

One event loop and one `AsyncOpenAI` client (one httpx connection pool) per server and instance,
created at `load` in the process that runs the step and reused by every call. No log line per
request: `load` quiets the HTTP clients' loggers (`reasonembed.logs.QUIET_LOGGERS`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections import Counter
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr

from reasonembed.errors import UserError
from reasonembed.llms.base import Completion, OnResult, ReasonEmbedLLM

logger = logging.getLogger(__name__)

RETRY_HEADER = "x-stainless-retry-count"
# The retry counter of the request being sent by the current asyncio task.
_request_retries: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "reasonembed_request_retries", default=None
)


class OpenAICompatibleLLM(ReasonEmbedLLM):
    base_urls: list[str]
    api_key_env: str | None = None
    concurrency: int = Field(default=8, ge=1)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=6, ge=0)

    _runtime_attrs: ClassVar[tuple[str, ...]] = (
        *ReasonEmbedLLM._runtime_attrs,
        "_clients",
        "_loop",
        "_transport",
    )
    _clients: list[Any] = PrivateAttr(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = PrivateAttr(default=None)
    _transport: Counter = PrivateAttr(default_factory=Counter)

    @property
    def identity(self) -> str:
        return f"openai:{self.model}"

    def load(self) -> None:
        if self._loop is not None:  # loaded before: close those clients first
            self.unload()
        super().load()
        import openai

        api_key = "EMPTY"
        if self.api_key_env:
            api_key = os.environ.get(self.api_key_env, "")
            if not api_key:
                raise UserError(
                    f"environment variable {self.api_key_env} (api_key_env) is not set or empty"
                )
        self._loop = asyncio.new_event_loop()
        hooks = {"request": [self._on_request], "response": [self._on_response]}
        defaults = openai.DEFAULT_CONNECTION_LIMITS  # keep one open connection per worker
        limits = type(defaults)(
            max_connections=max(defaults.max_connections or 0, self.concurrency),
            max_keepalive_connections=max(
                defaults.max_keepalive_connections or 0, self.concurrency
            ),
            keepalive_expiry=defaults.keepalive_expiry,
        )
        self._clients = [
            openai.AsyncOpenAI(
                base_url=url,
                api_key=api_key,
                timeout=self.timeout_s,
                max_retries=self.max_retries,
                http_client=openai.DefaultAsyncHttpxClient(
                    event_hooks=hooks, timeout=self.timeout_s, limits=limits
                ),
            )
            for url in self.base_urls
        ]

    def unload(self) -> None:
        if self._loop is not None:
            for client in self._clients:
                self._loop.run_until_complete(client.close())
            self._loop.close()
        self._clients, self._loop = [], None

    @property
    def transport_counts(self) -> dict[str, int]:
        """Since load: `http_requests` (attempts sent), `retries`, `status_<code>` of error
        responses, `failed` (requests that failed on every server)."""
        return dict(self._transport)

    async def _on_request(self, request: Any) -> None:
        self._transport["http_requests"] += 1
        if int(request.headers.get(RETRY_HEADER, "0") or 0) > 0:
            self._transport["retries"] += 1
            counter = _request_retries.get()
            if counter is not None:
                counter[0] += 1

    async def _on_response(self, response: Any) -> None:
        if response.status_code >= 400:
            self._transport[f"status_{response.status_code}"] += 1

    def _generate_each(
        self,
        messages_list: list[list[dict]],
        settings: dict[str, Any],
        seed: int,
        on_result: OnResult,
    ) -> None:
        if self._loop is None:
            self.load()
        self._loop.run_until_complete(self._run_workers(messages_list, settings, seed, on_result))

    async def _run_workers(self, messages_list, settings, seed, on_result: OnResult) -> None:
        """`concurrency` workers over one shared queue of positions."""
        positions = iter(range(len(messages_list)))
        extra = {"top_k": settings["top_k"]} if settings.get("top_k") else {}
        if settings.get("chat_template_kwargs"):
            extra["chat_template_kwargs"] = settings["chat_template_kwargs"]

        async def worker() -> None:
            for position in positions:  # next() never awaits: each position is taken once
                completion = await self._one(
                    messages_list[position],
                    settings,
                    seed,
                    extra or None,
                    position % len(self._clients),
                )
                on_result(position, completion)

        workers = [worker() for _ in range(min(self.concurrency, len(messages_list)))]
        await asyncio.gather(*workers)

    async def _one(self, messages, settings, seed, extra, start: int) -> Completion:
        """One request: on the server `start` first, then once on each other server."""
        import openai

        retries = [0]
        _request_retries.set(retries)  # this task's own context: the hooks see it
        errors = []
        for offset in range(len(self._clients)):
            index = (start + offset) % len(self._clients)
            try:
                response = await self._clients[index].chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=settings["temperature"],
                    top_p=settings["top_p"],
                    max_tokens=settings["max_new_tokens"],
                    seed=seed,
                    extra_body=extra,
                )
            except openai.APIError as error:
                status = getattr(error, "status_code", None)
                errors.append(f"{self.base_urls[index]}: {type(error).__name__} {status or ''}")
                logger.warning(
                    "request failed after %d retries at %s: %s",
                    self.max_retries,
                    self.base_urls[index],
                    type(error).__name__,
                )
                continue
            usage = response.usage
            return Completion(
                text=response.choices[0].message.content or "",
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                retries=retries[0],
            )
        self._transport["failed"] += 1
        return Completion(
            text="",
            retries=retries[0],
            deferred="request failed on every server: " + "; ".join(errors),
        )

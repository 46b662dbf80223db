"""`openai` backend: any OpenAI-compatible chat-completions server (vLLM, SGLang,
`transformers serve`, llama.cpp, OpenAI).

Async with bounded concurrency; the `openai` client retries 408/409/429/5xx, timeouts and dropped
connections with exponential backoff and jitter, honouring Retry-After (`max_retries`); each
request has `timeout_s`. Several `base_url`s spread requests round-robin. The API key is read from
the environment variable named by `api_key_env` at load time and never stored in a field.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

from pydantic import PrivateAttr

from reasonembed.errors import UserError
from reasonembed.llms.base import Completion, ReasonEmbedLLM


class OpenAICompatibleLLM(ReasonEmbedLLM):
    base_urls: list[str]
    api_key_env: str | None = None
    concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 6

    _clients: list[Any] = PrivateAttr(default_factory=list)

    @property
    def identity(self) -> str:
        return f"openai:{self.model}"

    def load(self) -> None:
        super().load()
        from openai import AsyncOpenAI

        api_key = "EMPTY"
        if self.api_key_env:
            api_key = os.environ.get(self.api_key_env, "")
            if not api_key:
                raise UserError(
                    f"environment variable {self.api_key_env} (api_key_env) is not set or empty"
                )
        self._clients = [
            AsyncOpenAI(
                base_url=url, api_key=api_key, timeout=self.timeout_s, max_retries=self.max_retries
            )
            for url in self.base_urls
        ]

    def _generate(
        self, messages_list: list[list[dict]], settings: dict[str, Any], seed: int
    ) -> list[Completion]:
        return asyncio.run(self._agenerate_all(messages_list, settings, seed))

    async def _agenerate_all(self, messages_list, settings, seed) -> list[Completion]:
        semaphore = asyncio.Semaphore(self.concurrency)
        clients = itertools.cycle(self._clients)

        async def one(messages: list[dict], client: Any) -> Completion:
            extra = {"top_k": settings["top_k"]} if settings["top_k"] else {}
            async with semaphore:
                response = await client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=settings["temperature"],
                    top_p=settings["top_p"],
                    max_tokens=settings["max_new_tokens"],
                    seed=seed,
                    extra_body=extra or None,
                )
            usage = response.usage
            return Completion(
                text=(response.choices[0].message.content or "").strip(),
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
            )

        return list(await asyncio.gather(*(one(m, next(clients)) for m in messages_list)))

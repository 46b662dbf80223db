"""LLM backends `local`, `openai`, `vllm`, built from an `LLMConfig`.

May import nothing above it: the helpers (`errors`, `logs`, `network`), `data`, `config`,
`retrieval` (model folders, torch threads) and `prompts`; never steps, the run, quality, BRIGHT,
train, eval, hub, validation or a command (tests/test_layers.py).
"""

from __future__ import annotations

from reasonembed.config import LLMConfig
from reasonembed.errors import UserError
from reasonembed.llms.base import Completion, ReasonEmbedLLM, strip_reasoning
from reasonembed.llms.request_cache import request_cache_path

__all__ = ["Completion", "ReasonEmbedLLM", "build_llm", "strip_reasoning"]


def build_llm(config: LLMConfig, cache_dir: str, seed: int) -> ReasonEmbedLLM:
    """The backend `config` names, sharing the request cache under `cache_dir`."""
    common = dict(
        model=config.model,
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=config.top_k,
        max_new_tokens=config.max_new_tokens,
        chat_template_kwargs=config.chat_template_kwargs,
        seed=seed,
        request_cache_path=str(request_cache_path(cache_dir)),
        price_prompt_usd_per_million=config.price.prompt_usd_per_million,
        price_completion_usd_per_million=config.price.completion_usd_per_million,
        budget_max_tokens=config.budget.max_tokens,
        budget_max_cost_usd=config.budget.max_cost_usd,
    )
    if config.backend == "local":
        from reasonembed.llms.local import LocalTransformersLLM

        return LocalTransformersLLM(
            model_cache_dir=cache_dir, batch_size=config.batch_size, **common
        )
    if config.backend == "openai":
        from reasonembed.llms.openai_compat import OpenAICompatibleLLM

        if not config.base_url:
            raise UserError("backend openai needs `base_url` (e.g. http://127.0.0.1:8000/v1)")
        urls = [config.base_url] if isinstance(config.base_url, str) else list(config.base_url)
        return OpenAICompatibleLLM(
            base_urls=urls,
            api_key_env=config.api_key_env,
            concurrency=config.concurrency,
            timeout_s=config.timeout_s,
            max_retries=config.max_retries,
            **common,
        )
    if config.backend == "vllm":
        try:
            from reasonembed.llms.vllm_backend import VLLMLLM
        except ImportError as error:
            raise UserError(
                f"backend vllm needs the optional extra: pip install 'reasonembed[vllm]' ({error})"
            ) from error
        return VLLMLLM(**common)
    raise UserError(f"unknown LLM backend {config.backend!r}")

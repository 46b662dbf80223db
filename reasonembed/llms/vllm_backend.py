"""`vllm` backend: vLLM in the step's own process (GPU nodes), prefix caching on.

distilabel 1.5.3's own vLLM class passes `SamplingParams(logits_processors=...)`, which current
vLLM rejects; this class builds plain `SamplingParams` and calls `LLM.chat`, which applies the
model's chat template. vLLM is an optional extra (`pip install 'reasonembed[vllm]'`, in its own
environment: it pins its own torch); this module imports without it and `load` says how to
install it. Prefix caching (`enable_prefix_caching`) lets a query's ~100 annotation prompts,
which share everything before the document, reuse one KV cache prefix.

`chat_template_kwargs` (e.g. `{"enable_thinking": False}` for Qwen3) go to `LLM.chat`. One
`chat` call per `complete` call: its answers reach the request cache together when it returns
(vLLM batches the whole call; a kill loses the call's requests, which were all in flight).

To scale past one machine, run `vllm serve MODEL --enable-prefix-caching` on each GPU node and
list all of them as the `openai` backend's `base_url`s instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, PrivateAttr

from reasonembed.errors import UserError
from reasonembed.llms.base import Completion, ReasonEmbedLLM


class VLLMLLM(ReasonEmbedLLM):
    dtype: str = "auto"
    tensor_parallel_size: int = Field(default=1, ge=1)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    max_model_len: int | None = None
    enable_prefix_caching: bool = True
    extra_engine_args: dict[str, Any] = Field(default_factory=dict)

    _runtime_attrs: ClassVar[tuple[str, ...]] = (*ReasonEmbedLLM._runtime_attrs, "_engine")
    _engine: Any = PrivateAttr(default=None)

    @property
    def identity(self) -> str:
        return f"vllm:{self.model}"

    def load(self) -> None:
        super().load()
        try:
            import vllm
        except ImportError as error:
            raise UserError(
                "backend vllm needs the optional extra, in an environment of its own: "
                f"pip install 'reasonembed[vllm]' ({error})"
            ) from error
        self._engine = vllm.LLM(
            model=self.model,
            dtype=self.dtype,
            tensor_parallel_size=self.tensor_parallel_size,
            gpu_memory_utilization=self.gpu_memory_utilization,
            max_model_len=self.max_model_len,
            enable_prefix_caching=self.enable_prefix_caching,
            seed=self.seed,
            **self.extra_engine_args,
        )

    def unload(self) -> None:
        self._engine = None

    def sampling_params(self, settings: dict[str, Any], seed: int):
        from vllm import SamplingParams

        return SamplingParams(
            temperature=settings["temperature"],
            top_p=settings["top_p"],
            top_k=settings["top_k"] or -1,  # -1: no top-k cut
            max_tokens=settings["max_new_tokens"],
            seed=seed,
        )

    def _generate(
        self, messages_list: list[list[dict]], settings: dict[str, Any], seed: int
    ) -> list[Completion]:
        if self._engine is None:
            self.load()
        outputs = self._engine.chat(
            messages_list,
            self.sampling_params(settings, seed),
            use_tqdm=False,
            chat_template_kwargs=settings.get("chat_template_kwargs"),
        )
        return [
            Completion(
                text=output.outputs[0].text,
                prompt_tokens=len(output.prompt_token_ids or []),
                completion_tokens=len(output.outputs[0].token_ids),
            )
            for output in outputs
        ]

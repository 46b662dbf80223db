"""`local` backend: the bundled SmolLM2-135M-Instruct run in-process with transformers.

Offline and laptop-sized, demo quality. Besides free generation it offers `score_choices`: given
a prompt and the start of the assistant's answer, the probability of each of a few short choices
as the next token (used to force the `<score>N</score>` of an annotation, which a 135M model
does not write reliably on its own). `chat_template_kwargs` go to the tokenizer's
`apply_chat_template`. Answers reach the request cache batch by batch (`batch_size`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import PrivateAttr

from reasonembed.llms.base import Completion, OnResult, ReasonEmbedLLM
from reasonembed.llms.local_model import LOCAL_MODEL_NAME, ensure_local_model
from reasonembed.logs import quiet_model_loading
from reasonembed.retrieval.forking import DEFAULT_STEP_TORCH_THREADS, limit_torch_threads


class LocalTransformersLLM(ReasonEmbedLLM):
    model: str = LOCAL_MODEL_NAME
    model_cache_dir: str = ".cache/reasonembed"
    batch_size: int = 8
    torch_threads: int = DEFAULT_STEP_TORCH_THREADS

    _runtime_attrs: ClassVar[tuple[str, ...]] = (
        *ReasonEmbedLLM._runtime_attrs,
        "_model",
        "_tokenizer",
    )
    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)

    def load(self) -> None:
        super().load()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        limit_torch_threads(self.torch_threads)
        path = (
            ensure_local_model(self.model_cache_dir)
            if self.model == LOCAL_MODEL_NAME
            else self.model
        )
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._tokenizer.padding_side = "left"
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        quiet_model_loading()
        self._model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        self._model.eval()

    def unload(self) -> None:
        self._model = None
        self._tokenizer = None

    def _loaded(self) -> None:
        """Load on first use (after unpickling, or when no one called `load`)."""
        if self._model is None:
            self.load()

    def _chat_text(self, messages: list[dict], assistant_prefix: str = "") -> str:
        text = self._tokenizer.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=False,
            **(self.chat_template_kwargs or {}),
        )
        return text + assistant_prefix

    def _generate_each(
        self,
        messages_list: list[list[dict]],
        settings: dict[str, Any],
        seed: int,
        on_result: OnResult,
    ) -> None:
        """Batches of `batch_size`; each answer goes to `on_result` when its batch is done."""
        import torch

        self._loaded()
        for start in range(0, len(messages_list), self.batch_size):
            chunk = messages_list[start : start + self.batch_size]
            texts = [self._chat_text(messages) for messages in chunk]
            batch = self._tokenizer(texts, return_tensors="pt", padding=True)
            torch.manual_seed(seed + start)
            sampling = settings["temperature"] > 0
            with torch.inference_mode():
                output = self._model.generate(
                    **batch,
                    max_new_tokens=settings["max_new_tokens"],
                    do_sample=sampling,
                    temperature=settings["temperature"] if sampling else None,
                    top_p=settings["top_p"] if sampling else None,
                    top_k=settings["top_k"] if sampling else None,
                    repetition_penalty=1.1,
                    pad_token_id=self._tokenizer.pad_token_id,
                )
            prompt_length = batch["input_ids"].shape[1]
            for row, sequence in enumerate(output):
                generated = sequence[prompt_length:]
                keep = generated != self._tokenizer.pad_token_id
                eos = (generated == self._tokenizer.eos_token_id).nonzero()
                n_tokens = int(eos[0, 0]) if len(eos) else int(keep.sum())
                on_result(
                    start + row,
                    Completion(
                        text=self._tokenizer.decode(generated[:n_tokens], skip_special_tokens=True),
                        prompt_tokens=int(batch["attention_mask"][row].sum()),
                        completion_tokens=n_tokens,
                    ),
                )

    def score_choices(
        self, prompts: list[str], assistant_prefixes: list[str], choices: list[str]
    ) -> list[dict[str, float]]:
        """For each prompt, P(choice | prompt, assistant prefix), renormalised over `choices`.

        Each choice must be a single token for this tokenizer (digits are).
        """
        import torch

        self._loaded()
        choice_ids = []
        for choice in choices:
            ids = self._tokenizer.encode(choice, add_special_tokens=False)
            if len(ids) != 1:
                raise ValueError(f"choice {choice!r} is not a single token for {self.model}")
            choice_ids.append(ids[0])
        results = []
        for start in range(0, len(prompts), self.batch_size):
            texts = [
                self._chat_text([{"role": "user", "content": prompt}], prefix)
                for prompt, prefix in zip(
                    prompts[start : start + self.batch_size],
                    assistant_prefixes[start : start + self.batch_size],
                    strict=True,
                )
            ]
            batch = self._tokenizer(texts, return_tensors="pt", padding=True)
            with torch.inference_mode():
                logits = self._model(**batch, logits_to_keep=1).logits[:, -1, :]
            probabilities = torch.softmax(logits[:, choice_ids].float(), dim=-1)
            for row in probabilities:
                results.append({choice: float(p) for choice, p in zip(choices, row, strict=True)})
        return results

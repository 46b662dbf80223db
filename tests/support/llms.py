"""The one test double for LLMs: a `ReasonEmbedLLM` whose answers the test scripts.

`ScriptedLLM(answers=...)` answers each prompt it is sent (a cache miss of `complete`, or
distilabel's `generate`):

- a list of texts: consumed in order, one per prompt (a test can assert `answers == []`);
- a callable `prompt -> text`: the answer is a function of the prompt;
- None (the default): any request fails the test (for tests that only render prompts).

Every completion reports `prompt_tokens` and `completion_tokens` (default 0). `sent` records
the prompts sent, in order. The double runs behind the real `complete` (request cache, usage
ledger, budget), so only the backend is replaced.
"""

from __future__ import annotations

from collections.abc import Callable

from reasonembed.llms.base import Completion, ReasonEmbedLLM


class ScriptedLLM(ReasonEmbedLLM):
    """Answers from `answers` (list, callable or None: see the module docstring)."""

    model: str = "scripted"
    answers: list[str] | Callable[[str], str] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    sent: list[str] = []

    def _generate(self, messages_list, settings, seed):
        prompts = [messages[-1]["content"] for messages in messages_list]
        if self.answers is None:
            raise AssertionError(
                f"no LLM call expected (this test only renders prompts): {prompts}"
            )
        self.sent.extend(prompts)
        if callable(self.answers):
            texts = [self.answers(prompt) for prompt in prompts]
        else:
            texts = [self.answers.pop(0) for _ in prompts]
        return [Completion(text, self.prompt_tokens, self.completion_tokens) for text in texts]

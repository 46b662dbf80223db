"""The shared shape of every LLM step: prompt, parse, re-ask, quarantine, pass through.

A row that an earlier stage rejected (`rejected_stage` set) passes through untouched. For the
others, a step renders one prompt per row, asks its LLM, and parses each answer. An answer that
fails its parser is asked again (a new `attempt`, so a new sample, up to `max_reasks` times);
after that the row is rejected with kind "quarantine", its stage and the parser's reason, and it
never becomes data. A row whose request got no answer this run (budget reached, server down:
`Completion.deferred`) is rejected with kind "deferred" and the reason: it is work for the next
run, never data and never a quarantine. Every row records `{stage}_attempts`, `{stage}_prompt_tokens`,
`{stage}_completion_tokens` and `{stage}_cached_requests`.
"""

from abc import abstractmethod
from typing import Any

from distilabel.steps import StepInput
from distilabel.steps.tasks import Task
from distilabel.typing import StepOutput
from pydantic import Field, model_validator

from reasonembed.data.records import USAGE_FIELDS
from reasonembed.prompts import PromptTemplate, get_template

REJECTION_COLUMNS = ("rejected_stage", "rejected_kind", "rejected_reason")


def is_rejected(row: dict[str, Any]) -> bool:
    return row.get("rejected_stage") is not None


def reject(row: dict[str, Any], stage: str, kind: str, reason: str) -> dict[str, Any]:
    """The row marked as rejected (kind "quarantine": LLM failure; "drop": a decision)."""
    return {**row, "rejected_stage": stage, "rejected_kind": kind, "rejected_reason": reason}


class ReMixerLLMTask(Task):
    """Base of the LLM steps. Subclasses set `stage`, `template_name`, provide `max_reasks` (a
    field, or a property reading their config block), and implement `render(row)`,
    `parse(text, row) -> (value, error)` and `accept(row, value, text) -> dict`."""

    stage: str = ""
    template_name: str = ""
    prompt_template: str = Field(
        default="",
        description="The template's text (filled from reasonembed/prompts at construction): part "
        "of the step's signature, so editing a template invalidates this step's cached outputs.",
    )
    max_new_tokens: int | None = Field(
        default=None, ge=1, description="None: the LLM's own (its role's `max_new_tokens`)"
    )

    @model_validator(mode="after")
    def _fill_prompt_template(self) -> "ReMixerLLMTask":
        if not self.prompt_template and self.template_name:
            self.prompt_template = get_template(self.template_name).text
        return self

    @property
    def template(self) -> PromptTemplate:
        return PromptTemplate(name=self.template_name, text=self.prompt_template)

    def format_input(self, input: dict[str, Any]) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.render(input)}]

    def format_output(
        self, output: str | None, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {}

    @property
    def stage_columns(self) -> list[str]:
        """Per-row accounting: attempts, tokens, cached requests and the hash of the prompt
        template that produced the row."""
        return [f"{self.stage}_{name}" for name in USAGE_FIELDS] + [f"{self.stage}_prompt_hash"]

    @abstractmethod
    def render(self, row: dict[str, Any]) -> str: ...

    @abstractmethod
    def parse(self, text: str, row: dict[str, Any]) -> tuple[Any, str | None]:
        """(value, None) when the answer is usable, else (None, reason)."""

    @abstractmethod
    def accept(self, row: dict[str, Any], value: Any, text: str) -> dict[str, Any]:
        """The output columns of an accepted answer."""

    def empty_outputs(self) -> dict[str, Any]:
        """Output columns of a rejected row (all None)."""
        skip = set(REJECTION_COLUMNS) | set(self.stage_columns)
        return {name: None for name in self.outputs if name not in skip}

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        yield self.ask(inputs)

    def ask(self, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`inputs` with this step's output columns: each row not rejected before is asked
        (re-asked up to `max_reasks` times), then accepted, quarantined or deferred."""
        rows = [dict(row) for row in inputs]
        for row in rows:
            for name in REJECTION_COLUMNS:
                row.setdefault(name, None)
            row.update({f"{self.stage}_{name}": 0 for name in USAGE_FIELDS})
            row[f"{self.stage}_prompt_hash"] = self.template.hash
        pending = [index for index, row in enumerate(rows) if not is_rejected(row)]
        last_error: dict[int, str] = {}
        last_text: dict[int, str] = {}
        results: dict[int, dict[str, Any]] = {}
        deferred: dict[int, str] = {}
        for attempt in range(self.max_reasks + 1):
            if not pending:
                break
            completions = self.llm.complete(
                [self.render(rows[index]) for index in pending],
                template_hash=self.template.hash,
                attempt=attempt,
                max_new_tokens=self.max_new_tokens,
                stage=self.stage,
            )
            still_pending = []
            for index, completion in zip(pending, completions, strict=True):
                row = rows[index]
                if completion.deferred is not None:
                    deferred[index] = completion.deferred
                    continue
                row[f"{self.stage}_attempts"] += 1
                row[f"{self.stage}_prompt_tokens"] += completion.prompt_tokens
                row[f"{self.stage}_completion_tokens"] += completion.completion_tokens
                row[f"{self.stage}_cached_requests"] += int(completion.cached)
                value, error = self.parse(completion.text, row)
                if error is None:
                    results[index] = self.accept(row, value, completion.text)
                else:
                    last_error[index], last_text[index] = error, completion.text
                    still_pending.append(index)
            pending = still_pending
        output = []
        for index, row in enumerate(rows):
            if index in results:
                output.append({**row, **results[index]})
            elif is_rejected(row):
                output.append({**self.empty_outputs(), **row})
            elif index in deferred:
                output.append(
                    reject({**row, **self.empty_outputs()}, self.stage, "deferred", deferred[index])
                )
            else:
                reason = f"{last_error[index]} (after {row[f'{self.stage}_attempts']} attempts; last answer: {last_text[index][:200]!r})"
                output.append(
                    reject(
                        {
                            **row,
                            **self.empty_outputs(),
                            **self.rejected_outputs(row, last_text[index], last_error[index]),
                        },
                        self.stage,
                        "quarantine",
                        reason,
                    )
                )
        return output

    def rejected_outputs(self, row: dict[str, Any], text: str, error: str) -> dict[str, Any]:
        """Extra columns for a quarantined row (default none)."""
        return {}

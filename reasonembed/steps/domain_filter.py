"""Optional LLM domain filter: "is this passage about TOPIC? yes/no". A "no" drops the seed
(kind "drop", stage "domain_filter"); an answer that is neither is re-asked, then quarantined.

It runs before sampling, as the authors do: the seed step draws more candidates than the
domain's quota (`DomainFilterConfig.oversample`), in sampling order, and this step keeps the first
`seed_quota[domain]` that pass. Once a domain's quota is full, its later rows are dropped as
NOT_SAMPLED without an LLM call. Batches arrive in order (one replica), so the choice is
deterministic.
"""

import re
from collections import Counter
from typing import Any

from distilabel.steps import StepInput
from pydantic import Field, PrivateAttr

from reasonembed.steps.llm_task import REJECTION_COLUMNS, is_rejected, reject
from reasonembed.steps.queries import _DomainAware

YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


NOT_SAMPLED = "not sampled: the domain's max_seeds already passed the domain filter"


class FilterDomain(_DomainAware):
    stage: str = "domain_filter"
    template_name: str = "domain_filter"
    max_reasks: int = Field(default=2, ge=0)
    max_new_tokens: int | None = 4
    seed_quota: dict[str, int] = Field(
        default_factory=dict, description="domain -> seeds to keep (none: keep every pass)"
    )

    _passed: Counter = PrivateAttr(default_factory=Counter)

    def process(self, inputs: StepInput):  # type: ignore[override]
        rows = [
            reject(dict(row), self.stage, "drop", NOT_SAMPLED) if self._quota_full(row) else row
            for row in inputs
        ]
        answered = self.ask(rows)
        for position, row in enumerate(answered):
            if is_rejected(row):
                continue
            if self._quota_full(row):
                answered[position] = reject(row, self.stage, "drop", NOT_SAMPLED)
            else:
                self._passed[row["domain"]] += 1
        yield answered

    def _quota_full(self, row: dict[str, Any]) -> bool:
        quota = self.seed_quota.get(row["domain"])
        return not is_rejected(row) and quota is not None and self._passed[row["domain"]] >= quota

    @property
    def inputs(self) -> list[str]:
        return ["source_text", "domain"]

    @property
    def outputs(self) -> list[str]:
        return [*REJECTION_COLUMNS, *self.stage_columns]

    def render(self, row: dict[str, Any]) -> str:
        return self.template.render(
            filter_topic=self.domain(row["domain"]).filter_topic, passage=row["source_text"]
        )

    def parse(self, text: str, row: dict[str, Any]) -> tuple[Any, str | None]:
        match = YES_NO.match(text)
        if not match:
            return None, "answer is neither yes nor no"
        return match.group(1).lower() == "yes", None

    def accept(self, row: dict[str, Any], value: Any, text: str) -> dict[str, Any]:
        if value:
            return {}
        topic = self.domain(row["domain"]).filter_topic
        return reject({}, self.stage, "drop", f"passage is not about {topic}")

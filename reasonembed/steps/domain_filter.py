"""Optional LLM domain filter: "is this passage about TOPIC? yes/no". A "no" drops the seed
(kind "drop", stage "domain_filter"); an answer that is neither is re-asked, then quarantined."""

from __future__ import annotations

import re
from typing import Any

from reasonembed.steps.llm_task import REJECTION_COLUMNS, reject
from reasonembed.steps.queries import _DomainAware

YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


class FilterDomain(_DomainAware):
    stage: str = "domain_filter"
    template_name: str = "domain_filter"
    max_new_tokens: int = 4

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

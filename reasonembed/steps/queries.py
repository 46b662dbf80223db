"""Conditioned query generation and the reasoning-augmented query q'.

`GenerateQueries` samples, per seed, a target length and an education level (weights from
`query_generation`, the config's block; seeded by the sampling seed and the source doc id, so the same seed gives the same
prompts) and writes one query in the domain's form. Answers that are empty, too short, or refer
back to the passage are re-asked, then quarantined.

`GenerateReasoningQueries` writes q': the query expanded with what an answer needs (Redapter
measures reasoning intensity with it).
"""

from __future__ import annotations

import random
import re
from typing import Any

from pydantic import Field, PrivateAttr

from reasonembed.config import QueryGenerationConfig
from reasonembed.data.domains import Domain, DomainRegistry
from reasonembed.steps.llm_task import REJECTION_COLUMNS, ReMixerLLMTask

PASSAGE_REFERENCE = re.compile(
    r"\b(?:the|this|that|above|given|provided|following|said)\s+"
    r"(?:passage|paragraph|text|content|excerpt|document|article|snippet)s?\b"
    r"|\bas (?:described|mentioned|stated|explained|discussed) (?:above|earlier|in the)\b",
    re.IGNORECASE,
)
MIN_QUERY_WORDS = 5


def weighted_choice(rng: random.Random, weights: dict[str, int]) -> str:
    options = list(weights)
    return rng.choices(options, weights=[weights[option] for option in options], k=1)[0]


def query_problem(text: str) -> str | None:
    """Why a generated query is unusable, or None."""
    if not text.strip():
        return "empty answer"
    if len(text.split()) < MIN_QUERY_WORDS:
        return f"answer shorter than {MIN_QUERY_WORDS} words"
    match = PASSAGE_REFERENCE.search(text)
    if match:
        return f"refers back to the passage ({match.group(0)!r})"
    return None


class _DomainAware(ReMixerLLMTask):
    custom_domains: list[Domain] = Field(default_factory=list)

    _registry: DomainRegistry | None = PrivateAttr(default=None)

    def domain(self, name: str) -> Domain:
        """The named domain (built-in or custom); the registry is built once per step."""
        if self._registry is None:
            self._registry = DomainRegistry(self.custom_domains)
        return self._registry.get(name)


class _QueryStep(_DomainAware):
    query_generation: QueryGenerationConfig = Field(default_factory=QueryGenerationConfig)

    @property
    def max_reasks(self) -> int:
        return self.query_generation.max_reasks


class GenerateQueries(_QueryStep):
    stage: str = "query"
    template_name: str = "query_generation"
    sampling_seed: int = 42

    @property
    def inputs(self) -> list[str]:
        return ["source_doc_id", "source_text", "domain"]

    @property
    def outputs(self) -> list[str]:
        return [
            "query",
            "instruction",
            "target_length",
            "education_level",
            "generator_model",
            *REJECTION_COLUMNS,
            *self.stage_columns,
        ]

    def conditions(self, row: dict[str, Any]) -> tuple[str, str]:
        rng = random.Random(f"{self.sampling_seed}:{row['domain']}:{row['source_doc_id']}")
        settings = self.query_generation
        return weighted_choice(rng, settings.length_weights), weighted_choice(
            rng, settings.education_weights
        )

    def render(self, row: dict[str, Any]) -> str:
        domain = self.domain(row["domain"])
        length, level = self.conditions(row)
        return self.template.render(
            generation_task=domain.generation_task,
            passage=row["source_text"],
            output_name=domain.output_name,
            target_length=length,
            education_level=level,
        )

    def parse(self, text: str, row: dict[str, Any]) -> tuple[Any, str | None]:
        problem = query_problem(text)
        return (None, problem) if problem else (text.strip(), None)

    def accept(self, row: dict[str, Any], value: Any, text: str) -> dict[str, Any]:
        length, level = self.conditions(row)
        return {
            "query": value,
            "instruction": self.domain(row["domain"]).retrieval_instruction,
            "target_length": length,
            "education_level": level,
            "generator_model": self.llm.model_name,
        }

    def rejected_outputs(self, row: dict[str, Any], text: str, error: str) -> dict[str, Any]:
        length, level = self.conditions(row)
        return {
            "target_length": length,
            "education_level": level,
            "generator_model": self.llm.model_name,
        }


class GenerateReasoningQueries(_QueryStep):
    stage: str = "reasoning"
    template_name: str = "reasoning_query"

    @property
    def inputs(self) -> list[str]:
        return ["query", "domain"]

    @property
    def outputs(self) -> list[str]:
        return ["reasoning_query", *REJECTION_COLUMNS, *self.stage_columns]

    def render(self, row: dict[str, Any]) -> str:
        domain = self.domain(row["domain"])
        return self.template.render(
            query_type=domain.query_type, doc_type=domain.doc_type, query=row["query"]
        )

    def parse(self, text: str, row: dict[str, Any]) -> tuple[Any, str | None]:
        if len(text.split()) < MIN_QUERY_WORDS:
            return None, f"answer shorter than {MIN_QUERY_WORDS} words"
        return text.strip(), None

    def accept(self, row: dict[str, Any], value: Any, text: str) -> dict[str, Any]:
        return {"reasoning_query": value}

"""Pointwise relevance annotation: one LLM call per (query, candidate).

The prompt (prompts/annotation.txt) holds the domain's relevance definition, three steps (query
analysis, document analysis, relevance annotation) and the 1-5 scale; everything a query's
candidates share comes before the document, so servers with prefix caching reuse it across a
query's ~100 judgements. The answer must end with `<score>N</score>`, N in 1..5, and nothing may
follow the tag (strict parsing); otherwise it is re-asked, then quarantined with
`annotation_error`, and never becomes a label.

`annotation.score_mode: forced` (the bundled 135M model, which never writes the tag reliably): the
model writes its analysis, then the score is chosen among "1".."5" from the model's probabilities
right after `<score>` (`LLM.score_choices`), contextually calibrated over the batch
(`calibrated_choices`), and the tag is appended to the analysis. Demo grade: it shows the
pipeline end to end, not labels worth training on.
"""

import re
from collections import defaultdict
from typing import Any

from distilabel.steps import StepInput
from pydantic import Field

from reasonembed.config import AnnotationConfig
from reasonembed.data.records import USAGE_FIELDS
from reasonembed.steps.llm_task import REJECTION_COLUMNS, is_rejected
from reasonembed.steps.queries import _DomainAware

SCORE_TAG = re.compile(r"<score>\s*([1-5])\s*</score>\s*$")
ANY_SCORE_TAG = re.compile(r"<score>(.*?)</score>", re.DOTALL)
SCORE_CHOICES = ["1", "2", "3", "4", "5"]


def truncate(text: str, max_chars: int | None) -> str:
    """`text` cut to `max_chars` characters (with an ellipsis), or whole when None."""
    if max_chars is None or len(text) <= max_chars:
        return text
    return text[:max_chars].rstrip() + " …"


def calibrated_choices(probabilities: list[dict[str, float]]) -> list[str]:
    """The most probable choice of each judgement after contextual calibration.

    A small model's digit probabilities carry a strong prior (it says "1" whatever the document);
    dividing each judgement's distribution by the batch's mean distribution removes that shared
    bias (Zhao et al., 2021, "Calibrate Before Use"), so what is left ranks documents by how much
    more relevant the model finds them than the rest of the batch.
    """
    choices = list(probabilities[0])
    mean = {
        choice: sum(p[choice] for p in probabilities) / len(probabilities) for choice in choices
    }
    return [
        max(choices, key=lambda choice: p[choice] / max(mean[choice], 1e-12)) for p in probabilities
    ]


def parse_relevance(text: str) -> tuple[int | None, str | None]:
    """(score, None) when `text` ends with exactly one `<score>N</score>` (N in 1..5), else
    (None, reason)."""
    tags = ANY_SCORE_TAG.findall(text)
    if not tags:
        return None, "no <score>N</score> tag in the answer"
    if len(tags) > 1:
        return None, f"{len(tags)} score tags in the answer, expected one"
    match = SCORE_TAG.search(text)
    if not match:
        content = tags[0].strip()
        if content not in SCORE_CHOICES:
            return None, f"score {content[:20]!r} is not an integer from 1 to 5"
        return None, "text after the </score> tag"
    return int(match.group(1)), None


class AnnotateRelevance(_DomainAware):
    """One row per query in, the same row out with every candidate judged.

    Each candidate of a query row (its `candidates` list, from mining) becomes one LLM request;
    all the requests of a batch of query rows go out together. Each candidate gets
    `relevance_score` (1-5, None when not judged), `relevance_analysis`, `annotation_error` and
    `annotation_status` ("judged", "quarantine": the answer failed its parser after the re-asks,
    or "deferred": no answer this run). The query row gets `annotator_model` and the summed
    `annotation_*` accounting columns.

    `annotation`: the config's block, its `score_mode` as `reasonembed.factory.pipeline` resolves "auto"
    for the annotator's backend (a step given "auto" parses the tag).
    """

    stage: str = "annotation"
    template_name: str = "annotation"
    annotation: AnnotationConfig = Field(default_factory=AnnotationConfig)

    @property
    def max_reasks(self) -> int:
        return self.annotation.max_reasks

    @property
    def forced(self) -> bool:
        """Whether the score is chosen from the model's probabilities (`score_mode: forced`)."""
        return self.annotation.score_mode == "forced"

    @property
    def inputs(self) -> list[str]:
        return ["query", "domain", "candidates"]

    @property
    def outputs(self) -> list[str]:
        return ["candidates", "annotator_model", *REJECTION_COLUMNS, *self.stage_columns]

    def process(self, inputs: StepInput):  # type: ignore[override]
        rows = [dict(row) for row in inputs]
        judgements = [
            {
                "domain": row["domain"],
                "query": row["query"],
                "doc_text": candidate["text"],
                "query_position": position,
            }
            for position, row in enumerate(rows)
            if not is_rejected(row)
            for candidate in row["candidates"] or ()
        ]
        judged = self.ask(judgements) if judgements else []
        if self.forced:
            judged = self.force_scores(judged)
        by_query: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for judgement in judged:
            by_query[judgement["query_position"]].append(judgement)
        yield [self.merge(row, by_query.get(position, [])) for position, row in enumerate(rows)]

    def merge(self, row: dict[str, Any], judgements: list[dict[str, Any]]) -> dict[str, Any]:
        """The query row with its candidates' judgements and the summed accounting."""
        merged = {name: row.get(name) for name in REJECTION_COLUMNS}
        merged.update({**row, "annotator_model": self.llm.model_name if judgements else None})
        for name in USAGE_FIELDS:
            merged[f"{self.stage}_{name}"] = sum(j[f"{self.stage}_{name}"] for j in judgements)
        merged[f"{self.stage}_prompt_hash"] = self.template.hash
        if is_rejected(row) or row["candidates"] is None:
            return merged
        merged["candidates"] = [
            {
                **candidate,
                "relevance_score": judgement.get("relevance_score"),
                "relevance_analysis": judgement.get("relevance_analysis"),
                "annotation_error": judgement.get("annotation_error")
                or judgement.get("rejected_reason"),
                "annotation_status": judgement.get("rejected_kind") or "judged",
            }
            for candidate, judgement in zip(row["candidates"], judgements, strict=True)
        ]
        return merged

    def render(self, row: dict[str, Any]) -> str:
        domain = self.domain(row["domain"])
        return self.template.render(
            relevance_definition=domain.relevance_definition,
            query_type=domain.query_type,
            doc_type=domain.doc_type,
            query=row["query"],
            document=truncate(row["doc_text"], self.annotation.max_document_chars),
        )

    def parse(self, text: str, row: dict[str, Any]) -> tuple[Any, str | None]:
        if self.forced:
            return text, None
        return parse_relevance(text)

    def accept(self, row: dict[str, Any], value: Any, text: str) -> dict[str, Any]:
        if self.forced:
            return {"relevance_analysis": text}  # scored in `process`, for the whole batch at once
        return {
            "relevance_score": value,
            "relevance_analysis": text,
            "annotator_model": self.llm.model_name,
            "annotation_error": None,
            "relevance_score_source": "tag",
        }

    def rejected_outputs(self, row: dict[str, Any], text: str, error: str) -> dict[str, Any]:
        return {
            "annotation_error": error,
            "relevance_analysis": text,
            "annotator_model": self.llm.model_name,
        }

    def force_scores(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        todo = [index for index, row in enumerate(rows) if row.get("rejected_stage") is None]
        if not todo:
            return rows
        analyses = [
            ANY_SCORE_TAG.sub("", rows[index]["relevance_analysis"]).strip() for index in todo
        ]
        probabilities = self.llm.score_choices(
            [self.render(rows[index]) for index in todo],
            [analysis + "\n<score>" for analysis in analyses],
            SCORE_CHOICES,
        )
        for index, analysis, score in zip(
            todo, analyses, calibrated_choices(probabilities), strict=True
        ):
            rows[index] = {
                **rows[index],
                "relevance_score": int(score),
                "relevance_analysis": f"{analysis}\n<score>{score}</score>",
                "annotator_model": self.llm.model_name,
                "annotation_error": None,
                "relevance_score_source": "forced",
            }
        return rows

"""Assembly: judgements -> one `raw` sample per query; and the collection of rejected rows.

`AssembleSamples` groups a query's judgement rows (key: domain, source_doc_id), keeps the
candidates that got a score (quarantined judgements never become labels), orders them by
retrieval rank, and passes the sample through the quality filters
(`reasonembed.quality.filters.filter_sample`: source duplicates removed, BRIGHT gold candidates
counted or removed, score >= `positive_threshold` positive, the rest negative, metrics filled). A
dropped sample (no positive, no negative, lexically trivial, ...) is still emitted with its
`drop_reason`, so the writer can count it; kept samples have `drop_reason` None; each sample's
candidate removals by reason are in `candidate_removals` (JSON). Queries rejected before
annotation produce no sample (they are in `CollectRejections`, whose output is empty, and so
absent from the Distiset, when nothing was rejected).

`CollectRejections` emits one row per rejected item: stage, kind ("quarantine" or "drop"),
reason, domain, source_doc_id, doc_id and the row as JSON (`payload`).
"""

import json
from collections import defaultdict
from typing import Any

from distilabel.steps import GlobalStep, StepInput
from distilabel.typing import StepOutput
from pydantic import Field, PrivateAttr

from reasonembed import __version__
from reasonembed.quality import triviality as tv
from reasonembed.quality.decontamination import DECONTAMINATION_COLUMNS
from reasonembed.quality.filters import TrivialityConfig, filter_sample
from reasonembed.steps.llm_task import is_rejected
from reasonembed.textnorm import stable_hash

QUERY_LEVEL_STAGES = {"domain_filter", "query", "reasoning", "query_filter", "mining"}
# query-level quality columns written by the query filter and the mining step
QUERY_QUALITY_COLUMNS = (
    tv.TRIVIALITY_SOURCE_COPY_CHARS,
    tv.TRIVIALITY_SOURCE_COPY_SHARE,
    tv.TRIVIALITY_SOURCE_NGRAM_OVERLAP,
    tv.TRIVIALITY_SOURCE_DENSE_RANK,
    tv.TRIVIALITY_SOURCE_BM25_RANK,
    tv.TRIVIALITY_BM25_TOP_IDS,
    tv.TRIVIALITY_SOURCE_DUPLICATE_IDS,
    *DECONTAMINATION_COLUMNS,
)
USAGE_STAGES = ("domain_filter", "query", "reasoning", "annotation")
USAGE_FIELDS = ("attempts", "prompt_tokens", "completion_tokens", "cached_requests")


def sample_id(domain: str, source_doc_id: str, query: str) -> str:
    return stable_hash(domain, source_doc_id, query)[:16]


class AssembleSamples(GlobalStep):
    positive_threshold: int = Field(default=3, ge=2, le=5)
    quality: dict[str, Any] = Field(default_factory=dict)
    bright: str | None = None
    config_hash: str = ""
    prompt_hashes: dict[str, str] = Field(default_factory=dict)

    _filters: TrivialityConfig | None = PrivateAttr(default=None)
    _bright_gold: dict[str, set[str]] | None = PrivateAttr(default=None)

    @property
    def inputs(self) -> list[str]:
        return ["domain", "source_doc_id", "query", "relevance_score"]

    @property
    def outputs(self) -> list[str]:
        return [
            "sample_id",
            "candidates",
            "n_positives",
            "n_negatives",
            "drop_reason",
            "candidate_removals",
        ]

    def load(self) -> None:
        super().load()
        self._filters = TrivialityConfig.model_validate(
            {**self.quality, "min_positive_score": self.positive_threshold}
        )
        if self.bright:
            from reasonembed.quality.decontamination import load_bright_gold_ids

            self._bright_gold = load_bright_gold_ids(self.bright)

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in inputs:
            groups[(row["domain"], row["source_doc_id"])].append(row)
        samples = []
        for (domain, source_doc_id), rows in sorted(groups.items()):
            if any(
                is_rejected(row) and row["rejected_stage"] in QUERY_LEVEL_STAGES for row in rows
            ):
                continue
            samples.append(self.assemble(domain, source_doc_id, rows))
        yield samples

    def assemble(
        self, domain: str, source_doc_id: str, rows: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """One sample from a query's judgement rows, passed through the quality filters: kept
        (drop_reason None) or dropped with the filter's reason."""
        first = rows[0]
        judged = sorted(
            (row for row in rows if not is_rejected(row)), key=lambda row: row["retrieval_rank"]
        )
        candidates = [
            {
                "doc_id": row["doc_id"],
                "text": row["doc_text"],
                "retrieval_rank": row["retrieval_rank"],
                "retrieval_score": row["retrieval_score"],
                "relevance_score": row["relevance_score"],
                "relevance_analysis": row["relevance_analysis"],
            }
            for row in judged
        ]
        usage = {
            f"{stage}_{field}": sum(int(row.get(f"{stage}_{field}") or 0) for row in rows)
            if stage == "annotation"
            else int(first.get(f"{stage}_{field}") or 0)
            for stage in USAGE_STAGES
            for field in USAGE_FIELDS
        }
        sample = {
            "sample_id": sample_id(domain, source_doc_id, first["query"]),
            "domain": domain,
            "source_doc_id": source_doc_id,
            "source_text": first["source_text"],
            "query": first["query"],
            "reasoning_query": first.get("reasoning_query"),
            "instruction": first["instruction"],
            "target_length": first["target_length"],
            "education_level": first["education_level"],
            "candidates": candidates,
            "n_annotation_quarantined": len(rows) - len(judged),
            "source_copies_removed": first.get("source_copies_removed"),
            **{name: first.get(name) for name in QUERY_QUALITY_COLUMNS},
            "generator_model": first["generator_model"],
            "annotator_model": next(
                (row["annotator_model"] for row in rows if row.get("annotator_model")), None
            ),
            "retriever_model": first.get("retriever_model"),
            "prompt_hashes": dict(self.prompt_hashes),
            "factory_version": __version__,
            "config_hash": self.config_hash,
            **usage,
        }
        outcome = filter_sample(sample, self._filters, self._bright_gold)
        removals = json.dumps(dict(outcome.removed), sort_keys=True)
        if outcome.sample is None:
            positives = sum(c["relevance_score"] >= self.positive_threshold for c in candidates)
            return {
                **sample,
                "n_positives": positives,
                "n_negatives": len(candidates) - positives,
                "drop_reason": outcome.reason,
                "candidate_removals": removals,
            }
        return {**outcome.sample, "drop_reason": None, "candidate_removals": removals}


class CollectRejections(GlobalStep):
    @property
    def inputs(self) -> list[str]:
        return ["domain", "source_doc_id"]

    @property
    def outputs(self) -> list[str]:
        return ["stage", "kind", "reason", "doc_id", "payload"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        seen: set[tuple] = set()
        rejected = []
        for row in inputs:
            if not is_rejected(row):
                continue
            query_level = row["rejected_stage"] in QUERY_LEVEL_STAGES
            key = (
                row["rejected_stage"],
                row["domain"],
                row["source_doc_id"],
                None if query_level else row.get("doc_id"),
            )
            if key in seen:
                continue
            seen.add(key)
            rejected.append(
                {
                    "stage": row["rejected_stage"],
                    "kind": row["rejected_kind"],
                    "reason": row["rejected_reason"],
                    "domain": row["domain"],
                    "source_doc_id": row["source_doc_id"],
                    "doc_id": None if query_level else row.get("doc_id"),
                    "payload": json.dumps(row, ensure_ascii=False, default=str),
                }
            )
        yield rejected

"""Assembly: judgements -> one `raw` sample per query; and the collection of rejected rows.

`AssembleSamples` groups a query's judgement rows (key: domain, source_doc_id), keeps the
candidates that got a score (quarantined judgements never become labels), orders them by
retrieval rank, and counts score >= `positive_threshold` as positives, the rest as negatives. A
query with no positive or no negative is still emitted, with `drop_reason` "no_positive" /
"no_negative", so the writer can count it; kept samples have `drop_reason` None. Queries
rejected before annotation produce no sample (they are in `CollectRejections`).

`CollectRejections` emits one row per rejected item: stage, kind ("quarantine" or "drop"),
reason, domain, source_doc_id, doc_id and the row as JSON (`payload`).
"""

import json
from collections import defaultdict
from typing import Any

from distilabel.steps import GlobalStep, StepInput
from distilabel.typing import StepOutput
from pydantic import Field

from reasonembed import __version__
from reasonembed.steps.llm_task import is_rejected
from reasonembed.textnorm import stable_hash

QUERY_LEVEL_STAGES = {"domain_filter", "query", "reasoning", "mining"}
USAGE_STAGES = ("domain_filter", "query", "reasoning", "annotation")
USAGE_FIELDS = ("attempts", "prompt_tokens", "completion_tokens", "cached_requests")


def sample_id(domain: str, source_doc_id: str, query: str) -> str:
    return stable_hash(domain, source_doc_id, query)[:16]


class AssembleSamples(GlobalStep):
    positive_threshold: int = Field(default=3, ge=2, le=5)
    config_hash: str = ""
    prompt_hashes: dict[str, str] = Field(default_factory=dict)

    @property
    def inputs(self) -> list[str]:
        return ["domain", "source_doc_id", "query", "relevance_score"]

    @property
    def outputs(self) -> list[str]:
        return ["sample_id", "candidates", "n_positives", "n_negatives", "drop_reason"]

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
        n_positives = sum(c["relevance_score"] >= self.positive_threshold for c in candidates)
        n_negatives = len(candidates) - n_positives
        drop_reason = (
            "no_positive" if n_positives == 0 else "no_negative" if n_negatives == 0 else None
        )
        usage = {
            f"{stage}_{field}": sum(int(row.get(f"{stage}_{field}") or 0) for row in rows)
            if stage == "annotation"
            else int(first.get(f"{stage}_{field}") or 0)
            for stage in USAGE_STAGES
            for field in USAGE_FIELDS
        }
        return {
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
            "n_positives": n_positives,
            "n_negatives": n_negatives,
            "n_annotation_quarantined": len(rows) - len(judged),
            "source_copies_removed": first.get("source_copies_removed"),
            "triviality_source_dense_rank": first.get("triviality_source_dense_rank"),
            "triviality_source_bm25_rank": first.get("triviality_source_bm25_rank"),
            "generator_model": first["generator_model"],
            "annotator_model": next(
                (row["annotator_model"] for row in rows if row.get("annotator_model")), None
            ),
            "retriever_model": first.get("retriever_model"),
            "prompt_hashes": dict(self.prompt_hashes),
            "factory_version": __version__,
            "config_hash": self.config_hash,
            "drop_reason": drop_reason,
            **usage,
        }


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
        if not rejected:
            rejected.append(
                {
                    "stage": None,
                    "kind": None,
                    "reason": None,
                    "domain": None,
                    "source_doc_id": None,
                    "doc_id": None,
                    "payload": None,
                }
            )
        yield rejected

"""Assembly: one annotated query row -> one leaf record (the pipeline's only output).

`AssembleSamples` is an ordinary per-row step (memory bounded by its batch): each query row,
with its judged `candidates`, becomes a `raw` sample passed through the quality filters
(`reasonembed.quality.filters.filter_sample`: source duplicates removed, BRIGHT gold candidates
counted or removed, score >= `quality.min_positive_score` positive (FactoryConfig keeps it equal to
`annotation.positive_threshold`), the rest negative, metrics filled).

Every input row yields exactly one record (LEAF_COLUMNS), whatever happened to it, so the output
folder writer (`reasonembed.factory.output_writer`) can count the whole funnel from this step alone:

    status     "kept"      a sample of the dataset
               "dropped"   assembled, then dropped by a filter (reason in its rejection entry)
               "rejected"  rejected before assembly (domain filter, query generation, query
                           filter, mining; or stage "pipeline": a step raised and its outputs
                           became None): one rejection entry
               "deferred"  work for the next run (budget reached, server down): never data
    sample     the sample as JSON (kept and dropped; "" otherwise)
    rejections JSON list of rejection entries {stage, kind, reason, domain, source_doc_id,
               doc_id, payload}: quarantined or deferred judgements, the drop of the sample, or
               the query's own rejection

With `pacing_file`, each batch's records are counted in the back-pressure gate that the seed
step waits on (`reasonembed.steps.seed_gate`).

Nested data travels as JSON text so the leaf's parquet schema is the same in every batch
(distilabel's write buffer infers a schema per 50 rows and cannot reconcile a column that is
all null in one file with strings in the next).
"""

import json
from typing import Any

from distilabel.steps import Step, StepInput
from distilabel.typing import StepOutput
from pydantic import Field, PrivateAttr

from reasonembed import __version__
from reasonembed.data.records import USAGE_FIELDS, USAGE_STAGES
from reasonembed.data.textnorm import stable_hash
from reasonembed.llms.budget import DEFERRED_KIND
from reasonembed.quality import triviality as tv
from reasonembed.quality.decontamination import DECONTAMINATION_COLUMNS
from reasonembed.quality.filters import TrivialityConfig, filter_sample
from reasonembed.steps.llm_task import is_rejected
from reasonembed.steps.seed_gate import SeedGate
from reasonembed.steps.seeds import UNSIGNED_FIELDS

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
    "mining_index_recall_at_100",
)
# raw's prompt_hashes struct field -> the stage whose `{stage}_prompt_hash` column fills it
PROMPT_HASH_STAGES = {
    "domain_filter": "domain_filter",
    "query_generation": "query",
    "reasoning_query": "reasoning",
    "annotation": "annotation",
}
LEAF_COLUMNS = ("domain", "source_doc_id", "status", "sample", "rejections")
CANDIDATE_FIELDS = (
    "doc_id",
    "text",
    "retrieval_rank",
    "retrieval_score",
    "relevance_score",
    "relevance_analysis",
)
# distilabel 1.5.3 turns the outputs of a step that raised into None for its whole batch
LOST_ROW_REASON = (
    "a step raised on this row's batch and distilabel replaced its outputs with None "
    "(the step's error is in the log)"
)


def sample_id(domain: str, source_doc_id: str, query: str) -> str:
    return stable_hash(domain, source_doc_id, query)[:16]


def rejection_entry(
    row: dict[str, Any], stage: str, kind: str, reason: str, doc_id: str | None = None
) -> dict[str, Any]:
    """One row of the quarantine file (records.QUARANTINE_SCHEMA); payload is `row` as JSON."""
    return {
        "stage": stage,
        "kind": kind,
        "reason": reason,
        "domain": row.get("domain"),
        "source_doc_id": row.get("source_doc_id"),
        "doc_id": doc_id,
        "payload": json.dumps(row, ensure_ascii=False, default=str),
    }


class AssembleSamples(Step):
    quality: TrivialityConfig = Field(default_factory=TrivialityConfig)
    bright: str | None = None
    config_hash: str = ""
    pacing_file: str | None = None
    exclude_from_signature: set[str] = Field(default=UNSIGNED_FIELDS, exclude=True)

    _bright_gold: dict[str, set[str]] | None = PrivateAttr(default=None)
    _gate: SeedGate | None = PrivateAttr(default=None)

    @property
    def inputs(self) -> list[str]:
        return ["domain", "source_doc_id"]

    @property
    def outputs(self) -> list[str]:
        return list(LEAF_COLUMNS)

    def load(self) -> None:
        super().load()
        if self.bright:
            from reasonembed.bright.data import load_bright_gold_ids

            self._bright_gold = load_bright_gold_ids(self.bright)
        if self.pacing_file:
            self._gate = SeedGate(self.pacing_file)

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        records = [self.record(row) for row in inputs]
        if self._gate is not None:
            self._gate.finish(len(records))
        yield records

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        """The leaf record of one query row (see the module docstring)."""
        keys = {"domain": row["domain"], "source_doc_id": row["source_doc_id"]}
        if is_rejected(row):
            entry = rejection_entry(
                row, row["rejected_stage"], row["rejected_kind"], row["rejected_reason"]
            )
            status = "deferred" if row["rejected_kind"] == DEFERRED_KIND else "rejected"
            return {**keys, "status": status, "sample": "", "rejections": _dumps([entry])}
        if row.get("query") is None or row.get("candidates") is None:
            entry = rejection_entry(row, "pipeline", "error", LOST_ROW_REASON)
            return {**keys, "status": "rejected", "sample": "", "rejections": _dumps([entry])}
        candidates = row["candidates"]
        # a quarantined judgement names its query by sample_id (the query is in raw, or in the
        # sample's drop entry) instead of repeating it; a deferred one keeps the row (the next
        # run's work, never written to the output folder)
        query_ref = {
            **keys,
            "sample_id": sample_id(row["domain"], row["source_doc_id"], row["query"]),
        }
        unjudged = [
            rejection_entry(
                {**row, "candidates": None, "candidate": candidate}
                if candidate["annotation_status"] == DEFERRED_KIND
                else {**query_ref, **candidate},
                "annotation",
                candidate["annotation_status"],
                candidate["annotation_error"] or "",
                doc_id=candidate["doc_id"],
            )
            for candidate in candidates
            if candidate["annotation_status"] != "judged"
        ]
        if any(entry["kind"] == DEFERRED_KIND for entry in unjudged):
            deferred = [entry for entry in unjudged if entry["kind"] == DEFERRED_KIND]
            return {**keys, "status": "deferred", "sample": "", "rejections": _dumps(deferred)}
        sample = self.assemble(row)
        outcome = filter_sample(sample, self.quality, self._bright_gold)
        checked = {
            **outcome.checked,
            "candidate_removals": json.dumps(dict(outcome.removed), sort_keys=True),
        }
        if outcome.sample is None:
            unjudged.append(rejection_entry(checked, "assembly", "drop", outcome.reason))
            return {
                **keys,
                "status": "dropped",
                "sample": _dumps({**checked, "drop_reason": outcome.reason}),
                "rejections": _dumps(unjudged),
            }
        return {**keys, "status": "kept", "sample": _dumps(checked), "rejections": _dumps(unjudged)}

    def assemble(self, row: dict[str, Any]) -> dict[str, Any]:
        """The raw sample of an annotated query row (before the quality filters)."""
        judged = sorted(
            (c for c in row["candidates"] or () if c["annotation_status"] == "judged"),
            key=lambda c: c["retrieval_rank"],
        )
        return {
            "sample_id": sample_id(row["domain"], row["source_doc_id"], row["query"]),
            "domain": row["domain"],
            "source_doc_id": row["source_doc_id"],
            "source_text": row["source_text"],
            "query": row["query"],
            "reasoning_query": row.get("reasoning_query"),
            "instruction": row["instruction"],
            "target_length": row["target_length"],
            "education_level": row["education_level"],
            "candidates": [{name: c[name] for name in CANDIDATE_FIELDS} for c in judged],
            "n_annotation_quarantined": len(row["candidates"] or ()) - len(judged),
            "source_copies_removed": row.get("source_copies_removed"),
            **{name: row.get(name) for name in QUERY_QUALITY_COLUMNS},
            "generator_model": row["generator_model"],
            "annotator_model": row.get("annotator_model"),
            "retriever_model": row.get("retriever_model"),
            "prompt_hashes": {
                field: row.get(f"{stage}_prompt_hash")
                for field, stage in PROMPT_HASH_STAGES.items()
            },
            "factory_version": __version__,
            "config_hash": self.config_hash,
            **{
                f"{stage}_{name}": int(row.get(f"{stage}_{name}") or 0)
                for stage in USAGE_STAGES
                for name in USAGE_FIELDS
            },
        }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)

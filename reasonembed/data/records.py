"""Column names and schemas of every stage. Column names are API.

Stage rows (inside the distilabel pipeline):
    corpus document   doc_id, text, domain[, title]
    seed              source_doc_id, source_text, domain
    query             + query, reasoning_query, instruction, target_length, education_level,
                        generator_model
    mined query       + candidates: list of {doc_id, text, retrieval_rank (1-based, after the
                        source is removed), retrieval_score}   (one row per query, not per
                        candidate: memory stays bounded by batch sizes)
    annotated query   + each candidate's relevance_score (int 1-5 or None), relevance_analysis,
                        annotation_error (None, or why the answer was rejected) and
                        annotation_status ("judged", "quarantine", "deferred"); annotator_model
    leaf record       domain, source_doc_id, status, sample (JSON), rejections (JSON): see
                        reasonembed/steps/assembly.py

The `raw` config holds one sample per query (`raw_schema()`): the query fields, `candidates`
(list of CANDIDATE_STRUCT), counts, lineage (models, prompt hashes, factory version, config
hash), the quality metrics (columns prefixed `triviality_` / `decontamination_`) and the
bookkeeping columns (RAW_BOOKKEEPING_FIELDS).

A `reasonembed generate` output folder (written by reasonembed/factory/output_writer.py):
    raw/train-IIIII-of-NNNNN.parquet          raw_schema(), 10,000 rows per shard
    sentence-transformers/train-*.parquet     anchor, positive, negative_1..negative_n
    reasonembed/{domain}.jsonl                prompt, query, reasoning_query, pos, neg,
                                              train_group_size, batch_size (authors' format)
    flagembedding/{domain}.jsonl              query, pos, neg, pos_scores, neg_scores, prompt, type
    quarantine/quarantine.parquet             stage, kind, reason, domain, source_doc_id, doc_id,
                                              payload
    stats.json                                reasonembed/data/stats.py RunStats
    config.yaml                               the resolved FactoryConfig
    pipeline.yaml                             the distilabel pipeline as run
"""

from __future__ import annotations

import pyarrow as pa

# --- the raw config ------------------------------------------------------------------------
CANDIDATE_STRUCT = pa.struct(
    [
        ("doc_id", pa.string()),
        ("text", pa.string()),
        ("retrieval_rank", pa.int32()),
        ("retrieval_score", pa.float32()),
        ("relevance_score", pa.int8()),
        ("relevance_analysis", pa.string()),
    ]
)


RAW_SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("domain", pa.string()),
        ("source_doc_id", pa.string()),
        ("source_text", pa.string()),
        ("query", pa.string()),
        ("reasoning_query", pa.string()),
        ("instruction", pa.string()),
        ("target_length", pa.string()),
        ("education_level", pa.string()),
        ("candidates", pa.list_(CANDIDATE_STRUCT)),
        ("n_positives", pa.int32()),
        ("n_negatives", pa.int32()),
        ("generator_model", pa.string()),
        ("annotator_model", pa.string()),
        ("retriever_model", pa.string()),
        (
            "prompt_hashes",
            pa.struct(
                [
                    ("domain_filter", pa.string()),
                    ("query_generation", pa.string()),
                    ("reasoning_query", pa.string()),
                    ("annotation", pa.string()),
                ]
            ),
        ),
        ("factory_version", pa.string()),
        ("config_hash", pa.string()),
    ]
)
# Bookkeeping columns of `raw` besides the quality metrics: quarantined judgements, candidate
# removals (counts by reason as JSON, and each removed doc_id with its reason), and per LLM stage
# the attempts, tokens and cached requests that made the sample.
USAGE_STAGES = ("domain_filter", "query", "reasoning", "annotation")
USAGE_FIELDS = ("attempts", "prompt_tokens", "completion_tokens", "cached_requests")
RAW_BOOKKEEPING_FIELDS = (
    pa.field("n_annotation_quarantined", pa.int32()),
    pa.field("source_copies_removed", pa.int32()),
    pa.field("candidate_removals", pa.string()),
    # recall@100 of the approximate mining index against exact search (sampled queries only)
    pa.field("mining_index_recall_at_100", pa.float32()),
    pa.field(
        "removed_candidates",
        pa.list_(pa.struct([("doc_id", pa.string()), ("reason", pa.string())])),
    ),
    *(pa.field(f"{stage}_{name}", pa.int64()) for stage in USAGE_STAGES for name in USAGE_FIELDS),
)


def raw_schema() -> pa.Schema:
    """The full schema of `raw`: RAW_SCHEMA, the quality metrics, the bookkeeping columns."""
    from reasonembed.quality.filters import QUALITY_FIELDS

    fields = list(RAW_SCHEMA)
    for field in (*QUALITY_FIELDS, *RAW_BOOKKEEPING_FIELDS):
        if field.name not in RAW_SCHEMA.names:
            fields.append(field)
    return pa.schema(fields)


# --- training exports ----------------------------------------------------------------------
REASONEMBED_COLUMNS = (
    "prompt",
    "query",
    "reasoning_query",
    "pos",
    "neg",
    "train_group_size",
    "batch_size",
)

CONFIG_NAMES = ("raw", "reasonembed", "flagembedding", "sentence-transformers")
CONFIG_FORMATS = {
    "raw": "parquet",
    "reasonembed": "jsonl",
    "flagembedding": "jsonl",
    "sentence-transformers": "parquet",
}
QUARANTINE_FILE = "quarantine/quarantine.parquet"
QUARANTINE_SCHEMA = pa.schema(
    [
        ("stage", pa.string()),  # the stage that rejected the item
        ("kind", pa.string()),  # "quarantine" (an LLM answer failed its parser) or "drop"
        ("reason", pa.string()),
        ("domain", pa.string()),
        ("source_doc_id", pa.string()),
        ("doc_id", pa.string()),  # the candidate, for annotation rejections
        ("payload", pa.string()),  # the rejected row as JSON
    ]
)
STATS_FILE = "stats.json"
CONFIG_FILE = "config.yaml"
PIPELINE_FILE = "pipeline.yaml"


def sentence_transformers_negative(index: int) -> str:
    """Column name of the index-th negative (1-based): negative_1, negative_2, ..."""
    return f"negative_{index}"

"""A small hand-made `reasonembed generate` output folder, written exactly as records.py lays it out.

`write_output(folder, domains={"biology": 3, "leetcode": 2}, revision=1)` writes raw/ and
sentence-transformers/ parquet shards, reasonembed/ and flagembedding/ JSONL (one per domain),
quarantine/, stats.json, config.yaml, pipeline.yaml, report/ (report.md + a PNG) and, when asked,
validation/. Texts are deterministic (the golden card depends on them); `revision` changes every
query text, so two revisions hold different data.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from PIL import Image

from reasonembed import records

N_NEGATIVES = 3
PROMPT_HASHES = {
    "query_generation": "1a2b3c4d5e6f",
    "reasoning_query": "abcdefabcdef",
    "annotation": "0123456789ab",
}
TRAIN_SETTINGS = {"biology": (16, 8), "leetcode": (2, 64), "economics": (16, 8)}
EXTRA_COLUMNS = [
    ("triviality_source_copy_share", pa.float32()),
    ("triviality_source_dense_rank", pa.int32()),
    ("decontamination_bright_match_id", pa.string()),
]


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (30, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def sample(domain: str, index: int, revision: int) -> dict:
    """One raw sample: 2 positives and N_NEGATIVES negatives among its candidates."""
    query = (
        f"[r{revision}] {domain} question {index}: why does process {index} need step {index + 1}?"
    )
    texts = [
        f"{domain} document {index}-{k}: an explanation of mechanism {k} in detail."
        for k in range(2 + N_NEGATIVES)
    ]
    scores = [5, 4] + [1] * N_NEGATIVES
    candidates = [
        {
            "doc_id": f"{domain}/doc-{index}-{k}",
            "text": text,
            "retrieval_rank": k + 1,
            "retrieval_score": round(0.9 - 0.1 * k, 3),
            "relevance_score": score,
            "relevance_analysis": f"analysis {k}",
        }
        for k, (text, score) in enumerate(zip(texts, scores, strict=True))
    ]
    return {
        "sample_id": f"{domain[:3]}{revision}{index:013d}",
        "domain": domain,
        "source_doc_id": f"{domain}/source-{index}",
        "source_text": f"{domain} source passage {index} about a mechanism.",
        "query": query,
        "reasoning_query": f"{query} Reasoning: the answer needs mechanism {index}.",
        "instruction": f"Given a {domain} post, retrieve relevant passages",
        "target_length": "100 to 200 words",
        "education_level": "college",
        "candidates": candidates,
        "n_positives": 2,
        "n_negatives": N_NEGATIVES,
        "generator_model": "smollm2-135m",
        "annotator_model": "smollm2-135m",
        "retriever_model": "minilm",
        "prompt_hashes": PROMPT_HASHES,
        "factory_version": "0.1.0",
        "config_hash": f"cfg{revision:013d}",
        "triviality_source_copy_share": 0.25 if index % 2 else 0.5,
        "triviality_source_dense_rank": index + 2,
        "decontamination_bright_match_id": None,
    }


def write_output(
    folder: str | Path,
    domains: dict[str, int] | None = None,
    revision: int = 1,
    validation: bool = False,
    raw_shards: int = 2,
) -> Path:
    folder = Path(folder)
    domains = domains or {"biology": 3, "leetcode": 2}
    rows = [
        sample(domain, index, revision)
        for domain, count in domains.items()
        for index in range(count)
    ]
    schema = pa.schema(
        list(records.RAW_SCHEMA) + [pa.field(name, kind) for name, kind in EXTRA_COLUMNS]
    )
    (folder / "raw").mkdir(parents=True, exist_ok=True)
    per_shard = -(-len(rows) // raw_shards)
    for shard in range(raw_shards):
        part = rows[shard * per_shard : (shard + 1) * per_shard]
        path = folder / "raw" / f"train-{shard:05d}-of-{raw_shards:05d}.parquet"
        pq.write_table(pa.Table.from_pylist(part, schema=schema), path)

    st_rows = []
    for row in rows:
        positives = [c["text"] for c in row["candidates"] if c["relevance_score"] >= 3]
        negatives = [c["text"] for c in row["candidates"] if c["relevance_score"] < 3]
        st_row = {
            records.SENTENCE_TRANSFORMERS_ANCHOR: row["query"],
            records.SENTENCE_TRANSFORMERS_POSITIVE: positives[0],
        }
        for k, negative in enumerate(negatives, start=1):
            st_row[records.sentence_transformers_negative(k)] = negative
        st_rows.append(st_row)
    (folder / "sentence-transformers").mkdir(exist_ok=True)
    pq.write_table(
        pa.Table.from_pylist(st_rows),
        folder / "sentence-transformers" / "train-00000-of-00001.parquet",
    )

    for config in ("reasonembed", "flagembedding"):
        (folder / config).mkdir(exist_ok=True)
    for domain in domains:
        group, batch = TRAIN_SETTINGS[domain]
        with (
            (folder / "reasonembed" / f"{domain}.jsonl").open("w") as re_out,
            (folder / "flagembedding" / f"{domain}.jsonl").open("w") as fe_out,
        ):
            for row in (r for r in rows if r["domain"] == domain):
                pos = [c for c in row["candidates"] if c["relevance_score"] >= 3]
                neg = [c for c in row["candidates"] if c["relevance_score"] < 3]
                record = {
                    "prompt": row["instruction"],
                    "query": row["query"],
                    "reasoning_query": row["reasoning_query"],
                    "pos": [c["text"] for c in pos],
                    "neg": [c["text"] for c in neg],
                    "train_group_size": group,
                    "batch_size": batch,
                }
                re_out.write(
                    json.dumps(
                        dict(
                            zip(
                                records.REASONEMBED_COLUMNS,
                                (record[c] for c in records.REASONEMBED_COLUMNS),
                                strict=True,
                            )
                        )
                    )
                    + "\n"
                )
                fe_record = {
                    "query": row["query"],
                    "pos": [c["text"] for c in pos],
                    "neg": [c["text"] for c in neg],
                    "pos_scores": [float(c["relevance_score"]) for c in pos],
                    "neg_scores": [float(c["relevance_score"]) for c in neg],
                    "prompt": row["instruction"],
                    "type": "normal",
                }
                fe_out.write(
                    json.dumps({c: fe_record[c] for c in records.FLAGEMBEDDING_COLUMNS}) + "\n"
                )

    (folder / "quarantine").mkdir(exist_ok=True)
    quarantine = [
        {
            "stage": "annotation",
            "reason": "unparseable score",
            "domain": "biology",
            "source_doc_id": "biology/source-x",
            "doc_id": "biology/doc-x",
            "payload": "{}",
        }
    ]
    pq.write_table(pa.Table.from_pylist(quarantine), folder / records.QUARANTINE_FILE)

    stats = {
        "counts": {
            domain: {"seeds": count + 1, "samples": count} for domain, count in domains.items()
        },
        "triviality": {"source_removed": len(rows), "source_duplicates_removed": 1},
        "decontamination": {
            "queries_checked": len(rows),
            "queries_dropped": 0,
            "gold_candidates_dropped": 2,
        },
        "drops": {"no_positive": 1, "no_negative": 0},
        "timings_s": {"total": 12.5},
    }
    (folder / records.STATS_FILE).write_text(json.dumps(stats, indent=2))
    config = {
        "name": "test",
        "seed": 42,
        "domains": [{"domain": d, "corpus": {"path": f"corpora/{d}.jsonl"}} for d in domains],
        "generator": {"backend": "local", "model": "smollm2-135m", "api_key_env": None},
        "annotator": {"backend": "local", "model": "smollm2-135m", "api_key_env": None},
        "mining": {"retriever": "minilm", "n_candidates": 100},
    }
    (folder / records.CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / records.PIPELINE_FILE).write_text(
        "distilabel:\n  version: 1.5.3\npipeline:\n  name: remixer\n"
    )
    (folder / "report").mkdir(exist_ok=True)
    (folder / "report" / "report.md").write_text(f"# Report\n\n{len(rows)} samples.\n")
    (folder / "report" / "scores.png").write_bytes(_png())
    if validation:
        (folder / "validation").mkdir(exist_ok=True)
        results = {
            "rows": [
                {"model": "minilm", "bright_ndcg@10": 0.081},
                {"model": "minilm+remixer", "bright_ndcg@10": 0.094},
            ]
        }
        (folder / "validation" / "validation.json").write_text(json.dumps(results))
        (folder / "validation" / "validation.md").write_text("# Validation\n")
        (folder / "validation" / "ndcg.png").write_bytes(_png())
    return folder

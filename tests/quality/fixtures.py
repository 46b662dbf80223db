"""Hand-made samples, and a hand-made output folder for the sample browser's tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from reasonembed.data.output_folder import OutputFolder
from reasonembed.data.records import RAW_SCHEMA
from reasonembed.quality.filters import QUALITY_FIELDS

SOURCE = (
    "Photosynthesis converts light energy into chemical energy stored in glucose. The light "
    "reactions take place in the thylakoid membranes and produce ATP and NADPH, which the "
    "Calvin cycle then uses to fix carbon dioxide into three-carbon sugars in the stroma."
)
OTHER_TEXTS = [
    "Stomata close under drought stress, which limits carbon dioxide uptake by the leaf.",
    "Chlorophyll absorbs mostly red and blue light and reflects green wavelengths.",
    "Mitochondria oxidise pyruvate in the citric acid cycle and feed the electron transport chain.",
    "Soil nitrogen is taken up as nitrate or ammonium and built into amino acids.",
]
RAW_QUALITY_SCHEMA = pa.schema(list(RAW_SCHEMA) + list(QUALITY_FIELDS))


def candidate(doc_id: str, text: str, rank: int, score: int | None) -> dict:
    return {
        "doc_id": doc_id,
        "text": text,
        "retrieval_rank": rank,
        "retrieval_score": 1.0 - rank / 100,
        "relevance_score": score,
        "relevance_analysis": "analysis",
    }


def sample(query: str, candidates: list[dict], domain: str = "biology", **extra) -> dict:
    row = {
        "sample_id": f"s-{abs(hash((domain, query))) % 10**8}",
        "domain": domain,
        "source_doc_id": "src-1",
        "source_text": SOURCE,
        "query": query,
        "reasoning_query": query + " Think about energy flow.",
        "instruction": "Given a biology post, retrieve relevant passages.",
        "target_length": "<100",
        "education_level": "college",
        "candidates": candidates,
        "n_positives": sum(1 for c in candidates if (c["relevance_score"] or 0) >= 3),
        "n_negatives": sum(1 for c in candidates if c["relevance_score"] in (1, 2)),
        "generator_model": "gen",
        "annotator_model": "ann",
        "retriever_model": "minilm",
        "prompt_hashes": {"query_generation": "a", "reasoning_query": "b", "annotation": "c"},
        "factory_version": "0.1.0",
        "config_hash": "x",
    }
    row.update(extra)
    return row


def make_output_folder(root: Path, n_samples: int = 60, seed: int = 0) -> Path:
    """A generate output folder: raw parquet (RAW_SCHEMA + quality columns) and stats.json.

    Built by hand for the sample browser's tests (tests/quality/test_browse.py), which read it
    leniently: random metric values and a stats.json of hand-chosen funnel drops that is not a
    whole RunStats. Every other test builds its folder with the factory's own writer
    (tests/support/factory_output.py)."""
    folder = OutputFolder(root)
    rng = random.Random(seed)
    domains = ["biology", "economics", "leetcode"]
    rows = []
    for index in range(n_samples):
        candidates = [
            candidate(
                f"d{index}-{k}",
                rng.choice(OTHER_TEXTS),
                k + 1,
                rng.choice([1, 1, 2, 3, 4, 5, None]),
            )
            for k in range(rng.randint(3, 12))
        ]
        rows.append(
            sample(
                f"question {index}: why would a plant in dim light grow slowly?",
                candidates,
                domain=domains[index % 3] if index % 5 else "biology",
                triviality_source_copy_chars=rng.randint(0, 120),
                triviality_source_copy_share=rng.random() * 0.45,
                triviality_source_ngram_overlap=rng.random() * 0.3,
                triviality_source_dense_rank=rng.choice([1, 1, 2, 3, 8, 40, 300, None]),
                triviality_source_bm25_rank=rng.choice([1, 2, 5, 17, 90, None]),
                triviality_source_duplicate_ids=[],
                triviality_source_duplicates=0,
                triviality_positive_ranks=[1, 3],
                triviality_best_positive_rank=rng.choice([1, 2, 4, 9, 30]),
                decontamination_bright_gold_candidates=1 if index == 7 else 0,
                decontamination_bright_gold_ids=["gold-7"] if index == 7 else [],
            )
        )
    folder.subfolder("raw").mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=RAW_QUALITY_SCHEMA)
    pq.write_table(table, folder.subfolder("raw") / "train-00000-of-00001.parquet")
    stats = {
        "funnel": [
            {"stage": "seeds", "count": 100},
            {"stage": "queries", "count": 90, "drops": {"generation_error": 10}},
            {
                "stage": "mined",
                "count": 75,
                "drops": {"bright_query_contamination": 3, "source_copy": 12},
            },
            {"stage": "samples", "count": n_samples, "drops": {"no_positive": 75 - n_samples}},
        ],
        "drops": {
            "generation_error": 10,
            "bright_query_contamination": 3,
            "source_copy": 12,
            "no_positive": 75 - n_samples,
        },
        "candidate_drops": {"source_duplicate": 4},
        "triviality_config": {"max_source_copy_share": 0.5, "max_source_copy_chars": 400},
    }
    folder.stats_path.write_text(json.dumps(stats))
    return root

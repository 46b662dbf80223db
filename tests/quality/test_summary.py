"""summarize(): the `quality` section of stats.json."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from reasonembed.quality import filters as fl
from reasonembed.quality.summary import distribution, summarize
from tests.quality.fixtures import OTHER_TEXTS, SOURCE, candidate, sample


def test_distribution_statistics():
    stats = distribution([1, 2, 3, 4, None, float("nan")])
    assert (stats["count"], stats["missing"]) == (4, 2)
    assert stats["mean"] == pytest.approx(2.5) and stats["median"] == pytest.approx(2.5)
    assert (stats["min"], stats["max"]) == (1.0, 4.0)
    assert stats["p10"] == pytest.approx(1.3)
    assert distribution([None]) == {"count": 0, "missing": 1}


def test_summarize_after_filtering_counts_right():
    good = [candidate("p", OTHER_TEXTS[0], 2, 4), candidate("n", OTHER_TEXTS[1], 3, 1)]
    rows = [
        sample(
            "Why would a plant in dim light grow slowly?",
            [candidate("dup", SOURCE, 1, 5)] + good,
            triviality_source_dense_rank=1,
            triviality_source_bm25_rank=4,
        ),  # fmt: skip
        sample(
            "What sets the pace of carbon fixation at night?",
            good,
            triviality_source_dense_rank=7,
            triviality_source_bm25_rank=None,
        ),  # fmt: skip
        sample("Why does glucose store energy? " + SOURCE, good),  # copies its source: dropped
    ]
    rows[1]["source_doc_id"] = "bright-gold-9"
    kept, counts = fl.filter_samples(rows, fl.TrivialityConfig(), {"biology": {"n"}})
    summary = summarize(
        pa.Table.from_pylist(kept), counts, bright_seed_ids={"biology": {"bright-gold-9"}}
    )
    json.dumps(summary)  # stats.json-ready
    assert summary["samples"] == 2
    assert summary["drops"] == {"source_copy": 1}
    assert summary["candidate_drops"] == {"source_duplicate": 1}
    metrics = summary["metrics"]
    assert metrics["triviality_source_dense_rank"]["mean"] == pytest.approx(4.0)
    assert metrics["triviality_source_bm25_rank"] == distribution([4, None])
    assert metrics["triviality_source_duplicates"]["max"] == 1.0
    assert metrics["triviality_positive_ranks"]["count"] == 2
    assert metrics["triviality_best_positive_rank"]["median"] == 2.0
    assert summary["source_rank_at_1"] == {
        "triviality_source_dense_rank": 0.5,
        "triviality_source_bm25_rank": 0.0,
    }
    assert summary["decontamination"] == {
        "bright_query_matches": 0,
        "by_method": {},
        "bright_gold_candidates": 2,
        "samples_with_bright_gold": 2,
        "bright_seed_leaks": 1,
    }

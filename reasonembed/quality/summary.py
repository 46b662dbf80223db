"""`summarize(raw_columns)`: the `quality` section of stats.json.

Shape (all counts int, all statistics float; a metric absent from every row is left out):

    {
      "samples": 812,
      "metrics": {                      # one entry per triviality metric present in the rows
        "triviality_source_copy_share": {"count": 812, "missing": 0, "mean": .., "min": ..,
                                          "p10": .., "p25": .., "median": .., "p75": ..,
                                          "p90": .., "max": ..},
        "triviality_positive_ranks": {...}     # list columns: over all their elements
        ...
      },
      "source_rank_at_1": {"triviality_source_dense_rank": 0.41, "triviality_source_bm25_rank": ..},
      "mining_index_recall_at_100": {"count": .., "mean": .., ...}   # approximate index only
      "decontamination": {"bright_query_matches": 0, "by_method": {}, "bright_gold_candidates": 3,
                          "samples_with_bright_gold": 2, "bright_seed_leaks": 0},
      "drops": {reason: count}, "candidate_drops": {reason: count}   # when counts are given
    }

`bright_seed_leaks` (only when `bright_seed_ids` is given): samples whose `source_doc_id` is a
BRIGHT gold or excluded id of its domain: the factory's seed guard, verified end to end; must be 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping

import numpy as np
import pyarrow as pa

from reasonembed.quality import triviality as tv
from reasonembed.quality.decontamination import (
    DECONTAMINATION_BRIGHT_GOLD_CANDIDATES,
    DECONTAMINATION_BRIGHT_MATCH_ID,
    DECONTAMINATION_BRIGHT_METHOD,
)
from reasonembed.quality.filters import DropCounts

MINING_RECALL = "mining_index_recall_at_100"
QUANTILES = {"p10": 10, "p25": 25, "median": 50, "p75": 75, "p90": 90}


def distribution(values: Iterable[float | int | None]) -> dict:
    """count, missing (None/NaN), mean, min, p10, p25, median, p75, p90, max of the values."""
    values = list(values)
    present = np.asarray(
        [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))],
        dtype=np.float64,
    )
    stats: dict = {"count": int(present.size), "missing": len(values) - int(present.size)}
    if present.size:
        stats["mean"] = float(present.mean())
        stats["min"] = float(present.min())
        for name, q in QUANTILES.items():
            stats[name] = float(np.percentile(present, q))
        stats["max"] = float(present.max())
    return stats


def summarize(
    columns: pa.Table,
    counts: DropCounts | None = None,
    bright_seed_ids: Mapping[str, Collection[str]] | None = None,
) -> dict:
    """Distributions of the triviality metrics and decontamination counts of `raw` samples.

    columns: some columns of the raw config, one row per sample (a metric whose column is absent
    is left out); counts: the filters' DropCounts (adds `drops` and `candidate_drops`);
    bright_seed_ids: domain -> BRIGHT gold and excluded ids (adds `bright_seed_leaks`, needs the
    `domain` and `source_doc_id` columns). Reads one column at a time: memory is a few numbers
    per sample, never a Python object per row.
    """
    samples = columns.num_rows

    def values(name: str) -> list:
        """The column's values, or Nones when the raw rows have no such column."""
        if name not in columns.column_names:
            return [None] * samples
        return columns.column(name).to_pylist()

    summary: dict = {"samples": samples, "metrics": {}}
    for name in tv.TRIVIALITY_SCALAR_METRICS:
        if samples and name in columns.column_names:
            summary["metrics"][name] = distribution(values(name))
    for name in tv.TRIVIALITY_LIST_METRICS:
        lists = values(name)
        if any(value is not None for value in lists):
            summary["metrics"][name] = distribution(
                value for values_of_row in lists for value in (values_of_row or ())
            )
    recall = [value for value in values(MINING_RECALL) if value is not None]
    if recall:  # approximate mining index: recall@100 against exact search, sampled queries
        summary[MINING_RECALL] = distribution(recall)
    at_one = {}
    for name in (tv.TRIVIALITY_SOURCE_DENSE_RANK, tv.TRIVIALITY_SOURCE_BM25_RANK):
        ranks = [rank for rank in values(name) if rank is not None]
        if ranks:
            at_one[name] = sum(1 for rank in ranks if rank == 1) / len(ranks)
    if at_one:
        summary["source_rank_at_1"] = at_one

    methods = Counter(
        method or "unknown"
        for match, method in zip(
            values(DECONTAMINATION_BRIGHT_MATCH_ID),
            values(DECONTAMINATION_BRIGHT_METHOD),
            strict=True,
        )
        if match
    )
    gold = [value or 0 for value in values(DECONTAMINATION_BRIGHT_GOLD_CANDIDATES)]
    decontamination = {
        "bright_query_matches": sum(methods.values()),
        "by_method": dict(sorted(methods.items())),
        "bright_gold_candidates": int(sum(gold)),
        "samples_with_bright_gold": sum(1 for value in gold if value),
    }
    if bright_seed_ids is not None:
        decontamination["bright_seed_leaks"] = sum(
            1
            for domain, doc_id in zip(values("domain"), values("source_doc_id"), strict=True)
            if doc_id in bright_seed_ids.get(domain or "", ())
        )
    summary["decontamination"] = decontamination
    if counts is not None:
        stats = counts.as_stats()
        summary["drops"] = stats["drops"]
        summary["candidate_drops"] = stats["candidate_drops"]
    return summary


def summarize_raw(
    raw_folder,
    counts: DropCounts | None = None,
    bright_seed_ids: Mapping[str, Collection[str]] | None = None,
) -> dict:
    """`summarize` over the `raw` shards in `raw_folder`, reading only the metric columns (a few
    numbers per sample, never the candidates' texts)."""
    import pyarrow.parquet as pq

    from reasonembed.data.records import raw_schema

    wanted = {
        "domain",
        "source_doc_id",
        *tv.TRIVIALITY_SCALAR_METRICS,
        *tv.TRIVIALITY_LIST_METRICS,
        DECONTAMINATION_BRIGHT_GOLD_CANDIDATES,
        DECONTAMINATION_BRIGHT_MATCH_ID,
        DECONTAMINATION_BRIGHT_METHOD,
        MINING_RECALL,
    }
    columns = [name for name in raw_schema().names if name in wanted]
    table = pq.read_table(raw_folder, columns=columns)
    return summarize(table, counts, bright_seed_ids=bright_seed_ids)

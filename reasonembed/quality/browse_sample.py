"""Which queries the sample browser (reasonembed.quality.browse) shows, read in batches.

Per domain, the at most `browse_limit` queries with the smallest `stable_hash(id)` over the kept
samples (`raw/*.parquet`) and the queries dropped before assembly (`quarantine/quarantine.parquet`,
every stage but "annotation"); then, round-robin over the domains in hash order, those whose
upper-bound size still fits the page's data budget (`choose`). Only small columns are read here;
the full rows of the chosen queries are read by reasonembed.quality.browse_items.
"""

from __future__ import annotations

import heapq
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reasonembed.data.output_folder import OutputFolder
from reasonembed.data.textnorm import stable_hash
from reasonembed.errors import UserError

logger = logging.getLogger(__name__)

BATCH_ROWS = 256
TEXT_CAPS = {  # characters kept per text field
    "query": 4000,
    "source_text": 6000,
    "candidate_text": 600,
    "analysis": 3000,
}
MAX_QUARANTINED_SHOWN = 20
# upper bounds (bytes of JSON) used to choose the queries before their full rows are read
ITEM_OVERHEAD = 600
CANDIDATE_BOUND = TEXT_CAPS["candidate_text"] + TEXT_CAPS["analysis"] + 250
JUDGEMENT_BOUND = TEXT_CAPS["analysis"] + 400
ANNOTATION_STAGE = "annotation"


@dataclass(frozen=True)
class Pick:
    """A query chosen for the page: where its full row is, and an upper bound of its size."""

    item_id: str
    domain: str
    source_doc_id: str
    where: tuple[str, int, int]  # ("raw", shard index, row) or ("quarantine", 0, row)
    estimate: int


def batches(path: Path, wanted: list[str], row_groups: list[int] | None = None) -> Iterator:
    """(first row number, RecordBatch) of the file's columns in `wanted` that exist."""
    parquet = pq.ParquetFile(path)
    names = set(parquet.schema_arrow.names)
    columns = [name for name in wanted if name in names]
    groups = range(parquet.num_row_groups) if row_groups is None else row_groups
    starts = np.concatenate(
        [
            [0],
            np.cumsum(
                [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
            ),
        ]
    )
    for group in groups:
        offset = int(starts[group])
        for batch in parquet.iter_batches(BATCH_ROWS, row_groups=[group], columns=columns):
            yield offset, batch
            offset += batch.num_rows


def row_groups_of(path: Path, rows: set[int]) -> list[int]:
    """The row groups of `path` that hold any of `rows`."""
    metadata = pq.ParquetFile(path).metadata
    groups, start = [], 0
    for group in range(metadata.num_row_groups):
        end = start + metadata.row_group(group).num_rows
        if any(start <= row < end for row in rows):
            groups.append(group)
        start = end
    return groups


def batch_column(batch: pa.RecordBatch, name: str) -> pa.Array | None:
    index = batch.schema.get_field_index(name)
    return batch.column(index) if index >= 0 else None


def _capped_lengths(batch: pa.RecordBatch, name: str, cap: int) -> np.ndarray:
    column = batch_column(batch, name)
    if column is None:
        return np.zeros(batch.num_rows, dtype=np.int64)
    lengths = pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
    return np.minimum(lengths.astype(np.int64), cap)


def _ints(batch: pa.RecordBatch, name: str) -> np.ndarray:
    column = batch_column(batch, name)
    if column is None:
        return np.zeros(batch.num_rows, dtype=np.int64)
    return pc.fill_null(column, 0).to_numpy(zero_copy_only=False).astype(np.int64)


def _strings(batch: pa.RecordBatch, name: str) -> list[str]:
    column = batch_column(batch, name)
    if column is None:
        return [""] * batch.num_rows
    return ["" if value is None else str(value) for value in column.to_pylist()]


def _sample_key(item_id: str) -> int:
    return int(stable_hash(item_id)[:16], 16)


def _dropped_id(domain: str, source_doc_id: str, stage: str) -> str:
    return f"{stage}-{stable_hash(domain, source_doc_id, stage)[:12]}"


def query_key(domain: str, source_doc_id: str) -> str:
    return f"{domain}\x1f{source_doc_id}"


class _Sampler:
    """Per domain, the `limit` entries with the smallest key (a bounded max-heap), and totals."""

    def __init__(self, limit: int):
        self.limit = limit
        self.heaps: dict[str, list] = defaultdict(list)
        self.totals: dict[str, dict[str, int]] = defaultdict(lambda: {"kept": 0, "dropped": 0})

    def offer(self, pick: Pick, status: str) -> None:
        self.totals[pick.domain][status] += 1
        entry = (-_sample_key(pick.item_id), pick.item_id, pick.where, pick)
        heap = self.heaps[pick.domain]
        if len(heap) < self.limit:
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            heapq.heapreplace(heap, entry)

    def chosen(self) -> dict[str, list[Pick]]:
        """Per domain, the kept entries, smallest key first."""
        return {
            domain: [entry[3] for entry in sorted(heap, reverse=True)]
            for domain, heap in self.heaps.items()
        }


def _offer_raw(folder: OutputFolder, sampler: _Sampler) -> None:
    lacking = folder.raw_columns_missing(["sample_id", "domain", "source_doc_id"])
    if lacking is not None:
        path, missing = lacking
        raise UserError(
            f"{path}: no column {missing[0]!r}; expected a `raw` shard written by "
            "`reasonembed generate` (see reasonembed/data/records.py)"
        )
    for shard_index, path in enumerate(folder.raw_files()):
        wanted = [
            "sample_id", "domain", "source_doc_id", "query", "reasoning_query", "source_text",
            "n_positives", "n_negatives",
        ]  # fmt: skip
        for offset, batch in batches(path, wanted):
            estimates = (
                ITEM_OVERHEAD
                + _capped_lengths(batch, "query", TEXT_CAPS["query"])
                + _capped_lengths(batch, "reasoning_query", TEXT_CAPS["query"])
                + _capped_lengths(batch, "source_text", TEXT_CAPS["source_text"])
                + (_ints(batch, "n_positives") + _ints(batch, "n_negatives")) * CANDIDATE_BOUND
            )
            for row, (item_id, domain, source_doc_id) in enumerate(
                zip(
                    _strings(batch, "sample_id"),
                    _strings(batch, "domain"),
                    _strings(batch, "source_doc_id"),
                    strict=True,
                )
            ):
                pick = Pick(
                    item_id,
                    domain or "unknown",
                    source_doc_id,
                    ("raw", shard_index, offset + row),
                    int(estimates[row]),
                )
                sampler.offer(pick, "kept")


def quarantine_file(folder: OutputFolder) -> Path | None:
    """The folder's quarantine file, or None when it has none or lacks the columns shown."""
    path = folder.quarantine_file()
    if path is None:
        return None
    names = set(pq.ParquetFile(path).schema_arrow.names)
    missing = [
        name for name in ("stage", "domain", "source_doc_id", "payload") if name not in names
    ]
    if missing:
        logger.warning("%s has no column %s: dropped queries are not shown", path, missing)
        return None
    return path


def _offer_dropped(path: Path | None, sampler: _Sampler) -> None:
    """Queries rejected at any stage but annotation (kind "drop" or "quarantine")."""
    if path is None:
        return
    for offset, batch in batches(path, ["stage", "domain", "source_doc_id", "payload"]):
        payload = batch_column(batch, "payload")
        sample_ids = pc.struct_field(
            pc.extract_regex(payload, r'"sample_id":\s*"(?P<id>[^"\\]*)"'), "id"
        ).to_pylist()
        n_candidates = pc.fill_null(pc.count_substring(payload, '"retrieval_rank"'), 0)
        estimates = (
            ITEM_OVERHEAD
            + _capped_lengths(
                batch, "payload", 2 * TEXT_CAPS["query"] + TEXT_CAPS["source_text"] + 4000
            )
            + n_candidates.to_numpy(zero_copy_only=False).astype(np.int64) * CANDIDATE_BOUND
        )
        rows = zip(
            _strings(batch, "stage"),
            _strings(batch, "domain"),
            _strings(batch, "source_doc_id"),
            sample_ids,
            strict=True,
        )
        for row, (stage, domain, source_doc_id, sample_id) in enumerate(rows):
            if stage == ANNOTATION_STAGE:
                continue
            domain = domain or "unknown"
            item_id = sample_id or _dropped_id(domain, source_doc_id, stage)
            pick = Pick(
                item_id, domain, source_doc_id, ("quarantine", 0, offset + row), int(estimates[row])
            )
            sampler.offer(pick, "dropped")


def _judgement_counts(path: Path | None, keys: set[str]) -> dict[str, int]:
    """Quarantined judgements per (domain, source_doc_id) key, for the given keys only."""
    counts: dict[str, int] = defaultdict(int)
    if path is None or not keys:
        return counts
    for _, batch in batches(path, ["stage", "domain", "source_doc_id"]):
        for stage, domain, source_doc_id in zip(
            _strings(batch, "stage"),
            _strings(batch, "domain"),
            _strings(batch, "source_doc_id"),
            strict=True,
        ):
            key = query_key(domain or "unknown", source_doc_id)
            if stage == ANNOTATION_STAGE and key in keys:
                counts[key] += 1
    return counts


def _within_budget(
    chosen: dict[str, list[Pick]], judgements: dict[str, int], budget: int
) -> list[Pick]:
    """Round-robin over the domains (each in hash order): every pick whose estimate still fits."""
    taken, used = [], 0
    depth = max((len(picks) for picks in chosen.values()), default=0)
    for position in range(depth):
        for domain in sorted(chosen):
            if position >= len(chosen[domain]):
                continue
            pick = chosen[domain][position]
            shown = min(
                judgements.get(query_key(domain, pick.source_doc_id), 0), MAX_QUARANTINED_SHOWN
            )
            size = pick.estimate + shown * JUDGEMENT_BOUND
            if used + size <= budget:
                taken.append(pick)
                used += size
    return taken


@dataclass(frozen=True)
class Selection:
    """The queries the page shows (in per-domain hash order), and the totals they come from."""

    picks: list[Pick]
    totals: dict[str, dict[str, int]]  # per domain: {"kept": n, "dropped": n}
    cut_by_budget: bool  # fewer picks than the limit allows: the budget left some out


def choose(
    folder: OutputFolder, quarantine: Path | None, browse_limit: int, max_data_bytes: int
) -> Selection:
    """The queries shown for the generate output `folder` (see the module docstring)."""
    sampler = _Sampler(browse_limit)
    _offer_raw(folder, sampler)
    _offer_dropped(quarantine, sampler)
    chosen = sampler.chosen()
    keys = {query_key(p.domain, p.source_doc_id) for picks in chosen.values() for p in picks}
    picks = _within_budget(chosen, _judgement_counts(quarantine, keys), max_data_bytes)
    cut = len(picks) < sum(len(p) for p in chosen.values())
    return Selection(picks, sampler.totals, cut)

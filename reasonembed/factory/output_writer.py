"""Streams the pipeline's leaf records into a `reasonembed generate` output folder.

`OutputWriter(folder, ...)` takes the records of `assemble_samples` (reasonembed/steps/assembly.py)
batch by batch (`add`) and writes, as they arrive:

    raw/train-IIIII-of-NNNNN.parquet          kept samples, `shard_rows` per shard
    reasonembed/{domain}.jsonl, flagembedding/{domain}.jsonl   appended per batch
    quarantine/quarantine.parquet             every rejection entry (row groups per batch)

and, at `close()`, the `sentence-transformers` shards (a second pass over `raw`: every row must
have the same number of negatives, the smallest of the dataset, which is known only at the end).
Memory is bounded by one batch plus per-domain counters, never by the dataset. `close()` returns
the `FunnelCounts` the stats are built from.

`leaf_files(pipeline, step_name)` finds the leaf's files in distilabel's data folder by step name
and `iter_raw_batches` reads them a batch at a time (never through the Distiset, which renames a
lone leaf to "default" and materialises every row).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from reasonembed.data import exports
from reasonembed.data.domains import DomainRegistry
from reasonembed.data.records import (
    QUARANTINE_FILE,
    QUARANTINE_SCHEMA,
    USAGE_STAGES,
    raw_schema,
    sentence_transformers_negative,
)
from reasonembed.data.stats import drop_key
from reasonembed.quality.filters import DropCounts, FilterOutcome

# funnel stage a rejection at each pipeline stage is counted against
FUNNEL_OF_STAGE = {
    "domain_filter": "queries",
    "query": "queries",
    "reasoning": "queries",
    "query_filter": "queries",
    "mining": "mined queries",
    "annotation": "annotated queries",
    "pipeline": "annotated queries",  # a step raised: its batch's outputs became None
    "assembly": "samples",
}
FUNNEL_STAGES = ("queries", "mined queries", "annotated queries", "samples")
LAYOUT_SAMPLES = 32  # samples whose annotation prompts are measured for prefix sharing


@dataclass
class FunnelCounts:
    """What the writer saw: one status per seed, drops by funnel stage and reason, and totals."""

    statuses: Counter = field(default_factory=Counter)
    drops_into: dict[str, Counter] = field(
        default_factory=lambda: {s: Counter() for s in FUNNEL_STAGES}
    )
    candidates: int = 0
    judgements: int = 0
    quarantined_queries: int = 0
    quarantined_judgements: int = 0
    reasks: Counter = field(default_factory=Counter)
    answers: Counter = field(default_factory=Counter)  # stage -> LLM answers the rows carry
    samples_per_domain: Counter = field(default_factory=Counter)
    positives: int = 0
    negatives: int = 0
    deferred_rows: int = 0
    deferred_reasons: set[str] = field(default_factory=set)
    quality_counts: DropCounts = field(default_factory=DropCounts)
    layout_samples: list[dict[str, Any]] = field(default_factory=list)
    prompt_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def seeds_seen(self) -> int:
        return sum(self.statuses.values())


class _ShardedParquet:
    """Parquet shards of `shard_rows` rows under `folder`, renamed train-IIIII-of-NNNNN at close."""

    def __init__(self, folder: Path, schema: pa.Schema, shard_rows: int) -> None:
        self.folder, self.schema, self.shard_rows = folder, schema, shard_rows
        self.folder.mkdir(parents=True, exist_ok=True)
        self.parts: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_part = 0

    def write(self, rows: list[dict[str, Any]]) -> None:
        while rows:
            if self._writer is None or self._rows_in_part >= self.shard_rows:
                self._rotate()
            take = rows[: self.shard_rows - self._rows_in_part]
            rows = rows[len(take) :]
            self._writer.write_table(pa.Table.from_pylist(take, schema=self.schema))
            self._rows_in_part += len(take)

    def _rotate(self) -> None:
        if self._writer is not None:
            self._writer.close()
        path = self.folder / f".part-{len(self.parts):05d}.parquet"
        self.parts.append(path)
        self._writer = pq.ParquetWriter(path, self.schema)
        self._rows_in_part = 0

    def abort(self) -> None:
        """Close the open shard after a failed write, ignoring its errors (the caller removes
        the folder); no writer is left for the garbage collector to close noisily."""
        if self._writer is not None:
            close_quietly(self._writer)
            self._writer = None

    def close(self) -> list[Path]:
        if self._writer is None:  # no row at all: one empty shard keeps the schema readable
            self._rotate()
        self._writer.close()
        final = []
        for number, part in enumerate(self.parts):
            path = self.folder / f"train-{number:05d}-of-{len(self.parts):05d}.parquet"
            os.replace(part, path)
            final.append(path)
        return final


class OutputWriter:
    """See the module docstring. `folder` must be new (the caller renames it into place)."""

    def __init__(
        self,
        folder: Path,
        registry: DomainRegistry,
        positive_threshold: int,
        shard_rows: int = 10_000,
        max_st_negatives: int = 7,
    ) -> None:
        self.folder = folder
        self.registry = registry
        self.threshold = positive_threshold
        self.shard_rows = shard_rows
        self.max_st_negatives = max_st_negatives
        self.schema = raw_schema()
        self.raw = _ShardedParquet(folder / "raw", self.schema, shard_rows)
        self.counts = FunnelCounts()
        self._jsonl: dict[tuple[str, str], Any] = {}
        quarantine = folder / QUARANTINE_FILE
        quarantine.parent.mkdir(parents=True, exist_ok=True)
        self._quarantine = pq.ParquetWriter(quarantine, QUARANTINE_SCHEMA)
        self._min_negatives: int | None = None
        self._st: _ShardedParquet | None = None  # the sentence-transformers shards, at close

    # --- streaming -------------------------------------------------------------------------
    def add(self, records: Iterable[dict[str, Any]]) -> None:
        kept: list[dict[str, Any]] = []
        rejections: list[dict[str, Any]] = []
        for record in records:
            status = record["status"]
            self.counts.statuses[status] += 1
            entries = json.loads(record["rejections"] or "[]")
            rejections.extend(entry for entry in entries if entry["kind"] != "deferred")
            sample = json.loads(record["sample"]) if record["sample"] else None
            self._count(status, sample, entries)
            if status == "kept":
                kept.append(sample)
        if kept:
            self._write_kept(kept)
        if rejections:
            self._quarantine.write_table(pa.Table.from_pylist(rejections, schema=QUARANTINE_SCHEMA))

    def _count(self, status: str, sample: dict | None, entries: list[dict[str, Any]]) -> None:
        counts = self.counts
        if status in ("rejected", "deferred") and sample is None:
            entry = entries[0]
            counts.drops_into[FUNNEL_OF_STAGE[entry["stage"]]][drop_key(entry)] += 1
            if entry["kind"] == "quarantine":
                counts.quarantined_queries += 1
            if entry["stage"] == "query_filter":
                counts.quality_counts.add_query_drop(entry["reason"])
            if status == "deferred":
                counts.deferred_rows += len(entries)
                counts.deferred_reasons.update(e["reason"].split(" (")[0] for e in entries)
            payload = json.loads(entry["payload"])
            for stage in USAGE_STAGES:
                attempts = int(payload.get(f"{stage}_attempts") or 0)
                counts.answers[stage] += attempts
                if attempts and stage != "annotation":
                    counts.reasks[stage] += attempts - 1
            return
        judged = len(sample["candidates"]) + len(sample.get("removed_candidates") or ())
        quarantined = int(sample["n_annotation_quarantined"])
        counts.candidates += judged + quarantined
        counts.judgements += judged
        counts.quarantined_judgements += quarantined
        for stage in USAGE_STAGES:
            attempts = int(sample.get(f"{stage}_attempts") or 0)
            asked = judged + quarantined if stage == "annotation" else 1
            counts.answers[stage] += attempts
            if attempts:
                counts.reasks[stage] += attempts - asked
        for name, value in (sample.get("prompt_hashes") or {}).items():
            if value:
                counts.prompt_hashes.setdefault(name, value)
        removed = Counter(json.loads(sample.get("candidate_removals") or "{}"))
        if status == "dropped":
            counts.drops_into["samples"][f"assembly:drop:{sample['drop_reason']}"] += 1
            counts.quality_counts.add(FilterOutcome(sample=None, reason=sample["drop_reason"]))
            return
        counts.quality_counts.add(
            FilterOutcome(sample=sample, removed=removed),
            gold_candidates=int(sample.get("decontamination_bright_gold_candidates") or 0),
        )
        counts.samples_per_domain[sample["domain"]] += 1
        counts.positives += sample["n_positives"]
        counts.negatives += sample["n_negatives"]
        if len(counts.layout_samples) < LAYOUT_SAMPLES:
            counts.layout_samples.append(
                {
                    "domain": sample["domain"],
                    "query": sample["query"],
                    "texts": [c["text"] for c in sample["candidates"]],
                }
            )

    def _write_kept(self, samples: list[dict[str, Any]]) -> None:
        unknown = set(samples[0]) - set(self.schema.names)
        if unknown:
            raise RuntimeError(f"raw samples carry columns missing from the raw schema: {unknown}")
        self.raw.write(samples)
        for name, rows in (
            ("reasonembed", exports.reasonembed_rows(samples, self.registry, self.threshold)),
            ("flagembedding", exports.flagembedding_rows(samples, self.threshold)),
        ):
            for sample, row in zip(samples, rows, strict=True):
                self._jsonl_handle(name, sample["domain"]).write(
                    json.dumps(row, ensure_ascii=False) + "\n"
                )
        for sample in samples:
            negatives = sample["n_negatives"]
            if self._min_negatives is None or negatives < self._min_negatives:
                self._min_negatives = negatives

    def _jsonl_handle(self, config: str, domain: str):
        key = (config, domain)
        if key not in self._jsonl:
            path = self.folder / config / f"{domain}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._jsonl[key] = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close)
        return self._jsonl[key]

    # --- end -------------------------------------------------------------------------------
    def abort(self) -> None:
        """After a failed write (a full disk, an interruption): close every file quietly; the
        caller removes the folder."""
        self.raw.abort()
        if self._st is not None:
            self._st.abort()
        for handle in self._jsonl.values():
            try:
                handle.close()
            except OSError:
                pass  # the file is closed even when its last flush fails
        close_quietly(self._quarantine)

    def close(self) -> FunnelCounts:
        raw_files = self.raw.close()
        for handle in self._jsonl.values():
            handle.close()
        for config in ("reasonembed", "flagembedding"):
            (self.folder / config).mkdir(parents=True, exist_ok=True)
        self._quarantine.close()
        self._write_sentence_transformers(raw_files)
        return self.counts

    def _write_sentence_transformers(self, raw_files: list[Path]) -> None:
        """anchor, positive, negative_1..negative_n: n the same for every row (the dataset's
        smallest number of negatives, capped at `max_st_negatives`), read back from `raw`."""
        n_negatives = min(self.max_st_negatives, self._min_negatives or 0)
        schema = pa.schema(
            [("anchor", pa.string()), ("positive", pa.string())]
            + [(sentence_transformers_negative(i), pa.string()) for i in range(1, n_negatives + 1)]
        )
        self._st = _ShardedParquet(self.folder / "sentence-transformers", schema, self.shard_rows)
        for batch in iter_raw_batches(raw_files, columns=["query", "candidates"]):
            self._st.write(
                exports.sentence_transformers_rows(batch, self.threshold, n_negatives=n_negatives)
            )
        self._st.close()


def close_quietly(writer: pq.ParquetWriter) -> None:
    """Close `writer`, ignoring a failure (pyarrow would retry it, noisily, when collected)."""
    try:
        writer.close()
    except OSError:
        writer.is_open = False
        if writer.file_handle is not None:
            try:
                writer.file_handle.close()
            except OSError:
                pass


def iter_raw_batches(
    files: Iterable[Path], columns: list[str] | None = None, batch_rows: int = 100
) -> Iterator[list[dict[str, Any]]]:
    """Rows of parquet `files` as lists of dicts, `batch_rows` at a time (a raw sample carries
    its candidates' texts and analyses: 100 paper-sized samples are ~40 MB of text; at 1,000
    the sentence-transformers pass was the writer's peak, 463 vs 293 MiB at 2,000 samples)."""
    for path in files:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            yield batch.to_pylist()


class CountedBatches:
    """Iterates `batches` (lists of rows), counting the rows handed out so far in `rows`."""

    def __init__(self, batches: Iterable[list[dict[str, Any]]]) -> None:
        self.batches, self.rows = batches, 0

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        for batch in self.batches:
            self.rows += len(batch)
            yield batch


def leaf_files(pipeline, step_name: str) -> list[Path]:
    """The parquet files distilabel's write buffer wrote for the leaf `step_name`, in order."""
    from distilabel.constants import STEPS_OUTPUTS_PATH

    folder = Path(pipeline._cache_location["data"]) / STEPS_OUTPUTS_PATH / step_name
    return sorted(folder.glob("*.parquet")) if folder.exists() else []

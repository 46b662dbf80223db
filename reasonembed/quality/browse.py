"""`write_browser`: one self-contained HTML page to look at a `reasonembed generate` output.

Contract:

    write_browser(output_dir, report_dir, browse_limit=200, *, max_data_bytes=16_000_000) -> Path

writes `report_dir/index.html` and returns its path. The page opens from disk with no server and
no network (a Content-Security-Policy forbids every fetch; the plots are inline data URIs, the
data inline JSON, the script vanilla JS). It holds:

- the report's tables from `output_dir/stats.json` (funnel, drops by reason, candidate drops,
  quarantined counts, triviality metrics; every section optional, malformed ones skipped) and
  every `report_dir/*.png` plot;
- a sample browser over a deterministic sample of the queries: per domain, the at most
  `browse_limit` queries with the smallest `stable_hash(id)`, where id is the `sample_id` (kept
  samples; assembly drops carry theirs in the payload) or, for queries rejected before
  assembly, `{stage}-` + a hash of (domain, source_doc_id, stage). Kept samples come from
  `raw/*.parquet`; dropped ones from `quarantine/quarantine.parquet` (every stage but
  "annotation"); quarantined judgements (stage "annotation") are listed under the shown query
  with the same (domain, source_doc_id). The page says how many queries it shows out of how many,
  per domain and in total, kept and dropped.

Size and memory: texts are cut to TEXT_CAPS characters (the page says how much was cut), at most
MAX_QUARANTINED_SHOWN quarantined judgements per query, and the shown queries are further
limited so that the inline data stays under `max_data_bytes` (an upper-bound estimate per query,
taken round-robin over the domains in hash order). Files are read in batches
(`ParquetFile.iter_batches`): a first pass reads only the small columns to choose the queries, a
second reads the full rows of the row groups that hold a chosen one; memory is bounded by the
budget and one batch, not by the dataset.

Page parameters (the URL fragment; the filters write it back, so a filtered view is a link):
`domain`; `status` (kept | dropped); `reason` (a drop reason spelled as the keys of stats.json
`drops`, `stage:kind:reason`: `output_writer.drop_key`); `minpos` (minimum positives);
`rank_min` / `rank_max` (source dense rank, `triviality_source_dense_rank`; a query whose source
was not found in the searched depth counts as beyond any rank); `q` (words that must all occur
in the query, q', sample id or source doc id; case-insensitive); `open` (a sample id: that
sample is shown opened) and `analyses=open` (its analyses unfolded; otherwise each opens on
click). Example: `index.html#domain=biology&q=heap&open=0a1b2c3d4e5f6a7b`.
"""

from __future__ import annotations

import base64
import heapq
import html
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from reasonembed.errors import UserError
from reasonembed.output import write_text
from reasonembed.output_writer import drop_key
from reasonembed.quality import triviality as tv
from reasonembed.quality.decontamination import words
from reasonembed.quality.filters import REMOVED_SOURCE_DUPLICATE
from reasonembed.records import CONFIG_FILE, QUARANTINE_FILE, STATS_FILE
from reasonembed.textnorm import stable_hash

logger = logging.getLogger(__name__)

BROWSER_FILE = "index.html"
TEMPLATE = Path(__file__).with_name("browse.html")
DEFAULT_BROWSE_LIMIT = 200
DEFAULT_MAX_DATA_BYTES = 16_000_000  # inline data; the page (with plots) stays under ~20 MB
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
# raw columns never shown (large and not about the sample's content)
SKIPPED_COLUMNS = {tv.TRIVIALITY_BM25_TOP_IDS, "prompt_hashes"}
METRIC_PREFIXES = ("triviality_", "decontamination_")
MAX_LIST_SHOWN = 20
_WORD = re.compile(r"\w+")
_MARKER = re.compile(r"@@(TITLE|HEADER|SUMMARY|DATA)@@")


@dataclass(frozen=True)
class _Pick:
    """A query chosen for the page: where its full row is, and an upper bound of its size."""

    item_id: str
    domain: str
    source_doc_id: str
    where: tuple[str, int, int]  # ("raw", shard index, row) or ("quarantine", 0, row)
    estimate: int


# --- reading --------------------------------------------------------------------------------
def _batches(path: Path, wanted: list[str], row_groups: list[int] | None = None) -> Iterator:
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


def _row_groups_of(path: Path, rows: set[int]) -> list[int]:
    """The row groups of `path` that hold any of `rows`."""
    metadata = pq.ParquetFile(path).metadata
    groups, start = [], 0
    for group in range(metadata.num_row_groups):
        end = start + metadata.row_group(group).num_rows
        if any(start <= row < end for row in rows):
            groups.append(group)
        start = end
    return groups


def _column(batch: pa.RecordBatch, name: str) -> pa.Array | None:
    index = batch.schema.get_field_index(name)
    return batch.column(index) if index >= 0 else None


def _capped_lengths(batch: pa.RecordBatch, name: str, cap: int) -> np.ndarray:
    column = _column(batch, name)
    if column is None:
        return np.zeros(batch.num_rows, dtype=np.int64)
    lengths = pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
    return np.minimum(lengths.astype(np.int64), cap)


def _ints(batch: pa.RecordBatch, name: str) -> np.ndarray:
    column = _column(batch, name)
    if column is None:
        return np.zeros(batch.num_rows, dtype=np.int64)
    return pc.fill_null(column, 0).to_numpy(zero_copy_only=False).astype(np.int64)


def _strings(batch: pa.RecordBatch, name: str) -> list[str]:
    column = _column(batch, name)
    if column is None:
        return [""] * batch.num_rows
    return ["" if value is None else str(value) for value in column.to_pylist()]


def _sample_key(item_id: str) -> int:
    return int(stable_hash(item_id)[:16], 16)


def _dropped_id(domain: str, source_doc_id: str, stage: str) -> str:
    return f"{stage}-{stable_hash(domain, source_doc_id, stage)[:12]}"


def _query_key(domain: str, source_doc_id: str) -> str:
    return f"{domain}\x1f{source_doc_id}"


class _Sampler:
    """Per domain, the `limit` entries with the smallest key (a bounded max-heap), and totals."""

    def __init__(self, limit: int):
        self.limit = limit
        self.heaps: dict[str, list] = defaultdict(list)
        self.totals: dict[str, dict[str, int]] = defaultdict(lambda: {"kept": 0, "dropped": 0})

    def offer(self, pick: _Pick, status: str) -> None:
        self.totals[pick.domain][status] += 1
        entry = (-_sample_key(pick.item_id), pick.item_id, pick.where, pick)
        heap = self.heaps[pick.domain]
        if len(heap) < self.limit:
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            heapq.heapreplace(heap, entry)

    def chosen(self) -> dict[str, list[_Pick]]:
        """Per domain, the kept entries, smallest key first."""
        return {
            domain: [entry[3] for entry in sorted(heap, reverse=True)]
            for domain, heap in self.heaps.items()
        }


def _raw_shards(output_dir: Path) -> list[Path]:
    return sorted((output_dir / "raw").glob("*.parquet"))


def _offer_raw(output_dir: Path, sampler: _Sampler) -> None:
    for shard_index, path in enumerate(_raw_shards(output_dir)):
        names = set(pq.ParquetFile(path).schema_arrow.names)
        for required in ("sample_id", "domain", "source_doc_id"):
            if required not in names:
                raise UserError(
                    f"{path}: no column {required!r}; expected a `raw` shard written by "
                    "`reasonembed generate` (see reasonembed/records.py)"
                )
        wanted = [
            "sample_id", "domain", "source_doc_id", "query", "reasoning_query", "source_text",
            "n_positives", "n_negatives",
        ]  # fmt: skip
        for offset, batch in _batches(path, wanted):
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
                pick = _Pick(
                    item_id,
                    domain or "unknown",
                    source_doc_id,
                    ("raw", shard_index, offset + row),
                    int(estimates[row]),
                )
                sampler.offer(pick, "kept")


def _quarantine_file(output_dir: Path) -> Path | None:
    path = output_dir / QUARANTINE_FILE
    if not path.exists():
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
    for offset, batch in _batches(path, ["stage", "domain", "source_doc_id", "payload"]):
        payload = _column(batch, "payload")
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
            pick = _Pick(
                item_id, domain, source_doc_id, ("quarantine", 0, offset + row), int(estimates[row])
            )
            sampler.offer(pick, "dropped")


def _judgement_counts(path: Path | None, keys: set[str]) -> dict[str, int]:
    """Quarantined judgements per (domain, source_doc_id) key, for the given keys only."""
    counts: dict[str, int] = defaultdict(int)
    if path is None or not keys:
        return counts
    for _, batch in _batches(path, ["stage", "domain", "source_doc_id"]):
        for stage, domain, source_doc_id in zip(
            _strings(batch, "stage"),
            _strings(batch, "domain"),
            _strings(batch, "source_doc_id"),
            strict=True,
        ):
            key = _query_key(domain or "unknown", source_doc_id)
            if stage == ANNOTATION_STAGE and key in keys:
                counts[key] += 1
    return counts


def _within_budget(
    chosen: dict[str, list[_Pick]], judgements: dict[str, int], budget: int
) -> list[_Pick]:
    """Round-robin over the domains (each in hash order): every pick whose estimate still fits."""
    taken, used = [], 0
    depth = max((len(picks) for picks in chosen.values()), default=0)
    for position in range(depth):
        for domain in sorted(chosen):
            if position >= len(chosen[domain]):
                continue
            pick = chosen[domain][position]
            shown = min(
                judgements.get(_query_key(domain, pick.source_doc_id), 0), MAX_QUARANTINED_SHOWN
            )
            size = pick.estimate + shown * JUDGEMENT_BOUND
            if used + size <= budget:
                taken.append(pick)
                used += size
    return taken


# --- items (the page's data) -----------------------------------------------------------------
def _cut(text: Any, cap: int) -> tuple[str, int]:
    """(text cut to `cap` characters, characters left out)."""
    text = "" if text is None else str(text)
    return (text, 0) if len(text) <= cap else (text[:cap], len(text) - cap)


def _utf16(text: str, index: int) -> int:
    """JavaScript string offset (UTF-16 code units) of the Python offset `index` in `text`."""
    return len(text[:index].encode("utf-16-le")) // 2


def _word_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The normalised words of `text` (as `decontamination.words`) with their spans in `text`."""
    found, spans = [], []
    for match in _WORD.finditer(text):
        for word in words(match.group()):
            found.append(word)
            spans.append(match.span())
    return found, spans


def copied_spans(query: str, source: str) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Character spans (query, source) of the longest word run the query shares with its source.

    The same run as `triviality.longest_common_run` (normalised words, longest common block);
    None when they share no word.
    """
    query_words, query_spans = _word_spans(query)
    source_words, source_spans = _word_spans(source)
    block = tv.longest_common_block(query_words, source_words)
    if block is None:
        return None
    last = block.size - 1
    return (
        (query_spans[block.a][0], query_spans[block.a + last][1]),
        (source_spans[block.b][0], source_spans[block.b + last][1]),
    )


def _excerpt(text: str, span: tuple[int, int] | None, cap: int) -> dict:
    """The text cut to `cap` characters around the marked span, with JS offsets of the mark."""
    start = 0
    if span is not None and span[1] > cap:
        start = max(0, min(span[0] - 200, len(text) - cap))
    excerpt = text[start : start + cap]
    mark = None
    if span is not None:
        begin, end = max(span[0] - start, 0), min(span[1] - start, len(excerpt))
        if begin < end:
            mark = [_utf16(excerpt, begin), _utf16(excerpt, end)]
    return {
        "text": excerpt,
        "mark": mark,
        "before": start,
        "after": max(len(text) - start - len(excerpt), 0),
    }


def _shown_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        shown = ", ".join(str(element) for element in value[:MAX_LIST_SHOWN])
        more = len(value) - MAX_LIST_SHOWN
        return shown + (f", ... (+{more})" if more > 0 else "") if value else "[]"
    return str(value)


def _finite(value: Any) -> float | int | None:
    """A number JSON can carry (NaN and infinities become None)."""
    if isinstance(value, int | float) and np.isfinite(value):
        return value
    return None


def _rank(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else float("inf")


def _item(row: dict, status: str, threshold: int, reason: str | None = None) -> dict:
    """The page's view of one query (a raw sample or a rejected row's payload)."""
    query, source = str(row.get("query") or ""), str(row.get("source_text") or "")
    spans = copied_spans(query, source) if query and source else None
    candidates = sorted(
        (c for c in row.get("candidates") or () if isinstance(c, dict)),
        key=lambda c: _rank(c.get("retrieval_rank")),
    )
    shown_candidates = []
    for candidate in candidates:
        text, text_more = _cut(candidate.get("text"), TEXT_CAPS["candidate_text"])
        analysis, analysis_more = _cut(candidate.get("relevance_analysis"), TEXT_CAPS["analysis"])
        shown_candidates.append(
            {
                "doc_id": str(candidate.get("doc_id")),
                "rank": _finite(candidate.get("retrieval_rank")),
                "score": _finite(candidate.get("retrieval_score")),
                "rel": _finite(candidate.get("relevance_score")),
                "text": text,
                "text_more": text_more,
                "analysis": analysis,
                "analysis_more": analysis_more,
            }
        )
    scores = [c["rel"] for c in shown_candidates if isinstance(c["rel"], int | float)]
    n_pos = row.get("n_positives")
    n_neg = row.get("n_negatives")
    removed = [
        {"doc_id": str(entry.get("doc_id")), "reason": str(entry.get("reason"))}
        for entry in row.get("removed_candidates") or ()
        if isinstance(entry, dict)
    ] or [
        {"doc_id": str(doc_id), "reason": REMOVED_SOURCE_DUPLICATE}
        for doc_id in row.get(tv.TRIVIALITY_SOURCE_DUPLICATE_IDS) or ()
    ]
    dense_rank = row.get(tv.TRIVIALITY_SOURCE_DENSE_RANK)
    reasoning_query, reasoning_more = _cut(row.get("reasoning_query"), TEXT_CAPS["query"])
    return {
        "id": str(row.get("sample_id")),
        "domain": str(row.get("domain") or "unknown"),
        "status": status,
        "reason": reason,
        "source_doc_id": str(row.get("source_doc_id") or ""),
        "query": _excerpt(query, spans[0] if spans else None, TEXT_CAPS["query"]),
        "reasoning_query": reasoning_query,
        "reasoning_more": reasoning_more,
        "instruction": str(row.get("instruction") or ""),
        "target_length": str(row.get("target_length") or ""),
        "education_level": str(row.get("education_level") or ""),
        "source": _excerpt(source, spans[1] if spans else None, TEXT_CAPS["source_text"]),
        "n_pos": int(n_pos) if n_pos is not None else sum(1 for s in scores if s >= threshold),
        "n_neg": int(n_neg) if n_neg is not None else sum(1 for s in scores if s < threshold),
        "dense_rank": dense_rank if isinstance(dense_rank, int) else None,
        "metrics": [
            [name, _shown_value(value)]
            for name, value in sorted(row.items())
            if name.startswith(METRIC_PREFIXES)
            and name not in SKIPPED_COLUMNS
            and value is not None
        ],
        "candidates": shown_candidates,
        "removed": removed,
        "quarantined": [],
        "quarantined_total": 0,
    }


def _judgement(payload: dict, row: dict) -> dict:
    answer, answer_more = _cut(payload.get("relevance_analysis"), TEXT_CAPS["analysis"])
    return {
        "doc_id": str(row.get("doc_id") or payload.get("doc_id") or ""),
        "rank": _finite(payload.get("retrieval_rank")),
        "kind": str(row.get("kind") or ""),
        "reason": str(row.get("reason") or ""),
        "error": str(payload.get("annotation_error") or ""),
        "answer": answer,
        "answer_more": answer_more,
    }


def _load_payload(text: Any, where: str) -> dict:
    try:
        payload = json.loads(text or "{}")
    except json.JSONDecodeError:
        logger.warning("%s: a payload is not valid JSON; shown without its fields", where)
        return {}
    return payload if isinstance(payload, dict) else {}


def _read_items(
    output_dir: Path, quarantine: Path | None, picks: list[_Pick], threshold: int
) -> list[dict]:
    """The chosen queries' full rows, as page items, with their quarantined judgements."""
    by_place = {pick.where: pick for pick in picks}
    items: dict[str, dict] = {}
    shards = _raw_shards(output_dir)
    wanted_raw = defaultdict(set)
    for kind, shard, row in by_place:
        if kind == "raw":
            wanted_raw[shard].add(row)
    for shard, rows in sorted(wanted_raw.items()):
        path = shards[shard]
        columns = [n for n in pq.ParquetFile(path).schema_arrow.names if n not in SKIPPED_COLUMNS]
        for offset, batch in _batches(path, columns, _row_groups_of(path, rows)):
            chosen = [r - offset for r in sorted(rows) if offset <= r < offset + batch.num_rows]
            if not chosen:
                continue
            for row in batch.take(pa.array(chosen)).to_pylist():
                items[str(row.get("sample_id"))] = _item(row, "kept", threshold)

    keys = {_query_key(pick.domain, pick.source_doc_id) for pick in picks}
    judgements: dict[str, list[dict]] = defaultdict(list)
    judgement_totals: dict[str, int] = defaultdict(int)
    dropped_rows = {row for kind, _, row in by_place if kind == "quarantine"}
    if quarantine is not None:
        columns = ["stage", "kind", "reason", "domain", "source_doc_id", "doc_id", "payload"]
        key_set = pa.array(sorted(keys), pa.string())
        for offset, batch in _batches(quarantine, columns):
            key_column = pc.binary_join_element_wise(
                pc.fill_null(_column(batch, "domain"), "unknown"),
                pc.fill_null(_column(batch, "source_doc_id"), ""),
                "\x1f",
            )
            mask = pc.fill_null(
                pc.and_(
                    pc.equal(_column(batch, "stage"), ANNOTATION_STAGE),
                    pc.is_in(key_column, value_set=key_set),
                ),
                False,
            ).to_numpy(zero_copy_only=False)
            positions = [i for i in range(batch.num_rows) if mask[i] or offset + i in dropped_rows]
            if not positions:
                continue
            for position, row in zip(
                positions, batch.take(pa.array(positions)).to_pylist(), strict=True
            ):
                payload = _load_payload(row.get("payload"), str(quarantine))
                domain = row.get("domain") or "unknown"
                source_doc_id = row.get("source_doc_id") or ""
                stage = str(row.get("stage") or "")
                if stage == ANNOTATION_STAGE:
                    key = _query_key(domain, source_doc_id)
                    judgement_totals[key] += 1
                    judgements[key].append(_judgement(payload, row))
                    continue
                pick = by_place.get(("quarantine", 0, offset + position))
                if pick is None:
                    continue
                sample = {**payload, "domain": domain, "source_doc_id": source_doc_id}
                sample["sample_id"] = pick.item_id
                reason, kind = str(row.get("reason") or ""), str(row.get("kind") or "")
                label = drop_key({"stage": stage, "kind": kind or "drop", "reason": reason})
                item = _item(sample, "dropped", threshold, label)
                item["reason_text"] = reason
                item["stage"] = stage
                item["kind"] = kind
                items[pick.item_id] = item
    ordered = []
    position = {pick.item_id: index for index, pick in enumerate(picks)}
    for pick in sorted(picks, key=lambda p: (p.domain, position[p.item_id])):
        item = items.get(pick.item_id)
        if item is None:
            continue
        key = _query_key(pick.domain, pick.source_doc_id)
        found = sorted(judgements.get(key, []), key=lambda j: _rank(j["rank"]))
        item["quarantined"] = found[:MAX_QUARANTINED_SHOWN]
        item["quarantined_total"] = judgement_totals.get(key, 0)
        ordered.append(item)
    return ordered


# --- summary (static HTML) -------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _e(value if value is not None else "-")
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}"


def _table(header: list[str], body: list[list[str]], css: str = "") -> str:
    """An HTML table; cells are already escaped."""
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    rows = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in body)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _read_stats(output_dir: Path) -> dict:
    path = output_dir / STATS_FILE
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        logger.warning("%s is not valid JSON (%s): the page has no stats tables", path, error)
        return {}
    return stats if isinstance(stats, dict) else {}


def positive_threshold(output_dir: Path, stats: dict) -> int:
    """`annotation.positive_threshold` of config.yaml, else stats.json's `positive_threshold`,
    else its triviality_config `min_positive_score`, else the default (3)."""
    try:
        config = yaml.safe_load((output_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        value = config["annotation"]["positive_threshold"]
        if isinstance(value, int):
            return value
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        pass
    for value in (
        stats.get("positive_threshold"),
        (stats.get("triviality_config") or {}).get("min_positive_score"),
    ):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return tv.DEFAULT_POSITIVE_SCORE


def _counts_table(section: Any) -> str:
    if not isinstance(section, dict) or not section:
        return ""
    body = [
        [_e(reason), _number(count)]
        for reason, count in sorted(section.items(), key=lambda kv: str(kv[0]))
        if not isinstance(count, dict | list)
    ]
    return _table(["reason", "count"], body, "counts") if body else ""


def _summary_html(stats: dict, report_dir: Path) -> str:
    parts = []
    funnel = stats.get("funnel")
    if isinstance(funnel, list) and funnel:
        body = []
        for entry in funnel:
            if not isinstance(entry, dict):
                continue
            drops = entry.get("drops") if isinstance(entry.get("drops"), dict) else {}
            body.append(
                [
                    _e(entry.get("stage", "?")),
                    _number(entry.get("count")),
                    _e(
                        ", ".join(
                            f"{r}: {c:,}" if isinstance(c, int) else f"{r}: {c}"
                            for r, c in drops.items()
                        )
                        or "-"
                    ),
                ]
            )
        parts.append("<h3>Funnel</h3>" + _table(["stage", "rows", "dropped here"], body, "funnel"))
    quality = stats.get("quality") if isinstance(stats.get("quality"), dict) else {}
    for key, title in (
        ("drops", "Queries dropped, by reason"),
        ("candidate_drops", "Candidates removed, by reason"),
        ("quarantined", "Quarantined (LLM answers that failed their parser)"),
    ):
        table = _counts_table(stats.get(key) or quality.get(key))
        if table:
            parts.append(f"<h3>{_e(title)}</h3>{table}")
    metrics = quality.get("metrics")
    if isinstance(metrics, dict) and metrics:
        columns = ("count", "mean", "p10", "median", "p90", "max")
        body = [
            [f"<code>{_e(name)}</code>"] + [_number(m.get(c)) for c in columns]
            for name, m in metrics.items()
            if isinstance(m, dict)
        ]
        parts.append("<h3>Triviality metrics</h3>" + _table(["metric", *columns], body, "metrics"))
    if not parts:
        parts.append("<p>stats.json has no funnel or drop counts.</p>")
    plots = sorted(report_dir.glob("*.png")) if report_dir.is_dir() else []
    for plot in plots:
        data = base64.b64encode(plot.read_bytes()).decode("ascii")
        parts.append(
            f'<figure><img alt="{_e(plot.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(plot.name)}</figcaption></figure>"
        )
    return "\n".join(parts)


def _header_html(items: list[dict], totals: dict[str, dict[str, int]], limit: int) -> str:
    shown: dict[str, dict[str, int]] = defaultdict(lambda: {"kept": 0, "dropped": 0})
    for item in items:
        shown[item["domain"]][item["status"]] += 1
    total_all = sum(t["kept"] + t["dropped"] for t in totals.values())
    kept_all = sum(t["kept"] for t in totals.values())
    shown_kept = sum(s["kept"] for s in shown.values())
    line = (
        f'<p class="showing" id="showing">Showing {len(items):,} of {total_all:,} queries '
        f"({shown_kept:,} of {kept_all:,} kept, {len(items) - shown_kept:,} of "
        f"{total_all - kept_all:,} dropped): at most {limit:,} per domain, chosen by a hash of "
        "the sample id.</p>"
    )
    body = [
        [
            _e(domain),
            f'<span class="per-domain" data-domain="{_e(domain)}">{shown[domain]["kept"] + shown[domain]["dropped"]:,} of {t["kept"] + t["dropped"]:,}</span>',
            f"{shown[domain]['kept']:,} of {t['kept']:,}",
            f"{shown[domain]['dropped']:,} of {t['dropped']:,}",
        ]
        for domain, t in sorted(totals.items())
    ]
    return line + _table(["domain", "shown", "kept shown", "dropped shown"], body, "domains")


def _json_for_script(data: Any) -> str:
    """JSON safe inside <script>: no `<` (so no `</script>` or `<!--`), no line separators."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# --- entry point -----------------------------------------------------------------------------
def write_browser(
    output_dir: Path,
    report_dir: Path,
    browse_limit: int = DEFAULT_BROWSE_LIMIT,
    *,
    max_data_bytes: int = DEFAULT_MAX_DATA_BYTES,
) -> Path:
    """Write `report_dir/index.html` for the generate output `output_dir`; return its path.

    See the module docstring for what the page holds, how the queries are chosen (at most
    `browse_limit` per domain, inline data under `max_data_bytes`) and its URL parameters.
    """
    output_dir, report_dir = Path(output_dir), Path(report_dir)
    if not output_dir.is_dir():
        raise UserError(
            f"{output_dir} is not a folder: pass the output folder of `reasonembed generate`"
        )
    if browse_limit < 1:
        raise UserError(f"--browse-limit must be at least 1 (got {browse_limit})")
    stats = _read_stats(output_dir)
    threshold = positive_threshold(output_dir, stats)
    quarantine = _quarantine_file(output_dir)
    sampler = _Sampler(browse_limit)
    _offer_raw(output_dir, sampler)
    _offer_dropped(quarantine, sampler)
    chosen = sampler.chosen()
    keys = {_query_key(p.domain, p.source_doc_id) for picks in chosen.values() for p in picks}
    picks = _within_budget(chosen, _judgement_counts(quarantine, keys), max_data_bytes)
    items = _read_items(output_dir, quarantine, picks, threshold)
    n_candidates = sum(len(item["candidates"]) for item in items)
    data = {
        "positive_threshold": threshold,
        "browse_limit": browse_limit,
        "items": items,
    }
    budget_note = ""
    if len(picks) < sum(len(p) for p in chosen.values()):
        budget_note = (
            f'<p class="note">The page holds fewer queries than the limit allows: their texts '
            f"would exceed the page's data budget ({max_data_bytes / 1e6:.0f} MB).</p>"
        )
    values = {
        "TITLE": _e(f"reasonembed report: {output_dir.resolve().name}"),
        "HEADER": _header_html(items, sampler.totals, browse_limit)
        + budget_note
        + f"<p>{n_candidates:,} candidates on this page; positive: relevance score "
        f"&ge; {threshold}.</p>",
        "SUMMARY": _summary_html(stats, report_dir),
        "DATA": _json_for_script(data),
    }
    page = _MARKER.sub(lambda match: values[match.group(1)], TEMPLATE.read_text(encoding="utf-8"))
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / BROWSER_FILE
    write_text(page, path)
    logger.info(
        "wrote %s: %d queries, %d candidates, %.1f MB",
        path,
        len(items),
        n_candidates,
        len(page) / 1e6,
    )
    return path

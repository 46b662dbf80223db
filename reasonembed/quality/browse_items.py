"""The sample browser's data (reasonembed.quality.browse): one JSON item per shown query.

`read_items` reads the full rows of the chosen queries (only the row groups that hold one) and
turns each into the page's view: texts cut to TEXT_CAPS characters (the item says how much was
cut), the longest run the query copies from its source marked in both, candidates in retrieval
order, and at most MAX_QUARANTINED_SHOWN quarantined judgements of the same (domain,
source_doc_id).
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reasonembed.data.domains import BRIGHT_DOMAINS
from reasonembed.data.output_folder import OutputFolder
from reasonembed.data.stats import drop_key
from reasonembed.errors import UserError
from reasonembed.quality import triviality as tv
from reasonembed.quality.browse_sample import (
    ANNOTATION_STAGE,
    MAX_QUARANTINED_SHOWN,
    TEXT_CAPS,
    Pick,
    batch_column,
    batches,
    query_key,
    row_groups_of,
)
from reasonembed.quality.decontamination import words
from reasonembed.quality.filters import REMOVED_SOURCE_DUPLICATE

logger = logging.getLogger(__name__)

# raw columns never shown (large and not about the sample's content)
SKIPPED_COLUMNS = {tv.TRIVIALITY_BM25_TOP_IDS, "prompt_hashes"}
METRIC_PREFIXES = ("triviality_", "decontamination_")
MAX_LIST_SHOWN = 20
REVIEW_FORMAT = "reasonembed-audit-review/1"  # what the page's "Export review" writes
_WORD = re.compile(r"\w+")


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


def read_items(
    folder: OutputFolder, quarantine: Path | None, picks: list[Pick], threshold: int
) -> list[dict]:
    """The chosen queries' full rows, as page items, with their quarantined judgements."""
    by_place = {pick.where: pick for pick in picks}
    items: dict[str, dict] = {}
    shards = folder.raw_files()
    wanted_raw = defaultdict(set)
    for kind, shard, row in by_place:
        if kind == "raw":
            wanted_raw[shard].add(row)
    for shard, rows in sorted(wanted_raw.items()):
        path = shards[shard]
        columns = [n for n in pq.ParquetFile(path).schema_arrow.names if n not in SKIPPED_COLUMNS]
        for offset, batch in batches(path, columns, row_groups_of(path, rows)):
            chosen = [r - offset for r in sorted(rows) if offset <= r < offset + batch.num_rows]
            if not chosen:
                continue
            for row in batch.take(pa.array(chosen)).to_pylist():
                items[str(row.get("sample_id"))] = _item(row, "kept", threshold)

    keys = {query_key(pick.domain, pick.source_doc_id) for pick in picks}
    judgements: dict[str, list[dict]] = defaultdict(list)
    judgement_totals: dict[str, int] = defaultdict(int)
    dropped_rows = {row for kind, _, row in by_place if kind == "quarantine"}
    if quarantine is not None:
        columns = ["stage", "kind", "reason", "domain", "source_doc_id", "doc_id", "payload"]
        key_set = pa.array(sorted(keys), pa.string())
        for offset, batch in batches(quarantine, columns):
            key_column = pc.binary_join_element_wise(
                pc.fill_null(batch_column(batch, "domain"), "unknown"),
                pc.fill_null(batch_column(batch, "source_doc_id"), ""),
                "\x1f",
            )
            mask = pc.fill_null(
                pc.and_(
                    pc.equal(batch_column(batch, "stage"), ANNOTATION_STAGE),
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
                    key = query_key(domain, source_doc_id)
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
        key = query_key(pick.domain, pick.source_doc_id)
        found = sorted(judgements.get(key, []), key=lambda j: _rank(j["rank"]))
        item["quarantined"] = found[:MAX_QUARANTINED_SHOWN]
        item["quarantined_total"] = judgement_totals.get(key, 0)
        ordered.append(item)
    return ordered


# --- the audit queue (reasonembed.quality.audit_sample) ---------------------------------------
def relevance_definitions(folder: OutputFolder, domains: set[str]) -> dict[str, str]:
    """{domain: relevance_definition} the annotator was given, for the reviewer to judge by the
    same rule: a custom domain's from config.yaml's `custom_domains`, else the built-in
    domain's; a domain found in neither (or an unreadable config.yaml) is left out."""
    try:
        custom = folder.config.get("custom_domains") or []
    except UserError:
        custom = []
    found = {
        str(entry["name"]): str(entry["relevance_definition"])
        for entry in custom
        if isinstance(entry, dict)
        and entry.get("name") in domains
        and isinstance(entry.get("relevance_definition"), str)
    }
    for domain in sorted(domains - set(found)):
        if domain in BRIGHT_DOMAINS:
            found[domain] = BRIGHT_DOMAINS[domain].relevance_definition
    return found


def _audit_rows(folder: OutputFolder, sample_ids: set[str]) -> dict[str, dict]:
    """{sample_id: raw row (query, q', candidates)} of the given samples: a first pass over the
    sample_id column finds their rows, a second reads only the row groups that hold one."""
    wanted = pa.array(sorted(sample_ids), pa.string())
    rows: dict[str, dict] = {}
    for path in folder.raw_files():
        places: set[int] = set()
        for offset, batch in batches(path, ["sample_id"]):
            column = batch_column(batch, "sample_id")
            if column is None:
                break
            mask = pc.fill_null(pc.is_in(column, value_set=wanted), False)
            places.update(offset + int(i) for i in np.flatnonzero(mask.to_numpy(False)))
        if not places:
            continue
        columns = ["sample_id", "query", "reasoning_query", "candidates"]
        for offset, batch in batches(path, columns, row_groups_of(path, places)):
            chosen = [r - offset for r in sorted(places) if offset <= r < offset + batch.num_rows]
            for row in batch.take(pa.array(chosen, pa.int64())).to_pylist() if chosen else ():
                rows.setdefault(str(row.get("sample_id")), row)
    return rows


def read_audit_items(folder: OutputFolder, sample: dict) -> dict:
    """The page's audit queue: the sample's identity (format, config_hash, seed, sample_digest,
    positive_threshold), the review format the page exports, each query's texts once
    (`queries`, by sample id) and each pair with its candidate text and the judge's score and
    analysis (`pairs`, in the sample's order; `found` false when raw/ no longer holds it).
    Texts are cut to TEXT_CAPS characters, as in the sample browser."""
    pairs = [pair for pair in sample.get("pairs") or () if isinstance(pair, dict)]
    rows = _audit_rows(folder, {str(pair.get("sample_id")) for pair in pairs})
    queries: dict[str, dict] = {}
    shown = []
    for pair in pairs:
        sample_id, doc_id = str(pair.get("sample_id")), str(pair.get("doc_id"))
        row = rows.get(sample_id) or {}
        if row and sample_id not in queries:
            query, query_more = _cut(row.get("query"), TEXT_CAPS["query"])
            reasoning, reasoning_more = _cut(row.get("reasoning_query"), TEXT_CAPS["query"])
            queries[sample_id] = {
                "query": query,
                "query_more": query_more,
                "reasoning_query": reasoning,
                "reasoning_more": reasoning_more,
            }
        candidate = next(
            (
                c
                for c in row.get("candidates") or ()
                if isinstance(c, dict) and str(c.get("doc_id")) == doc_id
            ),
            None,
        )
        text, text_more = _cut((candidate or {}).get("text"), TEXT_CAPS["candidate_text"])
        analysis, analysis_more = _cut(
            (candidate or {}).get("relevance_analysis"), TEXT_CAPS["analysis"]
        )
        shown.append(
            {
                "pair_id": str(pair.get("pair_id")),
                "sample_id": sample_id,
                "doc_id": doc_id,
                "domain": str(pair.get("domain")),
                "llm_score": _finite(pair.get("llm_score")),
                "rank": _finite((candidate or {}).get("retrieval_rank")),
                "found": candidate is not None,
                "text": text,
                "text_more": text_more,
                "analysis": analysis,
                "analysis_more": analysis_more,
            }
        )
    missing = sum(1 for pair in shown if not pair["found"])
    if missing:
        logger.warning(
            "%d of the %d audit pairs are no longer in %s: the dataset changed since "
            "`reasonembed audit sample`; draw the sample again",
            missing,
            len(shown),
            folder.subfolder("raw"),
        )
    return {
        "format": sample.get("format"),
        "review_format": REVIEW_FORMAT,
        "config_hash": sample.get("config_hash"),
        "seed": sample.get("seed"),
        "sample_digest": sample.get("sample_digest"),
        "positive_threshold": sample.get("positive_threshold"),
        "definitions": relevance_definitions(folder, {pair["domain"] for pair in shown}),
        "queries": queries,
        "pairs": shown,
    }

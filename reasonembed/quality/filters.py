"""Triviality and decontamination filters over samples in the `raw` format.

Where the factory calls them:

- query step / before mining (saves annotation calls): `decontaminate_rows(rows, decontaminator)`
  fills the decontamination columns, then `query_drop_reason(row, config)` says whether to drop
  the query ("bright_query_contamination", "source_copy") or keep it (None).
- mining: `triviality.source_duplicate_indices` removes the source's duplicates from the
  candidates before annotation; their ids go to `triviality_source_duplicate_ids`. Mining also
  writes `triviality_source_dense_rank`, `triviality_source_bm25_rank`, `triviality_bm25_top_ids`.
- assembly: `filter_sample(sample, config, bright_gold_ids)` (or `filter_samples` over many)
  returns a `FilterOutcome`: the sample with its metric columns filled and its candidates
  trimmed, or None and the drop reason. `DropCounts` counts every drop by reason.

A sample is a dict with the RAW_SCHEMA fields (records.py); `candidates` is a list of dicts
(doc_id, text, retrieval_rank, retrieval_score, relevance_score, relevance_analysis).

Sample drop reasons (one per dropped sample, checked in this order): DROP_BRIGHT_QUERY,
DROP_SOURCE_COPY, DROP_NO_POSITIVE, DROP_NO_NEGATIVE, DROP_LEXICALLY_TRIVIAL.
Candidate removal reasons (a sample may lose several candidates): REMOVED_SOURCE_DOCUMENT (the
source's own id: a mining bug if ever non-zero), REMOVED_SOURCE_DUPLICATE, REMOVED_BRIGHT_GOLD
(only with `strict`; without it gold candidates are counted in `bright_gold_candidates`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from reasonembed.data.textnorm import normalized_text_hash
from reasonembed.quality import triviality as tv
from reasonembed.quality.decontamination import (
    DECONTAMINATION_BRIGHT_GOLD_CANDIDATES,
    DECONTAMINATION_BRIGHT_GOLD_IDS,
    DECONTAMINATION_BRIGHT_MATCH_ID,
    DECONTAMINATION_FIELDS,
    DEFAULT_MINHASH_THRESHOLD,
    DEFAULT_NGRAM,
    QueryDecontaminator,
    match_columns,
)

logger = logging.getLogger(__name__)

DROP_BRIGHT_QUERY = "bright_query_contamination"
DROP_SOURCE_COPY = "source_copy"
DROP_NO_POSITIVE = "no_positive"
DROP_NO_NEGATIVE = "no_negative"
DROP_LEXICALLY_TRIVIAL = "lexically_trivial"
REMOVED_SOURCE_DOCUMENT = "source_document"
REMOVED_SOURCE_DUPLICATE = "source_duplicate"
REMOVED_BRIGHT_GOLD = "bright_gold_document"

# Arrow fields the quality metrics add to records.RAW_SCHEMA (append them to write `raw`).
QUALITY_FIELDS = tuple(tv.TRIVIALITY_FIELDS) + tuple(DECONTAMINATION_FIELDS)


class TrivialityConfig(BaseModel):
    """Thresholds of the triviality filters and BRIGHT decontamination.

    Defaults:
    - max_source_copy_share 0.5: a query whose longest verbatim run from its source is half of
      the query or more quotes its source rather than asking about it.
    - max_source_copy_chars 400: a verbatim run of ~60 words is a pasted passage even inside a
      long query (short quotes of a formula, an error message or an API name stay allowed).
    - max_source_ngram_overlap None: reported, not filtered (shared 5-grams of technical terms
      are normal for an on-topic query).
    - drop_source_duplicates True, near_duplicate_cosine 0.95: candidates with the source's
      normalised text, or cosine >= 0.95 with it, are the source under another id: removed.
    - drop_lexically_trivial False, lexical_top_k 10: when on, a query whose every positive is
      among its top-10 BM25 hits over the whole corpus is dropped (word matching suffices).
    - decontaminate True: queries matching a BRIGHT test query (word 13-gram, word-set
      Jaccard >= 0.7, optional embedding cosine) are dropped.
    - strict False: BRIGHT gold documents among the candidates are counted; strict removes them.
    """

    model_config = ConfigDict(extra="forbid")

    max_source_copy_share: float | None = Field(0.5, ge=0.0, le=1.0)
    max_source_copy_chars: int | None = Field(400, ge=1)
    max_source_ngram_overlap: float | None = Field(None, ge=0.0, le=1.0)
    drop_source_duplicates: bool = True
    near_duplicate_cosine: float = Field(tv.DEFAULT_NEAR_DUPLICATE_COSINE, gt=0.0, le=1.0)
    drop_lexically_trivial: bool = False
    lexical_top_k: int = Field(10, ge=1)
    decontaminate: bool = True
    decontamination_ngram: int = Field(DEFAULT_NGRAM, ge=1)
    minhash_threshold: float | None = Field(DEFAULT_MINHASH_THRESHOLD, gt=0.0, le=1.0)
    embedding_threshold: float | None = Field(None, gt=0.0, le=1.0)
    strict: bool = False
    min_positive_score: int = Field(tv.DEFAULT_POSITIVE_SCORE, ge=1, le=5)


@dataclass
class FilterOutcome:
    """sample: the kept sample (trimmed, metrics filled) or None; reason: why it was dropped;
    removed: candidates removed by reason; checked: the trimmed sample, metrics filled, also when
    dropped (`removed_candidates` lists each removed candidate's doc_id and reason)."""

    sample: dict | None
    reason: str | None = None
    removed: Counter = field(default_factory=Counter)
    checked: dict | None = None  # the trimmed sample with its metrics, kept or not


@dataclass
class DropCounts:
    """Counts of a filtering run, by reason. `as_stats()` is the stats.json shape.

    Candidate removals and BRIGHT gold candidates are counted in KEPT samples only (the
    candidates of a dropped sample never reach the dataset whatever their reason)."""

    seen: int = 0
    kept: int = 0
    drops: Counter = field(default_factory=Counter)
    candidate_drops: Counter = field(default_factory=Counter)
    bright_gold_candidates: int = 0

    def add(self, outcome: FilterOutcome, gold_candidates: int = 0) -> None:
        self.seen += 1
        if outcome.sample is None:
            self.drops[outcome.reason] += 1
            return
        self.kept += 1
        self.candidate_drops.update(outcome.removed)
        self.bright_gold_candidates += gold_candidates

    def add_query_drop(self, reason: str | None) -> None:
        """Count a query dropped (or kept, reason None) before mining by `query_drop_reason`."""
        self.add(FilterOutcome(sample={} if reason is None else None, reason=reason))

    def as_stats(self) -> dict:
        return {
            "seen": self.seen,
            "kept": self.kept,
            "drops": dict(sorted(self.drops.items())),
            "candidate_drops": dict(sorted(self.candidate_drops.items())),
            "bright_gold_candidates": self.bright_gold_candidates,
        }


def make_decontaminator(
    config: TrivialityConfig,
    test_queries: Sequence[str],
    test_ids: Sequence[str] | None = None,
    encoder=None,
) -> QueryDecontaminator:
    """A `QueryDecontaminator` with the config's thresholds (embedding check only when both
    `config.embedding_threshold` and `encoder` are set)."""
    kwargs = {}
    if config.embedding_threshold is not None and encoder is not None:
        kwargs = {"encoder": encoder, "embedding_threshold": config.embedding_threshold}
    return QueryDecontaminator(
        test_queries,
        test_ids,
        ngram=config.decontamination_ngram,
        minhash_threshold=config.minhash_threshold,
        **kwargs,
    )


def decontaminate_rows(
    rows: Sequence[dict],
    decontaminator: QueryDecontaminator,
    fields: Sequence[str] = ("query", "reasoning_query"),
    show_progress: bool = False,
) -> list[dict]:
    """Copies of `rows` with the decontamination columns (DECONTAMINATION_COLUMNS) filled.

    Each field is checked in order; a row takes the first field's match (rows whose field is
    missing or empty are skipped for that field).
    """
    out = [dict(row) for row in rows]
    matches: list = [None] * len(out)
    for name in fields:
        positions = [i for i, row in enumerate(out) if matches[i] is None and row.get(name)]
        found = decontaminator.match([out[i][name] for i in positions], show_progress=show_progress)
        for position, match in zip(positions, found, strict=True):
            matches[position] = match
    for row, match in zip(out, matches, strict=True):
        row.update(match_columns(match))
    return out


def query_drop_reason(row: dict, config: TrivialityConfig) -> str | None:
    """Why a query row must be dropped before mining (None: keep). Fills the source-copy columns
    in `row` when missing (needs `query` and `source_text`)."""
    if config.decontaminate and row.get(DECONTAMINATION_BRIGHT_MATCH_ID):
        return DROP_BRIGHT_QUERY
    if row.get(tv.TRIVIALITY_SOURCE_COPY_SHARE) is None:
        row.update(tv.source_copy_metrics(row.get("query") or "", row.get("source_text") or ""))
    share = row[tv.TRIVIALITY_SOURCE_COPY_SHARE]
    chars = row[tv.TRIVIALITY_SOURCE_COPY_CHARS]
    overlap = row[tv.TRIVIALITY_SOURCE_NGRAM_OVERLAP]
    if (
        (config.max_source_copy_share is not None and share >= config.max_source_copy_share)
        or (config.max_source_copy_chars is not None and chars >= config.max_source_copy_chars)
        or (
            config.max_source_ngram_overlap is not None
            and overlap >= config.max_source_ngram_overlap
        )
    ):
        return DROP_SOURCE_COPY
    return None


def _gold_set(
    bright_gold_ids: Mapping[str, Collection[str]] | None, domain: str
) -> Collection[str]:
    if not bright_gold_ids:
        return ()
    return bright_gold_ids.get(domain, ())


def filter_sample(
    sample: dict,
    config: TrivialityConfig,
    bright_gold_ids: Mapping[str, Collection[str]] | None = None,
) -> FilterOutcome:
    """Trim and check one sample (see the module docstring). The input is not modified.

    `bright_gold_ids`: domain -> BRIGHT gold doc ids of that domain's corpus
    (`reasonembed.bright.data.load_bright_gold_ids`); None: no gold check.
    Filled columns: the source-copy metrics (when missing), triviality_source_duplicate_ids /
    _duplicates, triviality_positive_ranks, triviality_best_positive_rank,
    triviality_positive_bm25_ranks (when triviality_bm25_top_ids is present),
    decontamination_bright_gold_candidates / _ids; n_positives and n_negatives are recounted.
    """
    out = dict(sample)
    removed: Counter = Counter()
    reason = query_drop_reason(out, config)

    source_id = out.get("source_doc_id")
    source_hash = normalized_text_hash(out.get("source_text") or "")
    known_duplicates = set(out.get(tv.TRIVIALITY_SOURCE_DUPLICATE_IDS) or ())
    gold = _gold_set(bright_gold_ids, out.get("domain") or "")
    kept: list[dict] = []
    duplicate_ids: list[str] = sorted(known_duplicates)
    gold_ids: list[str] = []
    removed_candidates: list[dict] = []
    for candidate in out.get("candidates") or ():
        doc_id = candidate.get("doc_id")
        why = None
        if doc_id == source_id:
            why = REMOVED_SOURCE_DOCUMENT
        elif config.drop_source_duplicates and (
            doc_id in known_duplicates
            or normalized_text_hash(candidate.get("text") or "") == source_hash
        ):
            why = REMOVED_SOURCE_DUPLICATE
            if doc_id not in known_duplicates:
                duplicate_ids.append(doc_id)
        elif doc_id in gold:
            gold_ids.append(doc_id)
            if config.strict:
                why = REMOVED_BRIGHT_GOLD
        if why is not None:
            removed[why] += 1
            removed_candidates.append({"doc_id": doc_id, "reason": why})
            continue
        kept.append(candidate)
    out["candidates"] = kept
    out["removed_candidates"] = removed_candidates
    out[tv.TRIVIALITY_SOURCE_DUPLICATE_IDS] = duplicate_ids
    out[tv.TRIVIALITY_SOURCE_DUPLICATES] = len(duplicate_ids)
    out[DECONTAMINATION_BRIGHT_GOLD_IDS] = gold_ids
    out[DECONTAMINATION_BRIGHT_GOLD_CANDIDATES] = len(gold_ids)

    scores = [candidate.get("relevance_score") for candidate in kept]
    threshold = config.min_positive_score
    positives = [c for c, s in zip(kept, scores, strict=True) if s is not None and s >= threshold]
    out["n_positives"] = len(positives)
    out["n_negatives"] = sum(1 for s in scores if s is not None and s < threshold)
    ranks = tv.positive_ranks([c.get("retrieval_rank") for c in kept], scores, threshold)
    out[tv.TRIVIALITY_POSITIVE_RANKS] = ranks
    out[tv.TRIVIALITY_BEST_POSITIVE_RANK] = ranks[0] if ranks else None
    bm25_top = out.get(tv.TRIVIALITY_BM25_TOP_IDS)
    positive_bm25 = None
    if bm25_top is not None:
        positive_bm25 = tv.bm25_ranks([c.get("doc_id") for c in positives], bm25_top)
    out[tv.TRIVIALITY_POSITIVE_BM25_RANKS] = positive_bm25

    if reason is None and out["n_positives"] == 0:
        reason = DROP_NO_POSITIVE
    if reason is None and out["n_negatives"] == 0:
        reason = DROP_NO_NEGATIVE
    if reason is None and config.drop_lexically_trivial and positive_bm25:
        if all(0 < rank <= config.lexical_top_k for rank in positive_bm25):
            reason = DROP_LEXICALLY_TRIVIAL
    if reason is not None:
        return FilterOutcome(sample=None, reason=reason, removed=removed, checked=out)
    return FilterOutcome(sample=out, removed=removed, checked=out)


def filter_samples(
    samples: Iterable[dict],
    config: TrivialityConfig,
    bright_gold_ids: Mapping[str, Collection[str]] | None = None,
    counts: DropCounts | None = None,
) -> tuple[list[dict], DropCounts]:
    """`filter_sample` over many samples: (kept samples, counts by reason)."""
    counts = counts if counts is not None else DropCounts()
    kept: list[dict] = []
    for sample in samples:
        outcome = filter_sample(sample, config, bright_gold_ids)
        gold = 0
        if outcome.sample is not None:
            kept.append(outcome.sample)
            gold = outcome.sample[DECONTAMINATION_BRIGHT_GOLD_CANDIDATES]
        counts.add(outcome, gold_candidates=gold)
    if counts.drops:
        logger.info("triviality filters dropped %s", dict(counts.drops))
    return kept, counts

"""Decontamination of generated queries against benchmark test queries (BRIGHT).

`QueryDecontaminator(test_queries, test_ids).match(queries)` returns, for each query, `None`
or a `Match` naming the test query it copies or paraphrases. Methods, tried in this order (the
first that fires wins; within a method the most similar test query wins):

- "exact":     same text after `textnorm.normalize_text` (similarity 1.0).
- "ngram":     the query shares at least one word `ngram`-gram (default 13, the GPT-3 / datatrove
               convention) with a test query; similarity = share of that test query's n-grams
               found in the query. A test query shorter than `ngram` words counts as one n-gram
               (its whole word sequence). N-grams of the test queries in which fewer than half
               the words hold a letter (digit runs of arrays and matrices) are not indexed:
               they match unrelated code and math text.
- "minhash":   word-set Jaccard similarity >= `minhash_threshold`. Candidates come from a
               datasketch MinHashLSH index (128 permutations, queried at a lower threshold so
               that few true pairs are missed), then the exact Jaccard of the two word sets is
               the similarity and decides. Catches light edits and reorderings of short queries.
- "embedding": cosine >= `embedding_threshold` between encoder embeddings (only when an
               `encoder` is given: any object with `encode(texts) -> float32 [n, dim]`
               L2-normalised vectors, e.g. `reasonembed.retrieval.Encoder("minilm")`).

Default thresholds, measured on the 1,384 real BRIGHT test queries: word-set Jaccard between two
DIFFERENT test queries (exact duplicates across tasks set aside) is >= 0.7 for 7 queries only,
while replacing 10% of a query's words keeps it >= 0.79 (1st percentile) and 20% >= 0.67.

Words: `\\w+` runs of the normalised (NFKC, case-folded) text.

Columns (the `raw` config) for a query's match: DECONTAMINATION_COLUMNS; `match_columns(match)`
builds them. BRIGHT gold documents among a sample's candidates: DECONTAMINATION_GOLD_* columns
(filled by `reasonembed.quality.filters.filter_sample`).

The real BRIGHT test queries and gold ids come from `reasonembed.bright.data`
(`load_bright_queries`, `load_bright_gold_ids`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
from datasketch import MinHash, MinHashLSH
from datasketch.hashfunc import sha1_hash32
from tqdm.auto import tqdm

from reasonembed.data.textnorm import normalize_text

logger = logging.getLogger(__name__)

MatchMethod = Literal["exact", "ngram", "minhash", "embedding"]

DEFAULT_NGRAM = 13
DEFAULT_MINHASH_THRESHOLD = 0.7
DEFAULT_EMBEDDING_THRESHOLD = 0.92
MINHASH_PERMUTATIONS = 128
MINHASH_SEED = 1

# --- columns of the raw config ------------------------------------------------------------
DECONTAMINATION_BRIGHT_MATCH_ID = "decontamination_bright_match_id"  # str | None
DECONTAMINATION_BRIGHT_METHOD = "decontamination_bright_method"  # str | None
DECONTAMINATION_BRIGHT_SIMILARITY = "decontamination_bright_similarity"  # float | None
DECONTAMINATION_BRIGHT_GOLD_CANDIDATES = "decontamination_bright_gold_candidates"  # int
DECONTAMINATION_BRIGHT_GOLD_IDS = "decontamination_bright_gold_ids"  # list[str]
DECONTAMINATION_COLUMNS = (
    DECONTAMINATION_BRIGHT_MATCH_ID,
    DECONTAMINATION_BRIGHT_METHOD,
    DECONTAMINATION_BRIGHT_SIMILARITY,
)
DECONTAMINATION_FIELDS = (
    pa.field(DECONTAMINATION_BRIGHT_MATCH_ID, pa.string()),
    pa.field(DECONTAMINATION_BRIGHT_METHOD, pa.string()),
    pa.field(DECONTAMINATION_BRIGHT_SIMILARITY, pa.float32()),
    pa.field(DECONTAMINATION_BRIGHT_GOLD_CANDIDATES, pa.int32()),
    pa.field(DECONTAMINATION_BRIGHT_GOLD_IDS, pa.list_(pa.string())),
)

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The words of `text` after normalisation (NFKC, case-folded): runs of `\\w`."""
    return _WORD.findall(normalize_text(text))


def _informative(gram: tuple[str, ...]) -> bool:
    """At least half of the n-gram's words hold a letter: runs of digits or symbols from arrays
    and matrices ("[0,0,0,...]", "1 2 3 ...") repeat across unrelated code and math queries."""
    return 2 * sum(1 for word in gram if not word.isdigit() and word != "_") >= len(gram)


@dataclass(frozen=True)
class Match:
    """A generated query matched a test query.

    test_id: the test query's id; test_index: its position in `test_queries`; method: which
    check fired; similarity: in [0, 1] (n-gram share, Jaccard or cosine, per method).
    """

    test_id: str
    test_index: int
    method: MatchMethod
    similarity: float


def match_columns(match: Match | None) -> dict:
    """The DECONTAMINATION_COLUMNS of one query (all None when it matched nothing)."""
    if match is None:
        return dict.fromkeys(DECONTAMINATION_COLUMNS)
    return {
        DECONTAMINATION_BRIGHT_MATCH_ID: match.test_id,
        DECONTAMINATION_BRIGHT_METHOD: match.method,
        DECONTAMINATION_BRIGHT_SIMILARITY: float(match.similarity),
    }


class QueryDecontaminator:
    """Finds generated queries that copy or closely paraphrase test queries.

    Args:
        test_queries: the benchmark's test queries.
        test_ids: their ids (default: "0", "1", ...), same length as `test_queries`.
        ngram: word n-gram length of the overlap check (>= 1).
        minhash_threshold: word-set Jaccard at or above which a query matches (None: no check).
        encoder: optional embedding model (see module docstring) for paraphrases.
        embedding_threshold: cosine at or above which a query matches (with `encoder`).
        batch_size: queries encoded per batch (with `encoder`).
    """

    def __init__(
        self,
        test_queries: Sequence[str],
        test_ids: Sequence[str] | None = None,
        ngram: int = DEFAULT_NGRAM,
        minhash_threshold: float | None = DEFAULT_MINHASH_THRESHOLD,
        *,
        encoder=None,
        embedding_threshold: float = DEFAULT_EMBEDDING_THRESHOLD,
        batch_size: int = 64,
    ) -> None:
        if test_ids is None:
            test_ids = [str(index) for index in range(len(test_queries))]
        if len(test_ids) != len(test_queries):
            raise ValueError(
                f"test_ids has {len(test_ids)} entries but test_queries has {len(test_queries)}"
            )
        if ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {ngram}")
        if minhash_threshold is not None and not 0.0 < minhash_threshold <= 1.0:
            raise ValueError(f"minhash_threshold must be in (0, 1], got {minhash_threshold}")
        self.test_queries = list(test_queries)
        self.test_ids = [str(test_id) for test_id in test_ids]
        self.ngram = ngram
        self.minhash_threshold = minhash_threshold
        self.encoder = encoder
        self.embedding_threshold = embedding_threshold
        self.batch_size = batch_size

        test_words = [words(query) for query in self.test_queries]
        self._exact: dict[str, int] = {}
        for index, query in enumerate(self.test_queries):
            self._exact.setdefault(normalize_text(query), index)

        # n-gram -> test indices; the number of distinct n-grams of each test query.
        self._ngrams: dict[tuple[str, ...], list[int]] = {}
        self._ngram_counts = np.zeros(len(test_words), dtype=np.int64)
        self._short_lengths: set[int] = set()  # lengths of test queries shorter than `ngram`
        for index, tokens in enumerate(test_words):
            grams = self._test_ngrams(tokens)
            self._ngram_counts[index] = len(grams)
            for gram in grams:
                self._ngrams.setdefault(gram, []).append(index)

        self._word_hashes: dict[str, int] = {}
        self._word_sets = [frozenset(tokens) for tokens in test_words]
        self._lsh = None
        if minhash_threshold is not None:
            # Query the index below the decision threshold: LSH misses pairs near its threshold.
            self._lsh = MinHashLSH(
                threshold=max(0.05, minhash_threshold - 0.2), num_perm=MINHASH_PERMUTATIONS
            )
            sketches = self._sketches(self._word_sets)
            for index, sketch in enumerate(sketches):
                if self._word_sets[index]:
                    self._lsh.insert(index, sketch)

        self._test_vectors = None
        if encoder is not None:
            self._test_vectors = np.asarray(
                encoder.encode(self.test_queries, batch_size=batch_size), dtype=np.float32
            )

    def __len__(self) -> int:
        return len(self.test_queries)

    def _test_ngrams(self, tokens: list[str]) -> set[tuple[str, ...]]:
        if not tokens:
            return set()
        if len(tokens) < self.ngram:
            self._short_lengths.add(len(tokens))
            return {tuple(tokens)}
        grams = {tuple(tokens[i : i + self.ngram]) for i in range(len(tokens) - self.ngram + 1)}
        return {gram for gram in grams if _informative(gram)}

    def _query_ngrams(self, tokens: list[str]) -> Iterable[tuple[str, ...]]:
        for length in (self.ngram, *sorted(self._short_lengths)):
            for start in range(len(tokens) - length + 1):
                yield tuple(tokens[start : start + length])

    def _hash_word(self, word: str) -> int:
        """datasketch's sha1_hash32 of the word's UTF-8 bytes, memoised (words repeat a lot)."""
        value = self._word_hashes.get(word)
        if value is None:
            value = self._word_hashes[word] = sha1_hash32(word.encode("utf-8"))
        return value

    def _sketches(self, word_sets: Sequence[frozenset[str]]) -> list[MinHash]:
        return MinHash.bulk(
            [list(word_set) for word_set in word_sets],
            num_perm=MINHASH_PERMUTATIONS,
            seed=MINHASH_SEED,
            hashfunc=self._hash_word,
        )

    def _match_ngram(self, tokens: list[str]) -> Match | None:
        hits: dict[int, set[tuple[str, ...]]] = {}
        for gram in self._query_ngrams(tokens):
            for index in self._ngrams.get(gram, ()):
                hits.setdefault(index, set()).add(gram)
        if not hits:
            return None
        index, grams = max(
            hits.items(), key=lambda item: (len(item[1]) / self._ngram_counts[item[0]], -item[0])
        )
        share = len(grams) / self._ngram_counts[index]
        return Match(self.test_ids[index], index, "ngram", float(share))

    def _match_minhash(self, word_set: frozenset[str], sketch: MinHash) -> Match | None:
        best_index, best_jaccard = -1, 0.0
        for index in sorted(self._lsh.query(sketch)):
            other = self._word_sets[index]
            jaccard = len(word_set & other) / len(word_set | other)
            if jaccard >= self.minhash_threshold and jaccard > best_jaccard:
                best_index, best_jaccard = index, jaccard
        if best_index < 0:
            return None
        return Match(self.test_ids[best_index], best_index, "minhash", float(best_jaccard))

    def _match_lexical(self, queries: Sequence[str]) -> list[Match | None]:
        """Exact, n-gram and MinHash checks of a chunk of queries."""
        results: list[Match | None] = [None] * len(queries)
        pending: dict[int, frozenset[str]] = {}
        for position, query in enumerate(queries):
            normalized = normalize_text(query)
            exact = self._exact.get(normalized)
            if exact is not None:
                results[position] = Match(self.test_ids[exact], exact, "exact", 1.0)
                continue
            tokens = _WORD.findall(normalized)
            results[position] = self._match_ngram(tokens)
            if results[position] is None and tokens and self._lsh is not None:
                pending[position] = frozenset(tokens)
        if pending:
            sketches = self._sketches(list(pending.values()))
            for (position, word_set), sketch in zip(pending.items(), sketches, strict=True):
                results[position] = self._match_minhash(word_set, sketch)
        return results

    def match(self, queries: Sequence[str], show_progress: bool = False) -> list[Match | None]:
        """One entry per query: the `Match` of the test query it copies, or None."""
        results: list[Match | None] = []
        chunk = 5_000
        starts = range(0, len(queries), chunk)
        with tqdm(
            total=len(queries), desc="decontamination", disable=not show_progress, unit="query"
        ) as progress:
            for start in starts:
                results.extend(self._match_lexical(queries[start : start + chunk]))
                progress.update(min(chunk, len(queries) - start))
        pending = [position for position, result in enumerate(results) if result is None]

        if self._test_vectors is not None and pending:
            from reasonembed.retrieval import DenseIndex

            index = DenseIndex(self._test_vectors)
            vectors = self.encoder.encode([queries[p] for p in pending], batch_size=self.batch_size)
            scores, rows = index.search(np.asarray(vectors, dtype=np.float32), top_k=1)
            for position, score, row in zip(pending, scores[:, 0], rows[:, 0], strict=True):
                if score >= self.embedding_threshold:
                    results[position] = Match(
                        self.test_ids[int(row)], int(row), "embedding", float(score)
                    )
        matched = sum(result is not None for result in results)
        logger.debug("decontamination: %d of %d queries match a test query", matched, len(queries))
        return results

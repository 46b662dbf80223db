"""Runs (ranked results) and TREC run files.

A `Run` is flat: entry i gives doc `doc_ids[i]` the score `scores[i]` for query
`query_ids[query_index[i]]`. Doc ids are a pyarrow string array (hashing and byte-order sorting
in C++, no per-entry Python objects). Order inside a run does not matter: scoring sorts it.

TREC run line: `qid Q0 docid rank score tag`. BRIGHT doc ids contain spaces, so the doc id is
everything between the second field and the last three (`read_trec_run` splits that way, and
`write_trec_run` refuses ids with a tab or newline, which no reader could recover).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reasonembed.bright.data import NOT_AVAILABLE
from reasonembed.data.textio import read_utf8
from reasonembed.errors import UserError

logger = logging.getLogger(__name__)


def as_string_array(values) -> pa.Array:
    """A flat pyarrow string array from a list, numpy array or (chunked) pyarrow array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        values = pa.array(list(values) if isinstance(values, np.ndarray) else values, pa.string())
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    return values


def pair_lookup(
    query_index: np.ndarray, doc_ids: pa.Array, table_query: np.ndarray, table_docs: pa.Array
) -> np.ndarray:
    """For each (query_index[i], doc_ids[i]) its row in the table of pairs, or -1 if absent.

    The table's pairs must be unique.
    """
    if len(table_docs) == 0 or len(doc_ids) == 0:
        return np.full(len(doc_ids), -1, dtype=np.int64)
    unique_docs = pc.unique(table_docs)
    n_docs = len(unique_docs)
    table_codes = pc.index_in(table_docs, value_set=unique_docs).to_numpy().astype(np.int64)
    codes = pc.index_in(doc_ids, value_set=unique_docs).fill_null(-1).to_numpy().astype(np.int64)
    table_keys = table_query.astype(np.int64) * n_docs + table_codes
    order = np.argsort(table_keys, kind="stable")
    sorted_keys = table_keys[order]
    keys = query_index.astype(np.int64) * n_docs + codes
    slot = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    found = (codes >= 0) & (sorted_keys[slot] == keys)
    return np.where(found, order[slot], -1)


def group_ranks(sorted_groups: np.ndarray) -> np.ndarray:
    """0-based position of each entry within its run of equal values (input sorted by group)."""
    if len(sorted_groups) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    lengths = np.diff(np.r_[starts, len(sorted_groups)])
    return np.arange(len(sorted_groups)) - np.repeat(starts, lengths)


@dataclass
class Run:
    query_ids: list[str]
    query_index: np.ndarray  # int64 [n]
    doc_ids: pa.Array  # string [n]
    scores: np.ndarray  # float64 [n]

    def __post_init__(self) -> None:
        self.query_index = np.asarray(self.query_index, dtype=np.int64)
        self.scores = np.asarray(self.scores, dtype=np.float64)
        self.doc_ids = as_string_array(self.doc_ids)
        if not len(self.query_index) == len(self.doc_ids) == len(self.scores):
            raise ValueError("query_index, doc_ids and scores must have the same length")

    def with_task_prefix(self, task: str) -> Run:
        """The same run with query ids `{task}/{id}` (BRIGHT reuses ids across tasks, so a run
        file holding several tasks prefixes them)."""
        return Run(
            [f"{task}/{q}" for q in self.query_ids], self.query_index, self.doc_ids, self.scores
        )

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def from_dict(cls, results: Mapping[str, Mapping[str, float]]) -> Run:
        """From {query_id: {doc_id: score}} (the pytrec_eval / BRIGHT score.json shape)."""
        query_ids = list(results)
        sizes = [len(results[q]) for q in query_ids]
        docs = [doc_id for q in query_ids for doc_id in results[q]]
        scores = np.fromiter(
            (score for q in query_ids for score in results[q].values()), np.float64, len(docs)
        )
        index = np.repeat(np.arange(len(query_ids), dtype=np.int64), sizes)
        return cls(query_ids, index, pa.array(docs, pa.string()), scores)

    @classmethod
    def concatenate(cls, runs: Sequence[Run]) -> Run:
        """One run holding all queries of `runs` (query ids must not repeat across runs)."""
        query_ids: list[str] = []
        parts = []
        for run in runs:
            parts.append(run.query_index + len(query_ids))
            query_ids.extend(run.query_ids)
        if len(set(query_ids)) != len(query_ids):
            raise ValueError("query ids repeat across the runs being concatenated")
        if not runs:
            return cls([], np.zeros(0), pa.array([], pa.string()), np.zeros(0))
        return cls(
            query_ids,
            np.concatenate(parts),
            pa.concat_arrays([run.doc_ids.cast(pa.large_string()) for run in runs]),
            np.concatenate([run.scores for run in runs]),
        )

    def take(self, indices: np.ndarray) -> Run:
        """The entries at `indices` (same query list)."""
        return Run(
            self.query_ids,
            self.query_index[indices],
            self.doc_ids.take(pa.array(indices, pa.int64())),
            self.scores[indices],
        )

    def select(self, query_ids: Sequence[str]) -> Run:
        """The entries of the given queries (those absent from the run are simply absent)."""
        wanted = set(query_ids)
        keep_queries = [q for q in self.query_ids if q in wanted]
        positions = {q: i for i, q in enumerate(self.query_ids)}
        remap = np.full(len(self.query_ids), -1, dtype=np.int64)
        for new, query_id in enumerate(keep_queries):
            remap[positions[query_id]] = new
        mapped = remap[self.query_index]
        kept = np.flatnonzero(mapped >= 0)
        subset = self.take(kept)
        return Run(keep_queries, mapped[kept], subset.doc_ids, subset.scores)

    def to_dict(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {query_id: {} for query_id in self.query_ids}
        for q, doc_id, score in zip(
            self.query_index.tolist(), self.doc_ids.to_pylist(), self.scores.tolist(), strict=True
        ):
            out[self.query_ids[q]][doc_id] = score
        return out


def trec_order(run: Run) -> np.ndarray:
    """Indices of `run` sorted by query, score descending, doc id descending (trec_eval order)."""
    table = pa.table({"q": run.query_index, "s": run.scores, "d": run.doc_ids})
    keys = [("q", "ascending"), ("s", "descending"), ("d", "descending")]
    return pc.sort_indices(table, sort_keys=keys).to_numpy()


def top_k(run: Run, depth: int) -> Run:
    """Each query's first `depth` entries in trec_eval order (entries come back in that order)."""
    order = trec_order(run)
    ranks = group_ranks(run.query_index[order])
    return run.take(order[ranks < depth])


def apply_protocol(run: Run, excluded: Mapping[str, Sequence[str]], depth: int = 1000) -> Run:
    """BRIGHT's protocol on a run: drop each query's excluded ids, keep its top `depth`.

    `excluded` maps query id to doc ids ("N/A" is skipped). The cut follows trec_eval's order.
    """
    positions = {query_id: i for i, query_id in enumerate(run.query_ids)}
    pairs = {
        (positions[query_id], doc_id)
        for query_id, ids in excluded.items()
        if query_id in positions
        for doc_id in ids
        if doc_id != NOT_AVAILABLE
    }
    if pairs:
        table_query = np.asarray([q for q, _ in pairs], dtype=np.int64)
        table_docs = pa.array([d for _, d in pairs], pa.string())
        drop = pair_lookup(run.query_index, run.doc_ids, table_query, table_docs) >= 0
        if drop.any():
            logger.debug("removed %d excluded entries from the run", int(drop.sum()))
            run = run.take(np.flatnonzero(~drop))
    return top_k(run, depth)


def read_trec_run(path: str | Path) -> Run:
    """Read a TREC run file; raises `UserError` naming the line for malformed or duplicate
    entries, and the line and byte offset of a byte that is not UTF-8.

    Lines are split in C++ (pyarrow string kernels), so large runs load quickly.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: run file not found")
    all_lines = pc.utf8_trim_whitespace(
        pa.array(read_utf8(path, "run file").splitlines(), pa.string())
    )
    non_empty = pc.not_equal(all_lines, "")
    line_numbers = np.flatnonzero(non_empty.to_numpy(zero_copy_only=False)) + 1
    lines_array = all_lines.filter(non_empty)
    if len(lines_array) == 0:
        raise UserError(f"{path}: run file holds no entries")
    # qid Q0 REST, then REST = docid rank score tag split from the right: the doc id keeps
    # its inner spaces.
    head = pc.ascii_split_whitespace(lines_array, max_splits=2)
    head_ok = pc.equal(pc.list_value_length(head), 3).to_numpy(zero_copy_only=False)
    tail = pc.ascii_split_whitespace(
        pc.list_element(pc.if_else(head_ok, head, pa.scalar(["", "", ""], head.type)), 2),
        max_splits=3,
        reverse=True,
    )
    bad = np.flatnonzero(
        ~(head_ok & pc.equal(pc.list_value_length(tail), 4).to_numpy(zero_copy_only=False))
    )
    if len(bad):
        raise UserError(
            f"{path}: line {line_numbers[bad[0]]}: expected 'qid Q0 docid rank score tag', "
            f"got {lines_array[int(bad[0])].as_py()!r}"
        )
    query_text = pc.list_element(head, 0)
    doc_ids = pc.list_element(tail, 0)
    score_text = pc.list_element(tail, 2)
    try:
        scores = pc.cast(score_text, pa.float64()).to_numpy()
    except pa.ArrowInvalid:
        valid = pc.match_substring_regex(
            score_text,
            r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(inf|nan)$",
            ignore_case=True,
        )
        first = int(np.flatnonzero(~valid.to_numpy(zero_copy_only=False))[0])
        raise UserError(
            f"{path}: line {line_numbers[first]}: score {score_text[first].as_py()!r} "
            "is not a number"
        ) from None
    encoded = query_text.dictionary_encode()
    run = Run(
        [str(q) for q in encoded.dictionary.to_pylist()],
        encoded.indices.to_numpy().astype(np.int64),
        doc_ids,
        scores,
    )
    _reject_duplicates(run, path)
    return run


def _reject_duplicates(run: Run, path: Path) -> None:
    encoded = run.doc_ids.dictionary_encode()
    codes = encoded.indices.to_numpy().astype(np.int64)
    keys = run.query_index * max(len(encoded.dictionary), 1) + codes
    order = np.argsort(keys, kind="stable")
    repeated = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if len(repeated):
        first = int(order[repeated[0] + 1])
        doc_id = run.doc_ids[first].as_py()
        query_id = run.query_ids[int(run.query_index[first])]
        count = int((keys == keys[first]).sum())
        raise UserError(
            f"{path}: doc {doc_id!r} appears {count} times for query {query_id!r} "
            f"({len(repeated)} repeated entries in all); trec_eval rejects duplicates: "
            "keep one line per (query, doc)"
        )


def write_trec_run(run: Run, path: str | Path, tag: str = "reasonembed") -> None:
    """Write `run` in trec_eval order with 1-based ranks (scores with 17 significant digits)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    order = trec_order(run)
    ranks = group_ranks(run.query_index[order]) + 1
    docs = run.doc_ids.take(pa.array(order, pa.int64())).to_pylist()
    with open(path, "w", encoding="utf-8") as handle:
        for i, rank, doc_id in zip(order.tolist(), ranks.tolist(), docs, strict=True):
            if not doc_id.strip() or any(ch in doc_id for ch in "\t\n\r"):
                raise UserError(f"doc id {doc_id!r} cannot be written to a TREC run file")
            query_id = run.query_ids[int(run.query_index[i])]
            handle.write(f"{query_id} Q0 {doc_id} {rank} {run.scores[i]:.17g} {tag}\n")

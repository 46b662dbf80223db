import numpy as np
import pytest

from reasonembed.retrieval.index import DenseIndex, ExactIndex, merge_top_k, top_k_rows


class BlockIndex(ExactIndex):
    """The same vectors served in blocks of `rows` (what a sharded index does)."""

    def __init__(self, matrix: np.ndarray, rows: int) -> None:
        super().__init__()
        self.matrix, self.rows = matrix, rows
        self.size, self.dim = matrix.shape

    def blocks(self):
        for start in range(0, self.size, self.rows):
            yield start, self.matrix[start : start + self.rows]

    def vectors(self, rows):
        return self.matrix[np.asarray(rows)]


def _duplicated_corpus(seed: int = 0, dim: int = 24) -> np.ndarray:
    """1,000 documents, each of 50 vectors present 20 times: ties everywhere."""
    rng = np.random.default_rng(seed)
    docs = np.concatenate([rng.standard_normal((50, dim)).astype(np.float32)] * 20)
    rng.shuffle(docs)
    return docs


def _reference(queries: np.ndarray, docs: np.ndarray, k: int) -> np.ndarray:
    """Rows by score desc then row asc, scores computed in float64."""
    scores = (queries.astype(np.float64) @ docs.T.astype(np.float64)).astype(np.float32)
    return np.stack([np.lexsort((np.arange(len(docs)), -row))[:k] for row in scores])


@pytest.mark.parametrize("n_queries", [1, 7, 90])
@pytest.mark.parametrize("top_k", [5, 30, 99, 1000, 5000])
def test_ties_resolve_by_row_whatever_the_blocks(n_queries, top_k):
    docs = _duplicated_corpus()
    queries = np.random.default_rng(n_queries).standard_normal((n_queries, docs.shape[1]))
    scores, rows = DenseIndex(docs).search(queries, top_k)
    assert rows.shape == (n_queries, min(top_k, len(docs)))
    np.testing.assert_array_equal(rows, _reference(queries, docs, top_k))
    for block_rows in (37, 256):
        block_scores, block_hits = BlockIndex(docs, block_rows).search(queries, top_k)
        np.testing.assert_array_equal(block_hits, rows)
        np.testing.assert_array_equal(block_scores, scores)


def test_source_rank_counts_strictly_higher_documents_only():
    docs = _duplicated_corpus(seed=1)
    rng = np.random.default_rng(2)
    queries = rng.standard_normal((40, docs.shape[1])).astype(np.float32)
    queries[0] = docs[5]  # the query is a document: its copies tie with it at the top
    targets = [int(row) for row in rng.integers(0, len(docs), 40)]
    targets[0], targets[1] = 5, None
    exact = (queries.astype(np.float64) @ docs.T.astype(np.float64)).astype(np.float32)
    expected = [
        None if target is None else int((exact[i] > exact[i][target]).sum()) + 1
        for i, target in enumerate(targets)
    ]
    assert expected[0] == 1
    for index in (DenseIndex(docs), BlockIndex(docs, 33)):
        _, _, ranks = index.search_and_rank(queries, 10, targets)
        assert ranks == expected


def test_top_k_helpers_keep_the_lowest_rows_among_ties():
    scores = np.asarray([[1.0, 3.0, 3.0, 2.0, 3.0]], dtype=np.float32)
    top, rows = top_k_rows(scores, 2, first_row=10)
    assert rows.tolist() == [[11, 12]] and top.tolist() == [[3.0, 3.0]]
    merged_scores, merged_rows = merge_top_k(
        top, rows, np.asarray([[3.0, 2.5]], np.float32), np.asarray([[4, 5]]), 3
    )
    assert merged_rows.tolist() == [[4, 11, 12]] and merged_scores.tolist() == [[3.0, 3.0, 3.0]]

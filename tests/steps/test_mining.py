import json

import numpy as np
import pytest

from reasonembed.config import DomainRun, MiningConfig
from reasonembed.data.corpus import CorpusSource
from reasonembed.quality.filters import TrivialityConfig
from reasonembed.retrieval.index import DenseIndex
from reasonembed.steps.mining import RECALL_COLUMN, MineCandidates
from tests.support.factory_inputs import DOCS, HEAP_TEXT, write_corpus

INSTRUCTION = "Given a Coding problem, retrieve relevant examples that help answer the problem."
WORDS = (
    "heap queue tree graph path search sort merge bucket hash table list array node edge root "
    "leaf stack insert delete minimum maximum binary linear time memory key value order"
).split()


def _step(corpus, cache, name="mine", near_duplicate_cosine=None, **mining) -> MineCandidates:
    """`mining`: MiningConfig fields; `near_duplicate_cosine`: the quality block's (default)."""
    run = DomainRun(domain="leetcode", corpus=CorpusSource(path=str(corpus)))
    quality = (
        {} if near_duplicate_cosine is None else {"near_duplicate_cosine": near_duplicate_cosine}
    )
    step = MineCandidates(
        name=name,
        domain_runs=[run],
        mining=MiningConfig(**mining),
        quality=TrivialityConfig(**quality),
        embedding_cache_dir=str(cache),
    )
    step.load()
    return step


def _query(source_doc_id: str, source_text: str, query: str) -> dict:
    return {
        "source_doc_id": source_doc_id,
        "source_text": source_text,
        "domain": "leetcode",
        "query": query,
        "instruction": INSTRUCTION,
        "rejected_stage": None,
    }


def _generated_corpus(tmp_path, n_docs: int = 60):
    """The fixture's documents plus `n_docs` generated ones, two of them exact copies of others
    (equal vectors: ties that only a deterministic order keeps stable across shardings)."""
    rng = np.random.default_rng(3)
    docs = list(DOCS)
    for number in range(n_docs):
        words = rng.choice(WORDS, size=int(rng.integers(12, 40)))
        docs.append((f"g{number}", f"Note {number}: " + " ".join(words) + "."))
    docs.append(("g-copy-a", docs[10][1]))
    docs.append(("g-copy-b", docs[20][1]))
    return write_corpus(tmp_path, docs), docs


QUERIES = [
    ("heap", HEAP_TEXT, "How do I always take the smallest pending job first from a growing set?"),
    ("g3", None, "which search over a sorted array finds where to insert a key in log time"),
    ("g10", None, "a hash table bucket with a linked list of nodes for each key value"),
    ("missing", "a source outside the corpus", "tree leaf root node delete insert order"),
]


def _queries(docs) -> list[dict]:
    texts = dict(docs)
    return [_query(doc_id, text or texts[doc_id], query) for doc_id, text, query in QUERIES]


def test_source_is_removed_by_id_and_by_text(tmp_path):
    corpus = write_corpus(tmp_path)
    step = _step(corpus, tmp_path / "emb", search_top_k=7, n_candidates=3)
    query = _query("heap", HEAP_TEXT, QUERIES[0][2])
    rejected = {
        **query,
        "source_doc_id": "x",
        "rejected_stage": "query",
        "rejected_kind": "quarantine",
        "rejected_reason": "r",
    }
    rows = next(step.process([query, rejected]))
    assert len(rows) == 2
    mined, passed = rows
    candidates = mined["candidates"]
    assert [c["retrieval_rank"] for c in candidates] == [1, 2, 3]
    assert {c["doc_id"] for c in candidates}.isdisjoint({"heap", "heap-copy"})
    assert mined["source_copies_removed"] == 2
    texts = dict(DOCS)
    assert all(c["text"] == texts[c["doc_id"]] for c in candidates)
    scores = [c["retrieval_score"] for c in candidates]
    assert scores == sorted(scores, reverse=True)
    # the source's rank over the whole corpus: 1 + the documents scoring strictly higher
    index = step._indexes["leetcode"]
    query_vector = step._encoder.encode_queries([query["query"]], INSTRUCTION)[0]
    all_scores = index.exact.vectors(range(len(DOCS))) @ query_vector
    source_score = all_scores[index.store.row_of("heap")]
    assert mined["triviality_source_dense_rank"] == 1 + int(
        (all_scores > source_score + 1e-6).sum()
    )
    assert 1 <= mined["triviality_source_bm25_rank"] <= 7
    assert mined[RECALL_COLUMN] is None  # exact search: nothing to measure
    # a rejected row passes through once, untouched
    assert passed["rejected_stage"] == "query" and passed["candidates"] is None

    # the corpus embeddings are cached: a second load encodes nothing
    again = _step(corpus, tmp_path / "emb", search_top_k=7, n_candidates=3, name="mine2")
    assert again._documents_encoded == 0 and again._documents_reused == len(DOCS)
    assert next(again.process([query]))[0]["candidates"] == candidates


def test_sharded_mining_equals_one_exact_index(tmp_path):
    """Several shards searched one at a time give the candidates of one exact index over the
    whole corpus: same ids, ranks and scores, same source ranks; memory stays one shard."""
    corpus, docs = _generated_corpus(tmp_path)
    # one text per forward pass: a text's vector does not depend on the texts batched with it
    settings = {
        "search_top_k": 40,
        "n_candidates": 25,
        "near_duplicate_cosine": 0.99,
        "encode_batch_size": 1,
    }
    sharded = _step(corpus, tmp_path / "emb", shard_docs=9, **settings)
    whole = _step(corpus, tmp_path / "emb-whole", shard_docs=100_000, name="whole", **settings)
    index = sharded._indexes["leetcode"]
    assert len(index.exact.shards) == -(-len(docs) // 9) >= 7
    queries = _queries(docs)
    rows_sharded = next(sharded.process(queries))
    rows_whole = next(whole.process(queries))
    assert index.exact.peak_block_rows <= 9
    assert json.dumps(rows_sharded, sort_keys=True) == json.dumps(rows_whole, sort_keys=True)

    # ... and the reference: a DenseIndex over the same float16 vectors, all in memory
    dense = DenseIndex(index.exact.vectors(range(len(docs))))
    query_vectors = sharded.encode_queries(queries)
    scores, rows = dense.search(query_vectors, settings["search_top_k"])
    doc_ids = [doc_id for doc_id, _ in docs]
    for row, top_scores, top_rows in zip(rows_sharded, scores, rows, strict=True):
        expected = [
            (doc_ids[hit], float(score))
            for hit, score in zip(top_rows, top_scores, strict=True)
            if doc_ids[hit] not in (row["source_doc_id"], *row["triviality_source_duplicate_ids"])
            and dict(docs)[doc_ids[hit]].strip().lower() != row["source_text"].strip().lower()
        ][: settings["n_candidates"]]
        got = [(c["doc_id"], c["retrieval_score"]) for c in row["candidates"]]
        assert got == expected
        assert [c["retrieval_rank"] for c in row["candidates"]] == list(range(1, len(got) + 1))
    ranks = [row["triviality_source_dense_rank"] for row in rows_sharded]
    assert ranks[-1] is None and all(isinstance(rank, int) and rank >= 1 for rank in ranks[:-1])
    # exact copies tie: the lower row comes first in both layouts
    copy_rows = [doc_ids.index(name) for name in ("g3", "g-copy-a")]  # docs[10] is g3
    assert docs[10][0] == "g3"
    _, ties = dense.search(dense.vectors([copy_rows[0]]), 2)
    assert list(ties[0]) == copy_rows


def test_a_killed_run_reuses_finished_shards(tmp_path):
    corpus, docs = _generated_corpus(tmp_path, n_docs=20)
    first = _step(corpus, tmp_path / "emb", shard_docs=8, search_top_k=5, n_candidates=3)
    shards = first._indexes["leetcode"].exact.shards
    assert first._documents_encoded == len(docs)
    # a run killed before its last shard was written: that one alone is encoded again
    first._indexes["leetcode"].exact.cache.docs_path(shards[-1].key).unlink()
    again = _step(corpus, tmp_path / "emb", shard_docs=8, search_top_k=5, n_candidates=3)
    assert again._documents_encoded == shards[-1].size
    assert again._documents_reused == len(docs) - shards[-1].size
    assert not list((tmp_path / "emb").rglob(".tmp-*"))


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_reports_its_recall(tmp_path, kind):
    corpus, docs = _generated_corpus(tmp_path)
    settings = {"search_top_k": 30, "n_candidates": 10, "shard_docs": 16}
    exact = _step(corpus, tmp_path / "emb", **settings)
    approximate = _step(
        corpus,
        tmp_path / "emb",
        index=kind,
        nprobe=1000,  # every list: exhaustive, so recall is 1
        recall_sample_rate=1.0,
        name="approximate",
        **settings,
    )
    queries = _queries(docs)
    rows_exact = next(exact.process(queries))
    rows_approximate = next(approximate.process(queries))
    assert [row[RECALL_COLUMN] for row in rows_approximate] == [1.0] * len(queries)
    for row_exact, row_approximate in zip(rows_exact, rows_approximate, strict=True):
        exact_ids = [c["doc_id"] for c in row_exact["candidates"]]
        approximate_ids = [c["doc_id"] for c in row_approximate["candidates"]]
        assert sorted(exact_ids) == sorted(approximate_ids)
        # the same order, except between documents whose exact scores differ by float32 rounding
        # alone (copies of one text in two shards: seen 1e-7 apart, the matmul's summation order
        # differing between tiles, which flips their order on some machines)
        exact_score = {c["doc_id"]: c["retrieval_score"] for c in row_exact["candidates"]}
        for exact_id, approximate_id in zip(exact_ids, approximate_ids, strict=True):
            assert exact_id == approximate_id or (
                abs(exact_score[exact_id] - exact_score[approximate_id]) < 1e-5
            ), (exact_ids, approximate_ids)
        assert (
            row_exact["triviality_source_dense_rank"]
            == row_approximate["triviality_source_dense_rank"]
        )
    # outside the sample nothing is measured; a narrow search misses neighbours and says so
    narrow = _step(
        corpus,
        tmp_path / "emb",
        index=kind,
        nprobe=1,
        ef_search=1,
        recall_sample_rate=0.0,
        name="narrow",
        **settings,
    )
    assert all(row[RECALL_COLUMN] is None for row in next(narrow.process(queries)))

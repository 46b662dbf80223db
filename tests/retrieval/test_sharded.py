import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from reasonembed.retrieval.approximate import ApproximateIndex, recall_at_k
from reasonembed.retrieval.cache import EmbeddingCache
from reasonembed.retrieval.corpus_store import CorpusStore, Shard, text_key
from reasonembed.retrieval.index import DenseIndex
from reasonembed.retrieval.sharded import ShardedIndex, encode_corpus

REPO = Path(__file__).resolve().parents[2]


def _random_shards(cache: EmbeddingCache, n_docs: int, dim: int, shard_docs: int, seed: int = 0):
    """Unit vectors written as float16 shards; returns (shards, float32 copy of the values)."""
    rng = np.random.default_rng(seed)
    shards, parts = [], []
    for start in range(0, n_docs, shard_docs):
        block = rng.standard_normal((min(shard_docs, n_docs - start), dim)).astype(np.float32)
        block = (block / np.linalg.norm(block, axis=1, keepdims=True)).astype(np.float16)
        shard = Shard(start, start + len(block), f"random-{seed}-{start}")
        cache.save_docs(shard.key, block)
        shards.append(shard)
        parts.append(block.astype(np.float32))
    return shards, np.concatenate(parts)


def test_store_streams_documents_and_finds_them_by_id(tmp_path):
    documents = [
        (f"doc {i}/x", f"Text number {i}." if i != 7 else "  TEXT number 3. ") for i in range(23)
    ]
    store = CorpusStore.write(iter(documents), tmp_path / "corpora", shard_docs=5)
    assert len(store) == 23
    assert [(s.start, s.stop) for s in store.shards] == [
        (0, 5),
        (5, 10),
        (10, 15),
        (15, 20),
        (20, 23),
    ]
    assert store.row_of("doc 17/x") == 17 and store.row_of("doc 17") is None
    assert store.doc_ids([4, 0]) == ["doc 4/x", "doc 0/x"]
    assert (
        store.texts([2]) == ["Text number 2."] and store.text_range(21, 23)[-1] == "Text number 22."
    )
    # the same document under another id has the same text key
    assert store.text_keys[7] == store.text_keys[3] == text_key("text NUMBER 3.")
    # named by content: writing the same corpus again gives the same file, no temporary left
    again = CorpusStore.write(iter(documents), tmp_path / "corpora", shard_docs=5)
    assert again.path == store.path and [s.key for s in again.shards] == [
        s.key for s in store.shards
    ]
    assert [p.name for p in (tmp_path / "corpora").iterdir()] == [store.path.name]


def test_sharded_search_equals_dense_search_on_the_same_vectors(tmp_path):
    cache = EmbeddingCache(tmp_path, "model")
    shards, vectors = _random_shards(cache, 3000, 32, 256)
    vectors[2900] = vectors[100]  # an exact copy in another shard
    cache.save_docs(shards[-1].key, vectors[shards[-1].start :])
    sharded, dense = ShardedIndex(cache, shards, 32), DenseIndex(vectors)
    queries = np.random.default_rng(1).standard_normal((20, 32)).astype(np.float32)
    queries[0] = vectors[100]
    targets = [100, None, *range(5, 3000, 167)]
    result = sharded.search_and_rank(queries, 150, targets)
    expected = dense.search_and_rank(queries, 150, targets)
    np.testing.assert_array_equal(result[1], expected[1])
    np.testing.assert_array_equal(result[0], expected[0])
    assert result[2] == expected[2] and result[2][0] == 1
    assert result[1][0][:2].tolist() == [100, 2900]
    assert sharded.peak_block_rows <= 256
    np.testing.assert_array_equal(
        sharded.vectors([2999, 0, 256, 255]), vectors[[2999, 0, 256, 255]]
    )


def test_exact_search_runs_in_less_memory_than_the_float32_corpus(tmp_path):
    """A child process whose address space is capped below the corpus's float32 size (and below
    its float16 size on disk) searches it exactly, shard by shard, and finds what an in-memory
    index finds."""
    n_docs, dim, shard_docs = 120_000, 256, 8192  # float32: 123 MB, float16: 61 MB
    cache = EmbeddingCache(tmp_path, "model")
    shards, vectors = _random_shards(cache, n_docs, dim, shard_docs)
    queries = np.random.default_rng(5).standard_normal((8, dim)).astype(np.float32)
    np.save(tmp_path / "queries.npy", queries)
    (tmp_path / "shards.json").write_text(json.dumps([[s.start, s.stop, s.key] for s in shards]))
    budget = 48 << 20
    child = textwrap.dedent(
        f"""
        import json, resource, sys
        from pathlib import Path
        import numpy as np
        from reasonembed.retrieval.cache import EmbeddingCache
        from reasonembed.retrieval.corpus_store import Shard
        from reasonembed.retrieval.sharded import ShardedIndex

        folder = Path({str(tmp_path)!r})
        shards = [Shard(*entry) for entry in json.loads((folder / "shards.json").read_text())]
        index = ShardedIndex(EmbeddingCache(folder, "model"), shards, {dim})
        queries = np.load(folder / "queries.npy")
        index.search(queries, 5)  # warm up: libraries and threads allocated before the cap
        used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (used + {budget}, used + {budget}))
        try:
            np.ones(({n_docs}, {dim}), dtype=np.float32)
            fits = True
        except MemoryError:
            fits = False
        scores, rows, ranks = index.search_and_rank(queries, 100, [3, None, 77777, 5, 6, 7, 8, 9])
        print(json.dumps({{"fits": fits, "rows": rows.tolist(), "ranks": ranks,
                          "peak": index.peak_block_rows}}))
        """
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", child],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["fits"] is False  # the float32 corpus does not fit in the child's memory
    assert result["peak"] <= shard_docs
    _, rows, ranks = DenseIndex(vectors).search_and_rank(
        queries, 100, [3, None, 77777, 5, 6, 7, 8, 9]
    )
    assert result["rows"] == rows.tolist() and result["ranks"] == ranks


def test_approximate_index_recall_against_exact(tmp_path):
    cache = EmbeddingCache(tmp_path, "model")
    shards, vectors = _random_shards(cache, 4000, 16, 1000)
    exact = ShardedIndex(cache, shards, 16)
    queries = vectors[:50] + 0.05 * np.random.default_rng(2).standard_normal((50, 16)).astype(
        np.float32
    )
    _, truth = exact.search(queries, 100)
    for kind, wide, narrow in (
        ("ivf", {"nprobe": 10_000}, {"nprobe": 1}),
        ("hnsw", {"ef_search": 2000}, {"ef_search": 1}),
    ):
        full = ApproximateIndex.build(exact, kind, **wide)
        assert recall_at_k(full.search(queries, 100)[1], truth, 100) == [1.0] * 50
        partial = ApproximateIndex.build(exact, kind, **narrow)  # read back from the cache
        recalls = recall_at_k(partial.search(queries, 100)[1], truth, 100)
        assert 0 < np.mean(recalls) < 1
    assert len(list(cache.folder.glob("ann-*.faiss"))) == 2


def test_encoding_workers_write_the_same_shards(tmp_path):
    """`workers` processes (each loads the model: ~15 s on 2 cores) claim shards like replicas."""
    from reasonembed.retrieval import Encoder

    documents = [
        (f"d{i}", f"document {i} about {'heaps' if i % 2 else 'graphs'} and sorting")
        for i in range(12)
    ]
    store = CorpusStore.write(iter(documents), tmp_path / "corpora", shard_docs=4)
    settings = {"model_name_or_path": "minilm"}
    encoder = Encoder(**settings)
    alone = EmbeddingCache(tmp_path / "alone", encoder.fingerprint)
    report = encode_corpus(store, encoder, alone, batch_size=4)
    assert (report.documents_encoded, report.documents_reused) == (12, 0)
    together = EmbeddingCache(tmp_path / "together", encoder.fingerprint)
    report = encode_corpus(
        store, encoder, together, batch_size=4, workers=2, encoder_settings=settings
    )
    assert sorted(shard.start for shard in report.encoded) == [0, 4, 8]  # each shard once
    assert report.by_others == report.cached == [] and report.documents_encoded == 12
    for shard in store.shards:
        np.testing.assert_allclose(
            together.load_docs(shard.key), alone.load_docs(shard.key), atol=2e-3
        )
    report = encode_corpus(store, encoder, together, workers=2, encoder_settings=settings)
    assert (report.documents_encoded, report.documents_reused) == (0, 12)

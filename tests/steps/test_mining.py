from reasonembed.config import DomainRun
from reasonembed.corpus import CorpusSource
from reasonembed.steps.mining import MineCandidates
from tests.factory_fixtures import HEAP_TEXT, write_corpus


def test_source_is_removed_by_id_and_by_text(tmp_path):
    corpus = write_corpus(tmp_path)
    run = DomainRun(domain="leetcode", corpus=CorpusSource(path=str(corpus)))
    step = MineCandidates(
        name="mine",
        domain_runs=[run.model_dump(mode="json")],
        search_top_k=7,
        n_candidates=3,
        embedding_cache_dir=str(tmp_path / "emb"),
    )
    step.load()
    query = {
        "source_doc_id": "heap",
        "source_text": HEAP_TEXT,
        "domain": "leetcode",
        "query": "How do I always take the smallest pending job first from a growing set of jobs?",
        "instruction": "Given a Coding problem, retrieve relevant examples that help answer the problem.",
        "rejected_stage": None,
    }
    rejected = {
        **query,
        "source_doc_id": "x",
        "rejected_stage": "query",
        "rejected_kind": "quarantine",
        "rejected_reason": "r",
    }
    rows = next(step.process([query, rejected]))
    mined = [row for row in rows if row["rejected_stage"] is None]
    assert [row["retrieval_rank"] for row in mined] == [1, 2, 3]
    assert {row["doc_id"] for row in mined}.isdisjoint({"heap", "heap-copy"})
    assert all(row["source_copies_removed"] == 2 for row in mined)
    scores = [row["retrieval_score"] for row in mined]
    assert scores == sorted(scores, reverse=True)
    # the source's rank over the whole corpus: 1 + the documents scoring strictly higher
    source_score = float(
        step._indexes["leetcode"].vectors[0]
        @ step._encoder.encoder.encode_queries([query["query"]], query["instruction"])[0]
    )
    higher = sum(score > source_score for score in scores)
    assert mined[0]["triviality_source_dense_rank"] == 1 + higher
    assert 1 <= mined[0]["triviality_source_bm25_rank"] <= 7
    # a rejected row passes through once, untouched
    passed = [row for row in rows if row["rejected_stage"] is not None]
    assert len(passed) == 1 and passed[0]["doc_id"] is None

    # the corpus embeddings are cached: a second load encodes nothing
    again = MineCandidates(
        **{
            **step.model_dump(
                include={"domain_runs", "search_top_k", "n_candidates", "embedding_cache_dir"}
            ),
            "name": "mine2",
        }
    )
    again.load()
    assert again._encoder.misses == 0 and again._encoder.hits == 7

"""Metric parity with trec_eval (pytrec_eval) on random runs with many ties."""

import numpy as np
import pytest
import pytrec_eval

from reasonembed.eval.metrics import Qrels, evaluate
from reasonembed.eval.runs import Run, top_k

MEASURES = {
    "ndcg_cut_10": "ndcg@10",
    "recall_10": "recall@10",
    "recall_100": "recall@100",
    "recip_rank": "mrr",
}


def random_case(seed: int, graded: bool, n_queries: int = 120):
    rng = np.random.default_rng(seed)
    run, qrels = {}, {}
    for q in range(n_queries):
        ids = rng.choice(3000, size=rng.integers(1, 400), replace=False)
        name = lambda d: f"doc {d}" if d % 2 else f"d/{d}.txt"  # noqa: E731
        # Few distinct scores: most documents tie with many others.
        run[f"q{q}"] = {name(d): float(rng.integers(0, 6)) / 2 for d in ids}
        gold = list(ids[: rng.integers(0, 8)]) + list(rng.choice(3000, rng.integers(1, 12)))
        levels = (0, 1, 2, 3) if graded else (1,)
        qrels[f"q{q}"] = {name(d): int(rng.choice(levels)) for d in gold}
    return run, qrels


@pytest.mark.parametrize("seed,graded", [(0, False), (1, False), (2, True), (3, True)])
def test_parity_with_trec_eval(seed, graded):
    run, qrels = random_case(seed, graded)
    reference = pytrec_eval.RelevanceEvaluator(qrels, set(MEASURES)).evaluate(run)
    ours = evaluate(Run.from_dict(run), Qrels.from_dict(qrels), depth=None).per_query()
    assert set(reference) == set(ours)
    for query_id, values in reference.items():
        for theirs, mine in MEASURES.items():
            assert ours[query_id][mine] == pytest.approx(values[theirs], abs=1e-12), (
                query_id,
                mine,
            )


def test_depth_cut_matches_trec_eval_on_the_truncated_run():
    run, qrels = random_case(5, graded=False)
    cut = top_k(Run.from_dict(run), 50)
    reference = pytrec_eval.RelevanceEvaluator(qrels, set(MEASURES)).evaluate(cut.to_dict())
    ours = evaluate(Run.from_dict(run), Qrels.from_dict(qrels), depth=50).per_query()
    for query_id, values in reference.items():
        for theirs, mine in MEASURES.items():
            assert ours[query_id][mine] == pytest.approx(values[theirs], abs=1e-12)
    assert max(len(v) for v in cut.to_dict().values()) == 50


def test_tie_order_is_score_then_doc_id_descending():
    # All scores equal: trec_eval ranks "b" before "a", so the relevant "a" is second.
    table = evaluate(Run.from_dict({"q": {"a": 1.0, "b": 1.0}}), Qrels.from_dict({"q": {"a": 1}}))
    assert table.values["mrr"][0] == 0.5
    assert table.values["ndcg@10"][0] == pytest.approx(1 / np.log2(3))


def test_queries_without_results_score_zero_and_unjudged_queries_are_ignored():
    run = Run.from_dict({"q1": {"a": 2.0}, "other": {"a": 1.0}})
    qrels = Qrels.from_dict({"q1": {"a": 1}, "q2": {"b": 1}})
    table = evaluate(run, qrels)
    assert table.query_ids == ["q1", "q2"]
    assert table.values["ndcg@10"].tolist() == [1.0, 0.0]
    assert table.retrieved.tolist() == [1, 0]
    assert table.mean()["ndcg@10"] == 0.5


def test_duplicate_gold_ids_count_once():
    qrels = Qrels.from_gold([("q", ["a", "a", "b"])])
    run = Run.from_dict({"q": {"a": 2.0, "b": 1.0}})
    assert len(qrels.doc_ids) == 2
    assert evaluate(run, qrels).values["ndcg@10"][0] == 1.0

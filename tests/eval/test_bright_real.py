"""The real BRIGHT queries in ../shared/bright (all 12 tasks) load and a run over them scores."""

import numpy as np
import pytest

from reasonembed.bright import data
from reasonembed.eval.metrics import evaluate, task_qrels
from reasonembed.eval.runs import Run, apply_protocol
from tests.support.bright import SHARED_BRIGHT, needs_bright

QUERY_COUNTS = {
    "biology": 103,
    "earth_science": 116,
    "economics": 103,
    "psychology": 101,
    "robotics": 101,
    "stackoverflow": 117,
    "sustainable_living": 108,
    "leetcode": 142,
    "pony": 112,
    "aops": 111,
    "theoremqa_questions": 194,
    "theoremqa_theorems": 76,
}

pytestmark = [
    pytest.mark.bright,
    needs_bright,
]


def test_all_tasks_load_with_protocol_fields():
    for task, count in QUERY_COUNTS.items():
        examples = data.load_examples(task, str(SHARED_BRIGHT))
        assert len(examples) == count
        for example in examples:
            assert "N/A" not in example.excluded and "N/A" not in example.gold()
            assert len(example.gold()) == len(set(example.gold())) >= 1
    tqa = data.load_examples("theoremqa_questions", str(SHARED_BRIGHT))
    assert any(len(e.gold_ids) > len(e.gold()) for e in tqa)  # duplicates in the raw data
    bio = data.load_examples("biology", str(SHARED_BRIGHT))
    assert all(e.excluded_ids == ["N/A"] and e.excluded == [] for e in bio)
    assert all(e.gold(long=True) for e in bio)


def test_a_run_over_every_task_scores():
    rng = np.random.default_rng(0)
    for task in QUERY_COUNTS:
        examples = data.load_examples(task, str(SHARED_BRIGHT))
        results = {}
        for example in examples:
            # Gold, excluded and filler documents, with many tied scores.
            docs = example.gold() + example.excluded + [f"filler {i}" for i in range(30)]
            results[example.id] = {d: float(rng.integers(0, 4)) for d in docs}
        run = apply_protocol(Run.from_dict(results), {e.id: e.excluded for e in examples})
        kept = run.to_dict()
        for example in examples:
            assert not set(example.excluded) & set(kept[example.id])
        table = evaluate(run, task_qrels(examples), recall_cutoffs=(10, 1000))
        means = table.mean()
        assert len(table.query_ids) == len(examples)
        assert 0.0 < means["ndcg@10"] <= 1.0
        assert means["recall@1000"] == pytest.approx(1.0)  # every gold doc was retrieved

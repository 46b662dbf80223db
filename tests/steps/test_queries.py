import pytest

from reasonembed.config import QueryGenerationConfig
from reasonembed.steps.queries import GenerateQueries, query_problem
from tests.support.factory_inputs import HEAP_TEXT
from tests.support.llms import ScriptedLLM

WEIGHTS = {
    "length_weights": {"less than 100 words": 1, "100 to 200 words": 2, "at least 500 words": 1},
    "education_weights": {"high school": 1, "college": 2, "PhD": 2},
}


def _step(seed: int) -> GenerateQueries:
    return GenerateQueries(
        name="q",
        llm=ScriptedLLM(model="none"),
        sampling_seed=seed,
        query_generation=QueryGenerationConfig(**WEIGHTS),
    )


def _seed_row(doc_id: str) -> dict:
    return {"source_doc_id": doc_id, "source_text": HEAP_TEXT, "domain": "leetcode"}


def test_same_seed_same_prompts_and_conditions_vary_over_seeds():
    rows = [_seed_row(f"doc-{i}") for i in range(40)]
    first = [_step(42).render(row) for row in rows]
    assert first == [_step(42).render(row) for row in rows]
    assert first != [_step(43).render(row) for row in rows]
    conditions = {_step(42).conditions(row) for row in rows}
    assert len(conditions) > 3  # lengths and levels are sampled, not fixed
    assert all(HEAP_TEXT in prompt and "Never refer to the passage" in prompt for prompt in first)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "empty answer"),
        ("Too short.", "shorter than"),
        (
            "Based on the passage above, how do heaps work in practice?",
            "refers back to the passage",
        ),
        ("The following paragraph explains heaps; what is their complexity?", "refers back"),
        ("How can a scheduler always run the most urgent pending job first, cheaply?", None),
    ],
)
def test_query_problems(text, problem):
    found = query_problem(text)
    if problem is None:
        assert found is None
    else:
        assert problem in found


def test_a_query_referring_to_the_passage_is_reasked_then_quarantined():
    llm = ScriptedLLM(
        answers=[
            "As described in the passage, heaps are great.",
            "This text says heaps are useful ok.",
        ],
    )
    step = GenerateQueries(
        name="q", llm=llm, query_generation=QueryGenerationConfig(max_reasks=1, **WEIGHTS)
    )
    step.load()
    row = next(step.process([_seed_row("heap")]))[0]
    assert row["query"] is None
    assert row["rejected_stage"] == "query" and row["rejected_kind"] == "quarantine"
    assert "refers back to the passage" in row["rejected_reason"] and row["query_attempts"] == 2

import json

import pytest

from reasonembed.config import AnnotationConfig
from reasonembed.steps.annotation import AnnotateRelevance, parse_relevance, truncate
from reasonembed.steps.assembly import AssembleSamples
from tests.support.llms import ScriptedLLM


@pytest.mark.parametrize(
    "text, score, error",
    [
        ("analysis ... <score>4</score>", 4, None),
        ("analysis\n<score> 2 </score>\n", 2, None),
        ("no tag at all, I think it is a 5", None, "no <score>N</score> tag"),
        ("<score>6</score>", None, "not an integer from 1 to 5"),
        ("<score>3</score> and then more text", None, "text after the </score> tag"),
        ("<score>3</score> <score>4</score>", None, "2 score tags"),
        ("<score>three</score>", None, "not an integer"),
    ],
)
def test_strict_score_parsing(text, score, error):
    parsed, problem = parse_relevance(text)
    assert parsed == score
    if error is None:
        assert problem is None
    else:
        assert error in problem


def test_truncate():
    assert truncate("abc", None) == "abc"
    assert truncate("a" * 200, 100) == "a" * 100 + " …"


def _query_row(*doc_ids: str) -> dict:
    """A mined query row (mining's output contract): its candidates in retrieval order."""
    return {
        "source_doc_id": "s1",
        "source_text": "source",
        "domain": "biology",
        "query": "Why do cells need mitochondria?",
        "reasoning_query": "expanded",
        "instruction": "Given a Biology post, retrieve relevant passages that help answer the post.",
        "target_length": "less than 100 words",
        "education_level": "college",
        "generator_model": "g",
        "candidates": [
            {
                "doc_id": doc_id,
                "text": f"text of {doc_id}",
                "retrieval_rank": rank,
                "retrieval_score": 1.0 / rank,
            }
            for rank, doc_id in enumerate(doc_ids, start=1)
        ],
        "rejected_stage": None,
    }


def _assembler() -> AssembleSamples:
    step = AssembleSamples(name="assemble")
    step.load()
    return step


def test_unparseable_answer_is_reasked_then_quarantined_and_never_a_label():
    llm = ScriptedLLM(
        prompt_tokens=10,
        completion_tokens=5,
        answers=[
            "fine <score>4</score>",  # d1, attempt 0
            "I cannot decide",  # d2, attempt 0: re-asked
            "no <score>1</score>",  # d3, attempt 0
            "still no tag",  # d2, attempt 1: quarantined
        ],
    )
    step = AnnotateRelevance(name="annotate", llm=llm, annotation=AnnotationConfig(max_reasks=1))
    step.load()
    [row] = next(step.process([_query_row("d1", "d2", "d3")]))
    by_doc = {candidate["doc_id"]: candidate for candidate in row["candidates"]}
    assert by_doc["d1"]["relevance_score"] == 4 and by_doc["d1"]["annotation_error"] is None
    bad = by_doc["d2"]
    assert bad["relevance_score"] is None and bad["annotation_status"] == "quarantine"
    assert "no <score>N</score> tag" in bad["annotation_error"]
    assert row["rejected_stage"] is None  # the query itself goes on
    assert row["annotation_attempts"] == 4  # 3 first answers + 1 re-ask
    assert row["annotation_prompt_hash"] == step.template.hash
    assert llm.answers == []

    [record] = next(_assembler().process([row]))
    assert record["status"] == "kept"
    sample = json.loads(record["sample"])
    assert [c["doc_id"] for c in sample["candidates"]] == ["d1", "d3"]
    assert (sample["n_positives"], sample["n_negatives"], sample["n_annotation_quarantined"]) == (
        1,
        1,
        1,
    )
    quarantined = json.loads(record["rejections"])
    assert [(entry["stage"], entry["kind"], entry["doc_id"]) for entry in quarantined] == [
        ("annotation", "quarantine", "d2")
    ]


def test_query_without_negative_is_dropped_with_reason():
    row = _query_row("d1")
    row["candidates"][0].update(
        relevance_score=5, relevance_analysis="a", annotation_error=None, annotation_status="judged"
    )
    [record] = next(_assembler().process([{**row, "annotator_model": "m"}]))
    assert record["status"] == "dropped"
    assert json.loads(record["sample"])["drop_reason"] == "no_negative"
    [entry] = json.loads(record["rejections"])
    assert (entry["stage"], entry["kind"], entry["reason"]) == ("assembly", "drop", "no_negative")


def test_calibration_removes_the_shared_bias():
    from reasonembed.steps.annotation import calibrated_choices

    biased = [
        {"1": 0.70, "2": 0.10, "3": 0.05, "4": 0.05, "5": 0.10},
        {"1": 0.50, "2": 0.10, "3": 0.10, "4": 0.10, "5": 0.20},  # relatively more relevant
        {"1": 0.80, "2": 0.10, "3": 0.04, "4": 0.03, "5": 0.03},
    ]
    choices = calibrated_choices(biased)
    assert choices[1] in {"3", "4", "5"}
    assert choices[2] in {"1", "2"}

import pytest

from reasonembed.llms.base import Completion, ReasonEmbedLLM
from reasonembed.steps.annotation import AnnotateRelevance, parse_relevance, truncate
from reasonembed.steps.assembly import AssembleSamples, CollectRejections


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


class ScriptedLLM(ReasonEmbedLLM):
    """A test double: answers from a fixed list, in order, counting calls (branching only)."""

    answers: list[str]

    def _generate(self, messages_list, settings, seed):
        answers = [self.answers.pop(0) for _ in messages_list]
        return [
            Completion(text=answer, prompt_tokens=10, completion_tokens=5) for answer in answers
        ]


def _judgement_row(doc_id: str, rank: int) -> dict:
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
        "doc_id": doc_id,
        "doc_text": f"text of {doc_id}",
        "retrieval_rank": rank,
        "retrieval_score": 1.0 / rank,
        "rejected_stage": None,
    }


def _assembler() -> AssembleSamples:
    step = AssembleSamples(name="assemble")
    step.load()
    return step


def test_unparseable_answer_is_reasked_then_quarantined_and_never_a_label():
    llm = ScriptedLLM(
        model="scripted",
        answers=[
            "fine <score>4</score>",  # d1, attempt 0
            "I cannot decide",  # d2, attempt 0: re-asked
            "no <score>1</score>",  # d3, attempt 0
            "still no tag",  # d2, attempt 1: quarantined
        ],
    )
    step = AnnotateRelevance(name="annotate", llm=llm, max_reasks=1)
    step.load()
    rows = next(
        step.process([_judgement_row("d1", 1), _judgement_row("d2", 2), _judgement_row("d3", 3)])
    )
    by_doc = {row["doc_id"]: row for row in rows}
    assert by_doc["d1"]["relevance_score"] == 4 and by_doc["d1"]["annotation_error"] is None
    bad = by_doc["d2"]
    assert bad["relevance_score"] is None
    assert "no <score>N</score> tag" in bad["annotation_error"]
    assert bad["rejected_stage"] == "annotation" and bad["rejected_kind"] == "quarantine"
    assert bad["annotation_attempts"] == 2
    assert llm.answers == []

    sample = next(_assembler().process(rows))[0]
    assert [c["doc_id"] for c in sample["candidates"]] == ["d1", "d3"]
    assert (sample["n_positives"], sample["n_negatives"], sample["n_annotation_quarantined"]) == (
        1,
        1,
        1,
    )
    assert sample["drop_reason"] is None
    quarantined = next(CollectRejections(name="collect").process(rows))
    assert [(row["stage"], row["doc_id"]) for row in quarantined] == [("annotation", "d2")]


def test_query_without_negative_is_dropped_with_reason():
    rows = [
        {
            **_judgement_row("d1", 1),
            "relevance_score": 5,
            "relevance_analysis": "a",
            "annotator_model": "m",
        }
    ]
    sample = next(_assembler().process(rows))[0]
    assert sample["drop_reason"] == "no_negative"


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

from reasonembed.steps.query_filter import FilterQueries
from tests.support.bright import SHARED_BRIGHT, needs_bright
from tests.support.factory_inputs import HEAP_TEXT


def _row(query: str) -> dict:
    return {
        "source_doc_id": "heap",
        "source_text": HEAP_TEXT,
        "domain": "leetcode",
        "query": query,
        "rejected_stage": None,
    }


def test_a_query_quoting_its_source_is_dropped():
    step = FilterQueries(name="filter")
    step.load()
    quoting = _row("Explain this: " + HEAP_TEXT[:300])
    asking = _row(
        "Which structure lets a scheduler always run the most urgent pending job next, cheaply?"
    )
    rows = next(step.process([quoting, asking]))
    assert (
        rows[0]["rejected_stage"] == "query_filter" and rows[0]["rejected_reason"] == "source_copy"
    )
    assert rows[1]["rejected_stage"] is None
    assert rows[1]["triviality_source_copy_share"] < 0.5


@needs_bright
def test_a_lightly_edited_bright_query_is_dropped():
    from reasonembed.bright.data import load_examples

    original = load_examples("biology", str(SHARED_BRIGHT))[0].query
    edited = original.replace(" the ", " a ", 2)
    step = FilterQueries(name="filter", bright=str(SHARED_BRIGHT))
    step.load()
    rows = next(
        step.process(
            [
                _row(edited),
                _row("Which structure lets a scheduler always run the most urgent job next?"),
            ]
        )
    )
    assert rows[0]["rejected_reason"] == "bright_query_contamination"
    assert rows[0]["decontamination_bright_match_id"].startswith("biology/")
    assert rows[1]["rejected_stage"] is None

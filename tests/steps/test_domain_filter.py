from reasonembed.steps.domain_filter import FilterDomain
from tests.support.llms import ScriptedLLM


def _row(doc_id: str) -> dict:
    return {"source_doc_id": doc_id, "source_text": f"text of {doc_id}", "domain": "stackoverflow"}


def test_yes_keeps_no_drops_and_nonsense_is_quarantined():
    llm = ScriptedLLM(answers=["Yes.", "no", "maybe", "perhaps"])
    step = FilterDomain(name="filter", llm=llm, max_reasks=1)
    step.load()
    kept, dropped, unclear = next(step.process([_row("a"), _row("b"), _row("c")]))
    assert kept["rejected_stage"] is None
    assert (dropped["rejected_stage"], dropped["rejected_kind"]) == ("domain_filter", "drop")
    assert dropped["rejected_reason"] == "passage is not about coding"
    assert (unclear["rejected_kind"], unclear["domain_filter_attempts"]) == ("quarantine", 2)
    assert "neither yes nor no" in unclear["rejected_reason"]


def test_the_first_passes_up_to_the_quota_are_the_seeds_and_later_rows_cost_nothing():
    from reasonembed.steps.domain_filter import NOT_SAMPLED

    llm = ScriptedLLM(answers=["yes", "no", "yes", "yes"])
    step = FilterDomain(name="filter", llm=llm, seed_quota={"stackoverflow": 2})
    step.load()
    first = next(step.process([_row("a"), _row("b"), _row("c"), _row("d")]))
    assert [row["rejected_reason"] for row in first] == [
        None,
        "passage is not about coding",
        None,
        NOT_SAMPLED,  # passed, but the quota was full: the sampling order decides
    ]
    later = next(step.process([_row("e"), _row("f")]))  # quota full: no request at all
    assert [row["rejected_reason"] for row in later] == [NOT_SAMPLED, NOT_SAMPLED]
    assert all(row["domain_filter_attempts"] == 0 for row in later)
    assert llm.answers == []

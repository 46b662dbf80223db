"""Token accounting, budgets and the consistent partial output (no server: a counting LLM)."""

from __future__ import annotations

import pytest

from reasonembed.config import QueryGenerationConfig, parse_config
from reasonembed.factory.run_state import (
    clear_partial,
    finish_llm_run,
    is_partial,
    mark_partial,
    start_llm_run,
)
from reasonembed.llms import build_llm
from reasonembed.llms.budget import Budget
from reasonembed.llms.usage import begin_run, usage_report
from reasonembed.steps.queries import GenerateReasoningQueries
from tests.support.llms import ScriptedLLM

NO_REASKS = QueryGenerationConfig(max_reasks=0)


def _llm(tmp_path, **fields) -> ScriptedLLM:
    """Answers "expanded query about <prompt tail>" with 10 prompt and 5 completion tokens."""
    llm = ScriptedLLM(
        model="counting",
        answers=lambda prompt: "expanded query about " + prompt[-30:],
        prompt_tokens=10,
        completion_tokens=5,
        request_cache_path=str(tmp_path / "requests.sqlite"),
        price_prompt_usd_per_million=1000.0,
        price_completion_usd_per_million=2000.0,
        **fields,
    )
    llm.load()
    return llm


def _rows(n: int) -> list[dict]:
    return [
        {"query": f"how do I merge {i} sorted lists?", "domain": "leetcode", "rejected_stage": None}
        for i in range(n)
    ]


def test_budget_arithmetic():
    budget = Budget(max_tokens=100, prompt_usd_per_million=2.0, completion_usd_per_million=6.0)
    assert budget.cost(1_000_000, 500_000) == pytest.approx(5.0)
    assert budget.exceeded(99, 0.0) is None
    assert "100 tokens spent" in budget.exceeded(100, 0.0)
    assert Budget(max_cost_usd=1.0).exceeded(10**9, 1.0).startswith("$1.0000 spent")
    assert not Budget().limited


def test_usage_is_accounted_per_row_stage_and_role(tmp_path, monkeypatch):
    monkeypatch.setenv("REASONEMBED_RUN_ID", "run-a")
    step = GenerateReasoningQueries(
        name="reasoning", llm=_llm(tmp_path), query_generation=NO_REASKS
    )
    step.load()
    rows = next(step.process(_rows(3)))
    assert [row["reasoning_prompt_tokens"] for row in rows] == [10, 10, 10]
    assert [row["reasoning_completion_tokens"] for row in rows] == [5, 5, 5]
    report = usage_report(tmp_path / "requests.sqlite", "run-a")
    stage = report["stages"]["reasoning"]
    assert stage["role"] == "generator" and stage["models"] == ["counting"]
    assert (stage["requests"], stage["cached"], stage["prompt_tokens"]) == (3, 0, 30)
    assert stage["cost_usd"] == pytest.approx((30 * 1000 + 15 * 2000) / 1e6)
    assert report["roles"]["generator"]["completion_tokens"] == 15
    assert report["total"]["requests"] == 3
    assert usage_report(tmp_path / "requests.sqlite", "other-run")["total"] == {}


def test_budget_defers_then_next_run_continues_without_paying_twice(tmp_path, monkeypatch):
    monkeypatch.delenv("REASONEMBED_RUN_ID", raising=False)
    run1 = begin_run()
    llm = _llm(tmp_path, budget_max_tokens=40)  # 15 tokens per request
    step = GenerateReasoningQueries(
        name="reasoning", llm=llm, query_generation=NO_REASKS, input_batch_size=2
    )
    step.load()
    batches = [_rows(6)[i : i + 2] for i in range(0, 6, 2)]
    out = [row for batch in batches for row in next(step.process(batch))]
    # batch 1: 30 tokens, batch 2: 60 (the check runs before a batch), batch 3: deferred
    assert len(llm.sent) == 4
    assert [row["rejected_kind"] for row in out] == [None] * 4 + ["deferred"] * 2
    assert all(row["rejected_reason"].startswith("budget reached: generator") for row in out[4:])
    assert all(row["reasoning_query"] is None for row in out[4:])
    report1 = usage_report(tmp_path / "requests.sqlite", run1)["total"]
    assert (report1["requests"], report1["deferred"]) == (4, 2)

    # the next run (same budget): the 4 answered requests come from the cache, free
    monkeypatch.delenv("REASONEMBED_RUN_ID")
    run2 = begin_run()
    assert run2 != run1
    llm2 = _llm(tmp_path, budget_max_tokens=40)
    step2 = GenerateReasoningQueries(name="reasoning", llm=llm2, query_generation=NO_REASKS)
    step2.load()
    out2 = [row for batch in batches for row in next(step2.process(batch))]
    assert [row["rejected_kind"] for row in out2] == [None] * 6
    assert [row["reasoning_query"] for row in out2[:4]] == [
        row["reasoning_query"] for row in out[:4]
    ]
    assert len(llm2.sent) == 2 and set(llm2.sent).isdisjoint(llm.sent)
    report2 = usage_report(tmp_path / "requests.sqlite", run2)["total"]
    assert (report2["requests"], report2["cached"], report2["deferred"]) == (2, 4, 0)


def _annotated_row(source_doc_id: str, statuses: list[str]) -> dict:
    """An annotated query row whose candidates have these annotation statuses."""
    return {
        "domain": "leetcode",
        "source_doc_id": source_doc_id,
        "source_text": "A heap keeps the smallest item at the root.",
        "query": "Merge k sorted lists.",
        "reasoning_query": None,
        "instruction": "i",
        "target_length": "less than 100 words",
        "education_level": "college",
        "generator_model": "g",
        "annotator_model": "a",
        "rejected_stage": None,
        "candidates": [
            {
                "doc_id": f"d{rank}",
                "text": f"heap text {rank}",
                "retrieval_rank": rank,
                "retrieval_score": 1.0 / rank,
                "relevance_score": None if status != "judged" else (5 if rank == 1 else 1),
                "relevance_analysis": "x",
                "annotation_error": None if status == "judged" else "budget reached: x",
                "annotation_status": status,
            }
            for rank, status in enumerate(statuses, start=1)
        ],
    }


def _write(tmp_path, rows):
    """The rows through the real assembly step and output writer: FunnelCounts."""
    from reasonembed.data.domains import DomainRegistry
    from reasonembed.factory.output_writer import OutputWriter
    from reasonembed.steps.assembly import AssembleSamples

    step = AssembleSamples(name="assemble")
    step.load()
    writer = OutputWriter(tmp_path / "out", DomainRegistry(), positive_threshold=3)
    writer.add(next(step.process(rows)))
    return writer.close()


def test_a_query_with_a_deferred_judgement_is_left_out_whole(tmp_path):
    import pyarrow.parquet as pq

    rows = [
        _annotated_row("a", ["judged", "judged"]),
        _annotated_row("b", ["judged", "deferred"]),
        {
            **_annotated_row("c", []),
            "rejected_stage": "query",
            "rejected_kind": "deferred",
            "rejected_reason": "request failed on every server: x",
        },
    ]
    counts = _write(tmp_path, rows)
    assert dict(counts.statuses) == {"kept": 1, "deferred": 2}
    assert [
        row["source_doc_id"] for row in pq.read_table(tmp_path / "out" / "raw").to_pylist()
    ] == ["a"]
    # deferred rows are work for the next run, never quarantine
    assert pq.read_table(tmp_path / "out" / "quarantine" / "quarantine.parquet").num_rows == 0
    assert counts.deferred_rows == 2
    assert not is_partial(tmp_path, "cfg")
    mark_partial(tmp_path, "cfg", {"deferred_rows": 2})
    assert is_partial(tmp_path, "cfg")
    clear_partial(tmp_path, "cfg")
    assert not is_partial(tmp_path, "cfg")


def test_config_price_and_budget_reach_the_llm(tmp_path):
    config = parse_config(
        {
            "domains": [{"domain": "leetcode", "corpus": {"path": "x.jsonl"}}],
            "annotator": {
                "backend": "openai",
                "model": "m",
                "base_url": ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"],
                "price": {"prompt_usd_per_million": 0.05, "completion_usd_per_million": 0.25},
                "budget": {"max_cost_usd": 12.5},
            },
        }
    )
    llm = build_llm(config.annotator, str(tmp_path), 42)
    assert llm.base_urls == ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]
    assert llm.budget == Budget(None, 12.5, 0.05, 0.25)


def test_finish_llm_run_stats_and_partial_marker(tmp_path, monkeypatch):
    monkeypatch.delenv("REASONEMBED_RUN_ID", raising=False)
    config = parse_config(
        {
            "domains": [{"domain": "leetcode", "corpus": {"path": "x.jsonl"}}],
            "cache_dir": str(tmp_path),
        }
    )
    run_id, step_cache_ok = start_llm_run(config)
    assert step_cache_ok
    llm = _llm(tmp_path, budget_max_tokens=15)
    llm.complete(["a", "b"], template_hash="t", stage="annotation")
    assert llm.complete(["c"], template_hash="t", stage="annotation")[0].deferred
    counts = _write(
        tmp_path, [_annotated_row("a", ["judged", "judged"]), _annotated_row("b", ["deferred"])]
    )
    stats = finish_llm_run(config, run_id, counts)
    usage = stats["llm_usage"]["stages"]["annotation"]
    assert (usage["requests"], usage["deferred"], usage["prompt_tokens"]) == (2, 1, 20)
    assert stats["deferred"]["complete"] is False
    layout = stats["annotation_prompt_layout"]
    assert layout["judgements"] == 2 and 0.5 < layout["shared_prefix_share"] < 1
    # the next run must not replay distilabel's step cache; a complete run clears the mark
    monkeypatch.delenv("REASONEMBED_RUN_ID")
    run2, step_cache_ok = start_llm_run(config)
    assert run2 != run_id and not step_cache_ok
    finish_llm_run(config, run2, _write(tmp_path / "2", [_annotated_row("a", ["judged"] * 2)]))
    monkeypatch.delenv("REASONEMBED_RUN_ID")
    assert start_llm_run(config)[1]
    # that run never finishes (killed): the next one must not use distilabel's step cache
    monkeypatch.delenv("REASONEMBED_RUN_ID")
    assert not start_llm_run(config)[1]

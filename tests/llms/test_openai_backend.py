"""The `openai` backend against a real `transformers serve`, through a fault-injecting proxy."""

from __future__ import annotations

import logging
import sqlite3

import pytest
import yaml

from reasonembed.config import QueryGenerationConfig
from reasonembed.llms.openai_compat import OpenAICompatibleLLM
from reasonembed.llms.usage import usage_report
from reasonembed.steps.queries import GenerateReasoningQueries
from tests.support.fault_proxy import FaultProxy, free_port

PROMPTS = [
    "Name one sorting algorithm.",
    "What does a hash table store?",
    "Give a synonym of quick.",
    "What is the capital of France?",
]
FAULT_PLAN = ["500", "429", "stall", "truncate", "ok"]  # first attempts only


def make_llm(server, urls, tmp_path, load=True, **overrides) -> OpenAICompatibleLLM:
    fields = dict(
        model=server.model,
        base_urls=urls,
        temperature=0.0,
        top_k=None,  # transformers serve rejects the non-standard top_k field
        max_new_tokens=8,
        concurrency=2,
        timeout_s=15.0,  # generous: the shared 2-core machine can be slow
        max_retries=6,
        request_cache_path=str(tmp_path / "requests.sqlite"),
    )
    fields.update(overrides)
    llm = OpenAICompatibleLLM(**fields)
    if load:
        llm.load()
    return llm


@pytest.fixture(scope="module")
def reference(llm_server, tmp_path_factory):
    """Fault-free answers, straight from the server (no cache)."""
    llm = make_llm(
        llm_server, [llm_server.url], tmp_path_factory.mktemp("ref"), request_cache_path=None
    )
    answers = [c.text for c in llm.complete(PROMPTS, template_hash="t")]
    llm.unload()
    assert all(answers)
    return answers


def test_faults_are_retried_counted_and_answers_are_correct(
    llm_server, reference, tmp_path, monkeypatch
):
    monkeypatch.setenv("REASONEMBED_RUN_ID", "faults")
    with FaultProxy(llm_server.url, FAULT_PLAN, retry_after_s=1, stall_s=16) as proxy:
        llm = make_llm(llm_server, [proxy.url], tmp_path)
        completions = llm.complete(PROMPTS, template_hash="t", stage="query")
        assert [c.text for c in completions] == reference
        assert all(c.deferred is None and not c.cached for c in completions)
        injected = sum(proxy.counts[fault] for fault in ("500", "429", "stall", "truncate"))
        assert injected >= 4  # every kind of fault was hit at least once
        assert {"500", "429", "stall", "truncate"} <= set(proxy.counts)
        # every request that reached the proxy beyond the first per prompt was a counted retry
        retries = llm.transport_counts["retries"]
        assert retries == proxy.seen - len(PROMPTS) >= injected
        assert sum(c.retries for c in completions) == retries
        assert llm.transport_counts["status_500"] == proxy.counts["500"]
        assert llm.transport_counts["status_429"] == proxy.counts["429"]

        report = usage_report(tmp_path / "requests.sqlite", "faults")
        query = report["stages"]["query"]
        assert (query["requests"], query["retries"], query["failed"]) == (4, retries, 0)
        assert query["prompt_tokens"] == sum(c.prompt_tokens for c in completions) > 0
        assert report["roles"]["generator"]["completion_tokens"] > 0

        # the same prompts again: all from the request cache, nothing reaches the proxy
        seen = proxy.seen
        again = llm.complete(PROMPTS, template_hash="t", stage="query")
        assert [c.text for c in again] == reference and all(c.cached for c in again)
        assert proxy.seen == seen
        llm.unload()


def test_step_under_faults_gives_no_row_none(llm_server, tmp_path):
    """A ReMixer LLM step through the faulty proxy: every row answered, none None."""
    rows = [
        {"query": prompt, "domain": "leetcode", "rejected_stage": None} for prompt in PROMPTS[:2]
    ]
    with FaultProxy(llm_server.url, ["truncate", "429"], retry_after_s=1) as proxy:
        llm = make_llm(
            llm_server, [proxy.url], tmp_path, load=False, max_new_tokens=6, timeout_s=120
        )
        step = GenerateReasoningQueries(
            name="reasoning",
            llm=llm,
            query_generation=QueryGenerationConfig(max_reasks=0),
            max_new_tokens=6,
        )
        step.load()
        out = next(step.process(rows))
        assert len(out) == 2
        for row in out:
            assert row is not None
            assert row["rejected_kind"] in (None, "quarantine")  # never deferred
            if row["rejected_kind"] is None:
                assert isinstance(row["reasoning_query"], str) and row["reasoning_query"]
            assert row["reasoning_attempts"] == 1 and row["reasoning_prompt_tokens"] > 0
        assert llm.transport_counts["retries"] >= 2
        llm.unload()


def test_failover_across_base_urls_and_deferral_when_all_fail(llm_server, reference, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    down = FaultProxy(llm_server.url, ["500"], spare_retries=False)
    with down as broken, FaultProxy(llm_server.url) as good:
        llm = make_llm(llm_server, [broken.url, dead, good.url], tmp_path, max_retries=1)
        completions = llm.complete(PROMPTS, template_hash="t", stage="annotation")
        assert [c.text for c in completions] == reference
        # round-robin start: 2 of 4 requests start on the broken server (1 try + 1 retry each),
        # 1 on the dead one; all end on the good one
        assert broken.counts["500"] >= 4 and good.counts["ok"] == len(PROMPTS)
        llm.unload()

    llm = make_llm(llm_server, [dead], tmp_path, max_retries=1)
    failed = llm.complete(["never answered"], template_hash="t", stage="annotation")
    assert failed[0].deferred.startswith("request failed on every server")
    assert llm.transport_counts["failed"] == 1
    # a failure is never cached: the next run asks again
    llm2 = make_llm(llm_server, [llm_server.url], tmp_path)
    assert not llm2.complete(["never answered"], template_hash="t")[0].cached
    llm.unload()
    llm2.unload()


def test_api_key_is_sent_but_never_written(llm_server, tmp_path, monkeypatch, caplog):
    secret = "sk-test-DO-NOT-LEAK-4242"
    monkeypatch.setenv("REASONEMBED_TEST_KEY", secret)
    monkeypatch.setenv("REASONEMBED_RUN_ID", "key-run")
    caplog.set_level(logging.DEBUG)
    with FaultProxy(llm_server.url, ["ok", "500"], expected_key=secret) as proxy:
        llm = make_llm(llm_server, [proxy.url], tmp_path, api_key_env="REASONEMBED_TEST_KEY")
        llm.complete(PROMPTS[:2], template_hash="t", stage="query")
        assert proxy.counts["auth_ok"] == proxy.seen >= 3 and proxy.counts["auth_bad"] == 0
        dumped = yaml.safe_dump(llm.dump())
        assert "REASONEMBED_TEST_KEY" in dumped and secret not in dumped
        assert secret not in caplog.text
        llm.unload()
    data = (tmp_path / "requests.sqlite").read_bytes()
    assert secret.encode() not in data
    with sqlite3.connect(tmp_path / "requests.sqlite") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

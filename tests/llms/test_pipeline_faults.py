"""`reasonembed generate` end to end with both LLM roles on the `openai` backend behind faulty
proxies (500, 429, a truncated answer): the generator is a real model (`transformers serve`),
the annotator the stand-in (a real server with deterministic scores, so samples are kept).
SIGKILL half-way, run again: every sample's query and reasoning query are answers the server
gave whole, no completed request is paid twice, every retry is in the usage ledger, the API key
is written nowhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from reasonembed.config import parse_config
from reasonembed.factory.run_state import start_llm_run, step_cache_folder
from reasonembed.llms.usage import usage_report
from tests.support.factory_inputs import DOCS, many_docs, tiny_config, write_corpus
from tests.support.fault_proxy import FaultProxy
from tests.support.standin_server import StandinServer

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-test-PIPELINE-SECRET-9876"
FAULTS = ("truncate", "500", "429")
# a fault for each of the first three first attempts of a run, then the rest forwarded (a
# retry always is: every request gets at most one fault)
PLAN = [*FAULTS, "ok"]
# 4 generator requests (a query and a reasoning query per seed; each costs seconds of a 135M
# model on CPU): run 1 finishes one before the kill (two at most), run 2 sends the rest (>= 2: a
# truncated answer and a 500 on the generator's side; the 20 annotation requests meet all three)
SEEDS = 2
# generator tokens: at 16 both seeds' queries came out the same (the model's stock opening), so
# run 2 asked one request less; at 32 they differ
MAX_NEW_TOKENS = 32
# candidates annotated per query: the stand-in scores 1-5 by a hash of the prompt, so a query is
# dropped (all positives or all negatives) with chance 0.6^10 + 0.4^10 < 1%
N_CANDIDATES = 10


def _generate(config_path: Path, output: Path, log: Path, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "REASONEMBED_RUN_ID": output.name,
        "REASONEMBED_TEST_KEY": SECRET,
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reasonembed.cli",
            "generate",
            str(config_path),
            "-o",
            str(output),
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=open(log, "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _role(base_url: str, model: str, **settings) -> dict:
    return {
        "backend": "openai",
        "model": model,
        "base_url": base_url,
        "api_key_env": "REASONEMBED_TEST_KEY",
        "top_k": None,
        "temperature": 0.0,
        "timeout_s": 120,
        **settings,
    }


def test_generate_under_faults_killed_and_resumed(llm_server, tmp_path):
    docs = [*DOCS, *many_docs(5)]  # 12: every query has N_CANDIDATES besides its source (+copy)
    corpus = write_corpus(tmp_path / "corpus", docs=docs)
    with (
        StandinServer() as standin,
        FaultProxy(llm_server.url, PLAN, retry_after_s=0.2, expected_key=SECRET) as proxy,
        FaultProxy(standin.url, PLAN, retry_after_s=0.2, expected_key=SECRET) as annotator_proxy,
    ):
        config = tiny_config(
            corpus,
            tmp_path / "cache",
            domains=[{"domain": "leetcode", "corpus": {"path": str(corpus)}, "max_seeds": SEEDS}],
            generator=_role(
                proxy.url,
                llm_server.model,
                max_new_tokens=MAX_NEW_TOKENS,
                batch_size=1,
                concurrency=1,
            ),
            annotator=_role(annotator_proxy.url, "standin", max_new_tokens=64, batch_size=8),
            mining={"search_top_k": len(docs), "n_candidates": N_CANDIDATES},
            annotation={"score_mode": "tag", "max_reasks": 0},
        )
        config_path = tmp_path / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))

        factory_config = parse_config(config)
        # what `generate` does around a run once it calls run_state (see the report)
        start_llm_run(factory_config)
        first = _generate(config_path, tmp_path / "out1", tmp_path / "run1.log")
        deadline = time.monotonic() + 600
        ledger = tmp_path / "cache" / "requests.sqlite"

        def run1_recorded() -> int:  # requests run 1 has in the usage ledger
            return usage_report(ledger, "out1")["total"].get("requests", 0)

        while (
            sum(proxy.completed_prompts.values()) < 1 or run1_recorded() < 1
        ) and time.monotonic() < deadline:
            assert first.poll() is None, (tmp_path / "run1.log").read_text()[-3000:]
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        run1_completed = set(proxy.completed_prompts)
        assert run1_completed

        proxy.reset()
        annotator_proxy.reset()
        # a SIGKILL can leave distilabel's cached pipeline.yaml truncated (every later run then
        # fails); start_llm_run sees the unfinished run and removes that step cache. Finished
        # requests still come from the request cache.
        _, step_cache_ok = start_llm_run(factory_config)
        assert not step_cache_ok and not step_cache_folder(factory_config).exists()
        second = _generate(config_path, tmp_path / "out", tmp_path / "run2.log", "--no-cache")
        assert second.wait(timeout=600) == 0, (tmp_path / "run2.log").read_text()[-3000:]
        # completed in run 1 => not sent again (at most the request in flight at the kill)
        assert len(set(proxy.received_prompts) & run1_completed) <= 1
        for role_proxy in (proxy, annotator_proxy):
            assert role_proxy.counts["auth_bad"] == 0 and role_proxy.counts["auth_ok"] > 0
        # run 2 met faults on both roles: a truncated answer and a 500 on the generator's, every
        # kind on the annotator's
        assert proxy.counts["truncate"] >= 1 and proxy.counts["500"] >= 1, proxy.counts
        assert all(annotator_proxy.counts[fault] >= 1 for fault in FAULTS), annotator_proxy.counts

    # every retry the proxies caused in run 2 is in the usage ledger; run 1's answers were free
    usage = usage_report(tmp_path / "cache" / "requests.sqlite", "out")
    for role, role_proxy in (("generator", proxy), ("annotator", annotator_proxy)):
        faults = sum(role_proxy.counts[fault] for fault in FAULTS)
        assert usage["roles"][role]["retries"] == faults, (role, usage["roles"])
    assert usage["roles"]["generator"]["cached"] >= 1 and usage["total"]["failed"] == 0

    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    # the killed run 1 paid for what run 2 took from the request cache: it is in the record
    killed = [run for run in stats["llm_usage"]["runs"] if run.get("finished") is False]
    assert [run["run_id"] for run in killed] == ["out1"], stats["llm_usage"]["runs"]
    assert killed[0]["total"]["requests"] >= 1
    assert [run["run_id"] for run in stats["llm_usage"]["runs"]] == ["out1", "out"]
    assert stats["llm_usage"]["total"]["requests"] == (
        killed[0]["total"]["requests"] + usage["total"]["requests"]
    )
    raw = pq.read_table(tmp_path / "out" / "raw").to_pylist()
    funnel = {stage["stage"]: stage["count"] for stage in stats["funnel"]}
    assert funnel["seeds"] == SEEDS
    # no fault lost a row: every query was mined and annotated in full
    queries = funnel["queries"]
    assert queries >= 1 and funnel["mined queries"] == funnel["annotated queries"] == queries
    assert stats["candidates"] == stats["judgements"] == queries * N_CANDIDATES
    assert stats["quarantined"] == {"queries": 0, "judgements": 0}
    assert raw and stats["samples"] == len(raw) == funnel["samples"]
    for sample in raw:  # every query is exactly an answer the server delivered whole
        assert sample["query"] in proxy.answers
        assert sample["reasoning_query"] in proxy.answers
        assert sample["generator_model"] == llm_server.model
        assert sample["sample_id"] is not None
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path

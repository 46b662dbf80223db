"""`reasonembed generate` end to end with the generator behind a faulty proxy (slow: a whole
distilabel pipeline, twice): SIGKILL half-way, run again; every sample's query is an answer the
server gave whole, no completed request is paid twice, the API key is written nowhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from reasonembed.config import parse_config
from reasonembed.factory.run_state import start_llm_run, step_cache_folder
from reasonembed.llms.usage import usage_report
from tests.support.factory_inputs import tiny_config, write_corpus
from tests.support.fault_proxy import FaultProxy

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-test-PIPELINE-SECRET-9876"


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


@pytest.mark.slow
def test_generate_under_faults_killed_and_resumed(llm_server, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    with FaultProxy(
        llm_server.url, ["500", "ok", "429", "truncate", "ok"], retry_after_s=1, expected_key=SECRET
    ) as proxy:
        config = tiny_config(
            corpus,
            tmp_path / "cache",
            domains=[{"domain": "leetcode", "corpus": {"path": str(corpus)}, "max_seeds": 3}],
            generator={
                "backend": "openai",
                "model": llm_server.model,
                "base_url": proxy.url,
                "api_key_env": "REASONEMBED_TEST_KEY",
                "top_k": None,
                "temperature": 0.0,
                "max_new_tokens": 32,
                "timeout_s": 120,
                "batch_size": 1,
                "concurrency": 1,
            },
        )
        config_path = tmp_path / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))

        factory_config = parse_config(config)
        # what `generate` does around a run once it calls run_state (see the report)
        start_llm_run(factory_config)
        first = _generate(config_path, tmp_path / "out1", tmp_path / "run1.log")
        deadline = time.monotonic() + 900
        while sum(proxy.completed_prompts.values()) < 1 and time.monotonic() < deadline:
            assert first.poll() is None, (tmp_path / "run1.log").read_text()[-3000:]
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        run1_completed = set(proxy.completed_prompts)
        assert run1_completed

        proxy.reset()
        # a SIGKILL can leave distilabel's cached pipeline.yaml truncated (every later run then
        # fails); start_llm_run sees the unfinished run and removes that step cache. Finished
        # requests still come from the request cache.
        _, step_cache_ok = start_llm_run(factory_config)
        assert not step_cache_ok and not step_cache_folder(factory_config).exists()
        second = _generate(config_path, tmp_path / "out", tmp_path / "run2.log", "--no-cache")
        assert second.wait(timeout=1800) in (0, 1), (tmp_path / "run2.log").read_text()[-3000:]
        # completed in run 1 => not sent again (at most the request in flight at the kill)
        assert len(set(proxy.received_prompts) & run1_completed) <= 1
        assert proxy.counts["auth_bad"] == 0

    # the retries the proxy caused in run 2 are in the usage ledger, and run 1's answers were free
    usage = usage_report(tmp_path / "cache" / "requests.sqlite", "out")
    faults = sum(proxy.counts[fault] for fault in ("500", "429", "truncate"))
    assert faults > 0 and usage["total"]["retries"] == faults
    assert usage["roles"]["generator"]["cached"] >= 1 and usage["total"]["failed"] == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    import pyarrow.parquet as pq

    raw = pq.read_table(tmp_path / "out" / "raw").to_pylist()
    assert raw
    for sample in raw:  # every query is exactly an answer the server delivered whole
        assert sample["query"] in proxy.answers
        assert sample["generator_model"] == llm_server.model
        assert all(value is not None for value in (sample["reasoning_query"], sample["sample_id"]))
    assert {"stage": "seeds", "count": 3} in stats["funnel"]
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path

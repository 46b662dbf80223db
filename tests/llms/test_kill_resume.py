"""SIGKILL half-way, run again: no request that completed is sent a second time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from reasonembed.llms.base import LEDGER_CHUNK
from reasonembed.llms.request_cache import RequestCache
from reasonembed.llms.usage import usage_report
from tests.llms.resume_worker import prompts
from tests.support.fault_proxy import FaultProxy
from tests.support.standin_server import StandinServer, standin_answer

REPO = Path(__file__).resolve().parents[2]
N = 6


def _worker(url: str, model: str, tmp_path: Path, n: int, *options: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.llms.resume_worker",
            url,
            model,
            str(tmp_path / "requests.sqlite"),
            str(tmp_path / "answers.json"),
            str(n),
            *map(str, options),
        ],
        cwd=REPO,
        env={**os.environ, "REASONEMBED_RUN_ID": "resume"},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_sigkill_half_way_then_rerun_pays_nothing_twice(llm_server, tmp_path):
    with FaultProxy(llm_server.url, ["ok", "500", "ok"]) as proxy:
        first = _worker(proxy.url, llm_server.model, tmp_path, N)
        done = []
        for line in first.stdout:
            done.append(int(line.split()[1]))
            if len(done) == N // 2:
                break
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        assert first.returncode == -signal.SIGKILL
        assert not (tmp_path / "answers.json").exists()
        finished = {prompts(N)[i] for i in done}
        run1_completed = set(proxy.completed_prompts)
        assert finished <= run1_completed

        proxy.reset()
        second = _worker(proxy.url, llm_server.model, tmp_path, N)
        second.communicate(timeout=300)
        assert second.returncode == 0
        answers = json.loads((tmp_path / "answers.json").read_text())
        assert len(answers) == N and all(answers)
        sent_again = set(proxy.received_prompts)
        # nothing that finished in run 1 is asked again; at most the one request that was in
        # flight at the kill (answered by the server, never stored by the client) is
        assert sent_again.isdisjoint(finished)
        assert len(sent_again & run1_completed) <= 1
        assert sent_again | finished == set(prompts(N))


def settled_answer_count(server, quiet_s: float = 0.3) -> int:
    """The server's answer count once it stops changing: requests it received before the kill
    are still answered (and counted) after it, into a closed connection."""
    count = server.stats()["answered"]
    while True:
        time.sleep(quiet_s)
        now = server.stats()["answered"]
        if now == count:
            return count
        count = now


def test_sigkill_inside_one_call_resends_at_most_concurrency(tmp_path):
    """One `complete` call of 200 prompts at concurrency 8, killed when about half are answered:
    each answer was committed as it arrived, so the resumed call re-sends at most the 8 that
    were in flight, and the answers equal an uninterrupted run's."""
    total, concurrency = 200, 8
    cache_file = tmp_path / "requests.sqlite"
    with StandinServer(delay_s=0.01) as server:
        first = _worker(server.url, "standin", tmp_path, total, concurrency, total)
        deadline = time.monotonic() + 120
        while server.stats()["answered"] < total // 2:
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.002)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        assert first.returncode == -signal.SIGKILL
        answered = settled_answer_count(server)
        assert answered < total  # killed inside the call
        committed = len(RequestCache(cache_file))
        assert answered - concurrency <= committed <= answered
        # the usage ledger kept the counts of all but the last unwritten chunk
        recorded = usage_report(cache_file, "resume")["total"].get("requests", 0)
        assert committed - LEDGER_CHUNK < recorded <= committed

        second = _worker(server.url, "standin", tmp_path, total, concurrency, total)
        second.communicate(timeout=300)
        assert second.returncode == 0
        stats = server.stats()
        assert stats["distinct"] == total
        assert stats["answered_twice"] <= concurrency
        assert stats["answered"] == answered + total - committed
    answers = json.loads((tmp_path / "answers.json").read_text())
    assert answers == [standin_answer(prompt) for prompt in prompts(total)]
    # run 2 recorded every request it sent
    assert usage_report(cache_file, "resume")["total"]["requests"] == recorded + total - committed

"""SIGKILL half-way, run again: no request that completed is sent a second time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.llms.fault_proxy import FaultProxy
from tests.llms.resume_worker import prompts

REPO = Path(__file__).resolve().parents[2]
N = 6


def _worker(proxy, llm_server, tmp_path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.llms.resume_worker",
            proxy.url,
            llm_server.model,
            str(tmp_path / "requests.sqlite"),
            str(tmp_path / "answers.json"),
            str(N),
        ],
        cwd=REPO,
        env={**os.environ, "REASONEMBED_RUN_ID": "resume"},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_sigkill_half_way_then_rerun_pays_nothing_twice(llm_server, tmp_path):
    with FaultProxy(llm_server.url, ["ok", "500", "ok"]) as proxy:
        first = _worker(proxy, llm_server, tmp_path)
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
        second = _worker(proxy, llm_server, tmp_path)
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

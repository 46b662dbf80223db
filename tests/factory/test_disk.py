"""`reasonembed generate` on disk: one copy of the data, and the faults at its edges.

Real runs of the command (a subprocess of the CLI, as a user runs it) against the stand-in
OpenAI-compatible server, with real mining: nothing is written under HOME, distilabel's step
outputs go after a complete run (kept with --keep-step-outputs), a full output or cache disk (a
small tmpfs the test mounts; skipped where it cannot) and Ctrl-C / SIGTERM each end with one
line, nothing staged left behind, and a next run that sends no request twice.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reasonembed.config import parse_config
from reasonembed.data.output_folder import OutputFolder
from reasonembed.factory.generate import generate
from reasonembed.factory.run_state import step_cache_folder
from tests.support.factory_inputs import env_with_home, many_docs, tiny_config, write_corpus
from tests.support.factory_output import write_output
from tests.support.standin_server import StandinServer
from tests.support.tmpfs import resize_tmpfs, small_tmpfs

REPO = Path(__file__).resolve().parents[2]
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def write_config(tmp_path: Path, server: StandinServer, seeds: int = 2, **role) -> dict:
    role = {"backend": "openai", "model": "standin", "base_url": server.url, **role}
    corpus = write_corpus(tmp_path, many_docs(seeds + 4)) if seeds > 2 else write_corpus(tmp_path)
    config = tiny_config(
        corpus,
        tmp_path / "cache",
        generator={"batch_size": 8, **role},
        annotator={"batch_size": 8, **role},
        mining={"search_top_k": 6, "n_candidates": 4},
        annotation={"score_mode": "tag", "max_reasks": 0},
    )
    config["domains"][0]["max_seeds"] = seeds
    (tmp_path / "config.yaml").write_text(json.dumps(config))
    return config


def cli(tmp_path: Path, output: Path, env: dict | None = None, background: bool = False):
    """`reasonembed generate tmp_path/config.yaml -o output`: finished, or started in a session
    of its own (a process group, as a terminal's foreground job) with stderr piped."""
    command = [sys.executable, "-m", "reasonembed.cli", "generate", str(tmp_path / "config.yaml")]
    command += ["-o", str(output)]
    env = {**(env if env is not None else os.environ), **OFFLINE}
    if background:
        return subprocess.Popen(
            command, cwd=REPO, env=env, text=True, stderr=subprocess.PIPE, start_new_session=True
        )
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def the_error_line(stderr: str) -> str:
    """The one ERROR line, last, with no traceback or ignored exception anywhere."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if " ERROR " in line]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr[-4000:]
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr[-4000:]
    return errors[0]


def test_a_run_writes_only_under_cache_dir_and_output(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with StandinServer() as server:
        config = parse_config(write_config(tmp_path, server))
        result = cli(tmp_path, tmp_path / "out", env=env_with_home(home))
        assert result.returncode == 0, result.stderr[-4000:]
        assert sorted(home.rglob("*")) == []  # no Distiset, no cache of any library
        assert not step_cache_folder(config).exists()  # removed after a complete run
        answered = server.stats()["answered"]

        # the re-run after the removal: every LLM answer comes from the request cache
        again = generate(config, tmp_path / "again", keep_step_outputs=True)
        assert server.stats()["answered"] == answered
        assert again.llm_usage["total"]["requests"] == 0, again.llm_usage
        assert again.llm_usage["total"]["cached"] == answered, again.llm_usage
    data = ["sample_id", "query", "reasoning_query", "candidates"]  # not the run's accounting
    first = pq.read_table(tmp_path / "out" / "raw", columns=data).to_pylist()
    assert pq.read_table(tmp_path / "again" / "raw", columns=data).to_pylist() == first
    kept = list(step_cache_folder(config).rglob("assemble_samples/*.parquet"))
    assert kept, "--keep-step-outputs kept nothing"


def test_a_quarantined_judgement_names_its_query_instead_of_repeating_it(tmp_path):
    folder = OutputFolder(write_output(tmp_path / "out"))  # one quarantined judgement a domain
    raw = pq.read_table(folder.subfolder("raw"), columns=["sample_id", "query"]).to_pylist()
    queries = {row["sample_id"]: row["query"] for row in raw}
    entries = pq.read_table(folder.quarantine_path).to_pylist()
    judgements = [
        json.loads(entry["payload"]) for entry in entries if entry["stage"] == "annotation"
    ]
    assert len(judgements) == 2
    for payload in judgements:
        assert payload["sample_id"] in queries  # the query, stored once, in raw
        assert payload["doc_id"] and payload["text"] and payload["relevance_analysis"]
        assert not {"query", "source_text", "reasoning_query", "candidates"} & set(payload)


def test_a_full_output_disk_is_one_line_and_leaves_nothing_staged(tmp_path):
    with StandinServer() as server, small_tmpfs(tmp_path / "disk", "2m") as disk:
        write_config(tmp_path, server)
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"x" * (free - 40 * 1024))  # the output needs ~100 kB
        result = cli(tmp_path, disk / "out")
        assert result.returncode == 1
        line = the_error_line(result.stderr)
        assert f"{disk / 'out'}: no space left on the device" in line and "free" in line
        assert sorted(path.name for path in disk.iterdir()) == ["filler"]  # nothing staged
        answered = server.stats()["answered"]

        again = cli(tmp_path, tmp_path / "out")  # the caches were left usable
        assert again.returncode == 0, again.stderr[-4000:]
        assert server.stats()["answered"] == answered  # no LLM request sent again
    assert OutputFolder(tmp_path / "out").stats.samples == 2


def test_a_full_cache_disk_is_one_line_and_the_next_run_continues(tmp_path):
    with StandinServer() as server, small_tmpfs(tmp_path / "disk", "4m") as disk:
        config = write_config(tmp_path, server)
        config["cache_dir"] = str(disk / "cache")
        (tmp_path / "config.yaml").write_text(json.dumps(config))
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"x" * (free - 300 * 1024))  # fills during the run
        result = cli(tmp_path, tmp_path / "out")
        assert result.returncode == 1
        line = the_error_line(result.stderr)
        assert f"{disk / 'cache'}: no space left on the device for the cache" in line
        assert not (tmp_path / "out").exists()

        answered = server.stats()["answered"]

        (disk / "filler").unlink()
        resize_tmpfs(disk, "64m")
        again = cli(tmp_path, tmp_path / "out")
        assert again.returncode == 0, again.stderr[-4000:]
        lost = server.stats()["answered_twice"]  # answers that arrived when the disk was full
    stats = OutputFolder(tmp_path / "out").stats
    assert stats.samples == 2
    # every answer the full disk did not lose was served by the request cache
    assert stats.llm_usage["total"]["cached"] == answered - lost


@pytest.mark.parametrize(
    ("signum", "status", "said"),
    [(signal.SIGINT, 130, "Ctrl-C (SIGINT)"), (signal.SIGTERM, 143, "SIGTERM")],
)
def test_a_signal_during_annotation_is_one_line_and_the_next_run_completes(
    tmp_path, signum, status, said
):
    # 12 queries x 4 candidates, one request at a time, each answered in 0.1 s: the signal comes
    # after the first judgement (distilabel stops once the steps finish the batches queued)
    with StandinServer(delay_s=0.1) as server:
        write_config(tmp_path, server, seeds=12, concurrency=1)
        process = cli(tmp_path, tmp_path / "out", background=True)
        deadline = time.monotonic() + 300
        while server.stats()["kinds"].get("annotation", 0) < 1:
            assert process.poll() is None and time.monotonic() < deadline, "no annotation"
            time.sleep(0.05)
        # Ctrl-C reaches the whole process group (as a terminal sends it); SIGTERM the command
        (os.killpg if signum == signal.SIGINT else os.kill)(process.pid, signum)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == status
        line = the_error_line(stderr)
        assert f"interrupted by {said}: LLM answers so far 12 of 12 queries" in line
        assert re.search(r"\b\d+ of 48 judgements; .* the same command continues", line), line
        assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
        answered = server.stats()["answered"]
        if signum == signal.SIGTERM:
            return
        again = cli(tmp_path, tmp_path / "out")
        assert again.returncode == 0, again.stderr[-4000:]
        assert server.stats()["answered_twice"] == 0  # the first run's answers were kept
    stats = OutputFolder(tmp_path / "out").stats
    assert stats.samples > 0 and stats.llm_usage["total"]["cached"] == answered

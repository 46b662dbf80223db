"""One run per cache_dir (`reasonembed.factory.cache_lock`): real holder processes, real signals, and two
real `reasonembed generate` commands on one cache against the stand-in server."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from reasonembed.config import parse_config
from reasonembed.factory.cache_lock import CacheBusy, Holder, hold_cache, lock_path, read_holder
from reasonembed.factory.generate import generate
from tests.support.cache_holder import holding_process
from tests.support.factory_inputs import tiny_config, write_corpus
from tests.support.standin_server import StandinServer


def _dead_holder_lock(cache_dir) -> int:
    """Leave the lock of a holder killed with SIGKILL (as `kill -9` of a run does); its PID."""
    with holding_process(cache_dir, "a killed run") as holder:
        holder.kill()
    return holder.pid


def test_a_second_holder_is_refused_naming_the_first_until_it_ends(tmp_path):
    with holding_process(tmp_path, "generate of tiny into /data/out") as holder:
        with pytest.raises(CacheBusy) as refused:
            with hold_cache(tmp_path, "second"):
                pytest.fail("a second holder got the cache")
        message = str(refused.value)
        assert "\n" not in message
        for part in ("generate of tiny into /data/out", socket.gethostname(), f"PID {holder.pid}"):
            assert part in message
        assert read_holder(tmp_path).started in message
        assert read_holder(tmp_path).pid == holder.pid  # the refusal left the lock alone
    assert not lock_path(tmp_path).exists()  # released when the holder's block ended
    with hold_cache(tmp_path, "third") as me:
        assert read_holder(tmp_path) == me
    assert not lock_path(tmp_path).exists()


@pytest.mark.parametrize("stop", [RuntimeError, KeyboardInterrupt])
def test_the_lock_is_released_when_the_block_raises(tmp_path, stop):
    with pytest.raises(stop):
        with hold_cache(tmp_path, "failing run"):
            raise stop()
    assert not lock_path(tmp_path).exists()


def test_ctrl_c_of_a_holder_releases_the_lock(tmp_path):
    with holding_process(tmp_path) as holder:
        holder.send_signal(signal.SIGINT)
        holder.wait(30)
    assert not lock_path(tmp_path).exists()


def test_a_lock_whose_process_is_gone_is_taken_over_with_one_line(tmp_path, caplog):
    dead = _dead_holder_lock(tmp_path)
    assert read_holder(tmp_path).pid == dead  # SIGKILL left the lock behind
    with caplog.at_level(logging.INFO, logger="reasonembed.factory.cache_lock"):
        with hold_cache(tmp_path, "next run") as me:
            assert read_holder(tmp_path) == me
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and "taking over" in lines[0] and f"PID {dead}" in lines[0]
    assert caplog.records[0].levelname == "WARNING"


def test_a_reused_pid_is_not_taken_for_the_holder(tmp_path):
    # the lock names this very PID, but a process that started at another tick: not us
    stale = Holder(socket.gethostname(), os.getpid(), "2020-01-01T00:00:00", "old", "boot:1")
    lock_path(tmp_path).write_text(json.dumps(stale.__dict__))
    with hold_cache(tmp_path, "new") as me:
        assert read_holder(tmp_path) == me


def test_a_lock_of_another_host_is_refused_naming_the_file_to_remove(tmp_path):
    other = Holder("node-7", 4242, "2026-01-01T10:00:00+00:00", "generate of x into /o")
    lock_path(tmp_path).write_text(json.dumps(other.__dict__))
    with pytest.raises(CacheBusy, match="on another host.*node-7.*PID 4242.*remove .*run.lock"):
        with hold_cache(tmp_path, "here"):
            pass
    lock_path(tmp_path).write_text("{not json")
    with pytest.raises(CacheBusy, match=r"not a readable run lock .* remove it"):
        with hold_cache(tmp_path, "here"):
            pass


def _contend(cache_dir, start, results) -> None:
    start.wait()
    try:
        with hold_cache(cache_dir, f"contender {os.getpid()}"):
            results.put("held")
            time.sleep(1.0)  # still holding while the others try
    except CacheBusy:
        results.put("refused")


@pytest.mark.parametrize("stale_lock", [False, True])
def test_of_runs_starting_at_once_exactly_one_gets_the_cache(tmp_path, stale_lock):
    if stale_lock:
        _dead_holder_lock(tmp_path)
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    contenders = [context.Process(target=_contend, args=(tmp_path, start, results)) for _ in "abcd"]
    for process in contenders:
        process.start()
    start.set()
    outcomes = sorted(results.get(timeout=60) for _ in contenders)
    for process in contenders:
        process.join(30)
    assert outcomes == ["held", "refused", "refused", "refused"]
    assert not lock_path(tmp_path).exists()


# --- two real `reasonembed generate` runs on one cache ------------------------------------
class ChatDelayServer(StandinServer):
    """The stand-in whose chat answers wait `chat_delay_s`; its other routes (the preflight's
    probe of /models) answer at once. `serve_connection` reads `delay_s` right after `route`."""

    chat_delay_s = 0.0

    def route(self, method, path, body):
        status, payload, prompt = super().route(method, path, body)
        self.delay_s = self.chat_delay_s if prompt is not None else 0.0
        return status, payload, prompt


def _raw(output) -> list[dict]:
    return sorted(pq.read_table(output / "raw").to_pylist(), key=lambda row: row["source_doc_id"])


def test_a_second_generate_on_a_held_cache_exits_in_one_line_before_any_request(tmp_path):
    with ChatDelayServer() as server:
        role = {"backend": "openai", "model": "standin", "base_url": server.url, "batch_size": 8}
        config = tiny_config(
            write_corpus(tmp_path),
            tmp_path / "cache",
            generator=role,
            annotator=role,
            mining={"search_top_k": 6, "n_candidates": 4},
            annotation={"score_mode": "tag", "max_reasks": 0},
        )
        config_file = tmp_path / "config.yaml"
        config_file.write_text(json.dumps(config))
        # the reference: the same config run alone; then its cache is gone
        generate(parse_config(config), tmp_path / "alone")
        alone = server.stats()
        shutil.rmtree(tmp_path / "cache")
        server.reset()
        dead = _dead_holder_lock(tmp_path / "cache")  # a killed run's lock: taken over

        command = [sys.executable, "-m", "reasonembed.cli", "generate", str(config_file), "-o"]
        server.chat_delay_s = (
            20.0  # the first run waits on its first answers while the second starts
        )
        with open(tmp_path / "first.log", "w") as log:
            first = subprocess.Popen([*command, str(tmp_path / "first")], stderr=log)
        try:
            deadline = time.monotonic() + 300
            while not server.bodies and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert server.bodies, "the first run sent no request"
            assert read_holder(tmp_path / "cache").pid == first.pid
            second = subprocess.run(
                [*command, str(tmp_path / "second")], capture_output=True, text=True, timeout=300
            )
        finally:
            server.chat_delay_s = 0.0
            first.wait(300)
        assert first.returncode == 0, (tmp_path / "first.log").read_text()
        first_stats = server.stats()

    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert second.returncode == 1 and len(lines) == 1, second.stderr
    for part in ("ERROR", "is in use by another run", f"PID {first.pid}", str(tmp_path / "first")):
        assert part in lines[0]
    assert not (tmp_path / "second").exists()
    # the first run's output is an uninterrupted run's, and every prompt was answered once: the
    # second run (same config, same prompts) sent no LLM request
    assert len(_raw(tmp_path / "alone")) == 2
    assert _raw(tmp_path / "first") == _raw(tmp_path / "alone")
    assert first_stats["answered"] == alone["answered"] and first_stats["answered_twice"] == 0
    taken_over = [
        line for line in (tmp_path / "first.log").read_text().splitlines() if "taking over" in line
    ]
    assert len(taken_over) == 1 and f"PID {dead}" in taken_over[0]
    assert not lock_path(tmp_path / "cache").exists()

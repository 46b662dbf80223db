"""The usage ledger moves while a `complete` call runs: each answer is counted about a second
after it arrives (what `generate`'s stage progress polls), in few rows, not one per request."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from reasonembed.factory.progress import StageProgress
from reasonembed.llms import base
from reasonembed.llms.base import Completion
from reasonembed.llms.openai_compat import OpenAICompatibleLLM
from reasonembed.llms.usage import RUN_ID_ENV
from tests.support.llms import ScriptedLLM
from tests.support.standin_server import StandinServer

STRAGGLER_S = 4.0


def test_answers_are_counted_while_a_straggler_holds_the_call(tmp_path, monkeypatch):
    """Seven answers arrive at once, the eighth STRAGGLER_S later: the poller sees the seven
    long before the call returns (before: nothing until the last answer)."""
    monkeypatch.setenv(RUN_ID_ENV, "moving")
    ledger = tmp_path / "requests.sqlite"
    prompts = [f"Write a question about topic {n}." for n in range(7)]
    prompts.append(f"Write a question about the slow topic [delay:{STRAGGLER_S}].")
    with StandinServer() as server:
        llm = OpenAICompatibleLLM(
            model="standin",
            base_urls=[server.url],
            concurrency=8,
            request_cache_path=str(ledger),
        )
        llm.load()
        seen: list[tuple[float, int]] = []
        call = threading.Thread(target=llm.complete, args=(prompts, "t"), kwargs={"stage": "query"})
        progress = StageProgress(ledger, "moving", {"query": len(prompts)})
        started = time.monotonic()
        call.start()
        while call.is_alive():
            seen.append((time.monotonic() - started, progress.done().get("query", 0)))
            time.sleep(0.1)
        call.join()
        llm.unload()
    during = [(at, count) for at, count in seen if at < STRAGGLER_S - 0.5]
    assert any(count == 7 for _, count in during), seen
    first_seven = min(at for at, count in seen if count == 7)
    assert first_seven < 2.5, seen  # answered at ~0 s, counted within about a second
    assert progress.done() == {"query": 8}


def test_a_busy_call_writes_few_ledger_rows(tmp_path, monkeypatch):
    """2,000 answers handed over one by one are written in chunks (at most LEDGER_CHUNK a row),
    and every one is counted."""
    monkeypatch.setenv(RUN_ID_ENV, "busy")
    ledger = tmp_path / "requests.sqlite"
    llm = ScriptedLLM(answers=lambda prompt: "ok", request_cache_path=str(ledger))
    llm.complete([f"prompt {n}" for n in range(2000)], template_hash="t", stage="annotation")
    with sqlite3.connect(ledger) as connection:
        rows, requests = connection.execute(
            "SELECT COUNT(*), SUM(requests) FROM usage WHERE run_id = 'busy'"
        ).fetchone()
    assert requests == 2000
    assert rows <= 2000 // base.LEDGER_CHUNK + 2


@pytest.mark.parametrize("burst", [1, 5])
def test_a_burst_is_written_by_the_timer_without_a_later_answer(tmp_path, monkeypatch, burst):
    """The first answer after a quiet second is written at once; the rest of its burst by the
    timer, about LEDGER_FLUSH_S later, though no other answer arrives to trigger a write."""
    monkeypatch.setenv(RUN_ID_ENV, "burst")
    ledger = tmp_path / "requests.sqlite"
    llm = ScriptedLLM(request_cache_path=str(ledger))
    llm._open_stores()
    chunks = base._LedgerChunks(llm, "query")
    for _ in range(burst):
        chunks.add(Completion("answer"))
    progress = StageProgress(ledger, "burst", {"query": burst})
    assert progress.done() == {"query": 1}
    time.sleep(base.LEDGER_FLUSH_S + 0.5)
    assert progress.done() == {"query": burst}
    chunks.flush(final=True)
    assert progress.done() == {"query": burst}

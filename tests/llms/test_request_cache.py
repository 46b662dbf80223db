"""The request cache is shared by processes and survives SIGKILL with no partial entry."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time

from reasonembed.llms.request_cache import RequestCache, request_key


def _text(key: str) -> str:
    return (key * 2000)[:100_000]  # 100 kB: a write that takes a while


def _writer(path: str, worker: int, count: int) -> None:
    cache = RequestCache(path)
    for index in range(count):
        key = f"w{worker}-{index}"
        cache.put(key, _text(key), index, worker)


def _endless_writer(path: str) -> None:
    cache = RequestCache(path)
    index = 0
    while True:
        key = f"k{index}"
        cache.put(key, _text(key), index, 1)
        index += 1


def test_request_key_covers_every_part():
    base = ("m", [{"role": "user", "content": "x"}], {"temperature": 0.7}, "h", 0)
    keys = {
        request_key(*base),
        request_key("m2", *base[1:]),
        request_key("m", [{"role": "user", "content": "y"}], *base[2:]),
        request_key("m", base[1], {"temperature": 0.1}, "h", 0),
        request_key(*base[:3], "h2", 0),
        request_key(*base[:4], 1),
    }
    assert len(keys) == 6
    assert request_key(*base) == request_key(*base)


def test_processes_share_one_cache(tmp_path):
    path = str(tmp_path / "requests.sqlite")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(path, w, 40)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    cache = RequestCache(path)
    assert len(cache) == 160
    for worker in range(4):
        for index in (0, 39):
            key = f"w{worker}-{index}"
            assert cache.get(key) == (_text(key), index, worker)


def test_sigkill_leaves_only_whole_entries(tmp_path):
    path = str(tmp_path / "requests.sqlite")
    context = multiprocessing.get_context("fork")
    process = context.Process(target=_endless_writer, args=(path,))
    process.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it is writing steadily
        if os.path.exists(path) and RequestCache(path).__len__() >= 20:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    assert process.exitcode == -signal.SIGKILL

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    cache = RequestCache(path)
    count = len(cache)
    assert count >= 20
    for index in range(count):  # entries are k0..k{count-1}, each whole
        key = f"k{index}"
        assert cache.get(key) == (_text(key), index, 1)
    assert cache.get(f"k{count}") is None
    cache.put("after", "still writable", 1, 1)
    assert cache.get("after") == ("still writable", 1, 1)


def test_a_file_made_before_the_model_stage_and_time_columns_is_upgraded_in_place(tmp_path):
    path = tmp_path / "requests.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE completions (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
        "prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL)"
    )
    old.execute("INSERT INTO completions VALUES ('old', 'kept', 3, 4)")
    old.commit()
    old.close()
    before = time.time()
    cache = RequestCache(path)
    RequestCache(path)  # a second opener finds the columns there
    cache.put("new", "fresh", 1, 2, model="OpenAICompatLLM:m", stage="query")
    assert cache.get("old") == ("kept", 3, 4)
    rows = dict(
        (row[0], row[1:])
        for row in cache._connection().execute("SELECT key, model, stage, at FROM completions")
    )
    assert rows["old"][:2] == (None, None) and rows["old"][2] >= before  # the upgrade time
    assert rows["new"][:2] == ("OpenAICompatLLM:m", "query") and rows["new"][2] >= rows["old"][2]

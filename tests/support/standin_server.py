"""An instant OpenAI-compatible stand-in server on 127.0.0.1, for tests and benchmarks.

Stdlib only (asyncio streams, HTTP/1.1 keep-alive), so it answers thousands of requests a second
and the client side is what gets measured. Routes:
  POST .../chat/completions  a deterministic answer to the last message (`standin_answer`), with
                             usage counts (about 4 characters a token)
  GET  .../models            the one model it pretends to serve
  GET  /health               {"ok": true}
  GET  /stats                what `stats()` returns
Answers depend only on the prompt: an annotation prompt (it asks for `<score>`) gets a short
analysis ending in `<score>N</score>`, N in 1..5 from a hash of the prompt; a yes/no question
(the domain filter) gets "yes"; anything else gets a question built from words of the prompt's
hash (a generated query). `think=True` puts a `<think>...</think>` block before every answer.
Every answer waits `delay_s`; a prompt containing `[delay:S]` waits S seconds more (a straggler).

It counts what it answered: `answered` (sha1 of the prompt -> times answered), so a test can
assert "answered twice"; `bodies` keeps the last `keep_bodies` request bodies (parsed JSON).

    with StandinServer() as server:          # in this process (a thread with its own loop)
        server.url, server.stats(), server.answered
    with StandinProcess() as server:         # in a child process (benchmarks: no shared GIL)
        server.url, server.stats()
    python -m tests.support.standin_server [--port 0] [--delay-s 0] [--think]   # prints its URL
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, deque
from pathlib import Path
from typing import Any

MODEL = "standin"
WORDS = (
    "heap graph prime matrix tensor entropy lattice queue hash vector proof integral torque "
    "enzyme tariff climate neuron sensor compiler closure monad fiber orbit catalyst ledger"
).split()
REPO = Path(__file__).resolve().parents[2]
DELAY = re.compile(r"\[delay:([0-9.]+)\]")


def standin_score(prompt: str) -> int:
    return 1 + hashlib.sha256(prompt.encode()).digest()[0] % 5


def prompt_kind(prompt: str) -> str:
    """ "annotation" (asks for `<score>`), "filter" (a yes/no question) or "other"."""
    if "<score>" in prompt:
        return "annotation"
    return "filter" if "yes or no" in prompt.lower() else "other"


def standin_answer(prompt: str) -> str:
    """The answer the stand-in gives to `prompt` (a pure function of it)."""
    digest = hashlib.sha256(prompt.encode()).digest()
    kind = prompt_kind(prompt)
    if kind == "annotation":
        return (
            "Query analysis: the query needs a specific concept. Document analysis: the "
            f"document covers part of it. <score>{standin_score(prompt)}</score>"
        )
    if kind == "filter":
        return "yes"
    words = [WORDS[byte % len(WORDS)] for byte in digest[:8]]
    return f"How does the {words[0]} {words[1]} relate to {' '.join(words[2:])} in practice?"


class _Handler:
    """The HTTP side shared by the in-process and the child-process server."""

    def __init__(self, delay_s: float = 0.0, think: bool = False, keep_bodies: int = 100) -> None:
        self.delay_s = delay_s
        self.think = think
        self.lock = threading.Lock()
        self.answered: Counter = Counter()
        self.kinds: Counter = Counter()  # answers per `prompt_kind`
        self.requests = 0
        self.connections = 0  # TCP connections accepted
        self.bodies: deque[dict] = deque(maxlen=keep_bodies)

    def stats(self) -> dict[str, Any]:
        """`requests` received, `answered` (chat answers written), `distinct` prompts answered,
        `answered_twice` (answers beyond the first per prompt), `kinds` (answers per kind),
        `connections` (TCP connections accepted)."""
        with self.lock:
            answered = sum(self.answered.values())
            return {
                "requests": self.requests,
                "answered": answered,
                "distinct": len(self.answered),
                "answered_twice": answered - len(self.answered),
                "kinds": dict(self.kinds),
                "connections": self.connections,
            }

    def reset(self) -> None:
        with self.lock:
            self.answered.clear()
            self.kinds.clear()
            self.bodies.clear()
            self.requests = self.connections = 0

    def _chat(self, body: bytes) -> tuple[bytes, str]:
        request = json.loads(body)
        with self.lock:
            self.bodies.append(request)
        prompt = request["messages"][-1]["content"]
        answer = standin_answer(prompt)
        if self.think:
            answer = (
                f"<think>The user asks about {len(prompt)} characters of text.</think>\n{answer}"
            )
        payload = {
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "created": 0,
            "model": request.get("model", MODEL),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": len(prompt) // 4 + 1,
                "completion_tokens": len(answer) // 4 + 1,
                "total_tokens": (len(prompt) + len(answer)) // 4 + 2,
            },
        }
        return json.dumps(payload).encode(), prompt

    def route(self, method: bytes, path: bytes, body: bytes) -> tuple[int, bytes, str | None]:
        """(status, JSON payload, the prompt answered or None)."""
        path = path.split(b"?", 1)[0]
        if method == b"POST" and path.endswith(b"/chat/completions"):
            payload, prompt = self._chat(body)
            return 200, payload, prompt
        if method == b"GET" and path.endswith(b"/models"):
            return 200, json.dumps({"object": "list", "data": [{"id": MODEL}]}).encode(), None
        if method == b"GET" and path == b"/health":
            return 200, b'{"ok": true}', None
        if method == b"GET" and path == b"/stats":
            return 200, json.dumps(self.stats()).encode(), None
        return 404, b'{"error": {"message": "not found"}}', None

    async def serve_connection(self, reader, writer) -> None:
        with self.lock:
            self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method, path, _ = lines[0].split(b" ", 2)
                length = 0
                for line in lines[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length) if length else b""
                with self.lock:
                    self.requests += 1
                status, payload, prompt = self.route(method, path, body)
                delay = self.delay_s
                if prompt is not None and "[delay:" in prompt:
                    delay += float(DELAY.search(prompt).group(1))
                if delay:
                    await asyncio.sleep(delay)
                if prompt is not None:  # counted before it is sent: a client that has the
                    with self.lock:  # answer always finds it counted
                        self.answered[hashlib.sha1(prompt.encode()).digest()] += 1
                        self.kinds[prompt_kind(prompt)] += 1
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n"
                    % (status, b"OK" if status == 200 else b"Not Found", len(payload))
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


class StandinServer(_Handler):
    """The stand-in in a daemon thread of this process (its own event loop)."""

    def __init__(self, delay_s: float = 0.0, think: bool = False, port: int = 0, **kw) -> None:
        super().__init__(delay_s=delay_s, think=think, **kw)
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self.serve_connection, "127.0.0.1", self.port, backlog=1024)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _shutdown(self) -> None:
        """Stop listening, end open connections, stop the loop."""
        self._server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> StandinServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        self._thread.join(10)


def fetch_stats(url: str) -> dict[str, Any]:
    """The /stats of a stand-in at `url` (its .../v1 URL)."""
    root = url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/stats", timeout=10) as response:
        return json.loads(response.read())


class StandinProcess:
    """The stand-in in a child process (`python -m tests.support.standin_server`)."""

    def __init__(self, delay_s: float = 0.0, think: bool = False) -> None:
        self.args = ["--delay-s", str(delay_s)] + (["--think"] if think else [])
        self.process: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> StandinProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.standin_server", *self.args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"the stand-in server did not start (said {self.url!r})")
        return self

    def stats(self) -> dict[str, Any]:
        return fetch_stats(self.url)

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-s", type=float, default=0.0)
    parser.add_argument("--think", action="store_true")
    args = parser.parse_args()
    with StandinServer(delay_s=args.delay_s, think=args.think, port=args.port) as server:
        print(server.url, flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()

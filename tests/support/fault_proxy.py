"""A fault-injecting HTTP proxy for OpenAI-compatible servers, and a `transformers serve` runner.

`FaultProxy(upstream, plan)` listens on 127.0.0.1 and forwards each request to `upstream`,
except that the n-th FIRST attempt of a request (the `openai` client's `x-stainless-retry-count`
header is 0) gets `plan[n % len(plan)]`; retries are forwarded, so every request gets at most
one fault and a run under faults always finishes (`spare_retries=False`: the plan applies to
every attempt, e.g. ["500"] for a server that is down):
  "ok"       forwarded as is
  "500"      HTTP 500, not forwarded
  "429"      HTTP 429 with `Retry-After: <retry_after_s>`, not forwarded
  "stall"    no answer for `stall_s` seconds (longer than the client's timeout), then the
             connection is closed
  "truncate" forwarded, but the body is cut in half and the connection closed (a dropped
             connection in the middle of the answer)
It counts what it saw: `counts` per outcome, `completed` (sha256 of each request body that got a
whole 200 answer, with multiplicity), `received_prompts` / `completed_prompts` (the same by
the last message's text), `answers` (every answer text delivered whole), `auth_ok` / `auth_bad` (whether the Authorization header
held the expected key; the key itself is never stored).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _last_message(body: bytes) -> str:
    try:
        return json.loads(body)["messages"][-1]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def _answer(data: bytes) -> str:
    try:
        return json.loads(data)["choices"][0]["message"]["content"].strip()
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        plan: list[str] | None = None,
        retry_after_s: float = 1.0,
        stall_s: float = 4.0,
        expected_key: str | None = None,
        spare_retries: bool = True,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.plan = plan or ["ok"]
        self.retry_after_s = retry_after_s
        self.stall_s = stall_s
        self.expected_key = expected_key
        self.spare_retries = spare_retries
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.completed: Counter = Counter()
        self.received_prompts: Counter = Counter()
        self.completed_prompts: Counter = Counter()
        self.answers: set[str] = set()  # every answer text delivered whole (kept across resets)
        self.seen = 0
        self.first_attempts = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                proxy._forward(self, b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy._handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self, plan: list[str] | None = None) -> None:
        with self.lock:
            self.counts, self.completed = Counter(), Counter()
            self.received_prompts, self.completed_prompts = Counter(), Counter()
            self.seen = self.first_attempts = 0
            if plan is not None:
                self.plan = plan

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if self.expected_key is not None:
            ok = handler.headers.get("Authorization") == f"Bearer {self.expected_key}"
            with self.lock:
                self.counts["auth_ok" if ok else "auth_bad"] += 1
        retry = (
            self.spare_retries and int(handler.headers.get("x-stainless-retry-count", "0") or 0) > 0
        )
        prompt = _last_message(body)
        with self.lock:
            self.received_prompts[prompt] += 1
            fault = "ok" if retry else self.plan[self.first_attempts % len(self.plan)]
            self.first_attempts += 0 if retry else 1
            self.seen += 1
            self.counts[fault] += 1
        if fault == "500":
            self._reply(handler, 500, b'{"error": {"message": "injected 500"}}')
        elif fault == "429":
            self._reply(
                handler,
                429,
                b'{"error": {"message": "injected 429"}}',
                {"Retry-After": str(self.retry_after_s)},
            )
        elif fault == "stall":
            time.sleep(self.stall_s)
            handler.close_connection = True
        else:
            status, headers, data = self._upstream(handler, body)
            if fault == "truncate":
                handler.send_response(status)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                handler.wfile.write(data[: len(data) // 2])
                handler.wfile.flush()
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            self._reply(handler, status, data)
            if status == 200:
                with self.lock:
                    self.completed[hashlib.sha256(body).hexdigest()] += 1
                    self.completed_prompts[prompt] += 1
                    self.answers.add(_answer(data))

    def _upstream(self, handler: BaseHTTPRequestHandler, body: bytes):
        connection = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=600
        )
        path = self.upstream.path.rstrip("/") + handler.path.removeprefix("/v1")
        connection.request(
            handler.command, path, body=body or None, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, dict(response.getheaders()), data

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        status, _, data = self._upstream(handler, body)
        self._reply(handler, status, data)

    @staticmethod
    def _reply(handler, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


class TransformersServer:
    """`transformers serve MODEL_DIR` on 127.0.0.1 (CPU, one thread per op: on a small shared
    machine more threads make every request many times slower)."""

    def __init__(self, model_dir: Path, hub_cache: Path, log_path: Path) -> None:
        self.model_dir = model_dir
        self.port = free_port()
        hub_cache.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "HF_HUB_CACHE": str(hub_cache),
            "OMP_NUM_THREADS": "1",
        }
        self.log = open(log_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "transformers"),
                "serve",
                str(model_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--device",
                "cpu",
                "--dtype",
                "float32",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model(self) -> str:
        """The model id the server answers to (it is pinned to the folder it serves)."""
        return str(self.model_dir)

    def wait(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.process.returncode}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError("transformers serve did not come up")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

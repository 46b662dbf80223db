"""The HTTP plumbing of the loopback Hub's request handler (routes: `hub_routes`).

HTTP/1.1 with keep-alive: request bodies are read as chunks (Content-Length or chunked transfer
encoding), replies are JSON (or raw bytes), requests are dispatched over the subclass's
`routes` table of (method, path regex, method name) and logged in `hub.request_log`; a
`HubError` becomes its status with `X-Error-Message` / `X-Error-Code` headers, the rest of the
body being drained so the connection stays usable. `authorized`: the request carries the
server's token (every request is when the server has none).
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.hub_store import HubError, Repo

if TYPE_CHECKING:
    from tests.support.hub_server import HubServer

COPY_CHUNK = 1024 * 1024


class HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: HubServer
    routes: list[tuple[str, str, str]] = []

    def log_message(self, format, *args):  # quiet: tests read request_log instead
        pass

    @property
    def authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        ok = self.hub.token is None or header == f"Bearer {self.hub.token}"
        if ok and header:
            self.hub.authorized_requests += 1
        return ok

    def require_auth(self) -> None:
        if not self.authorized:
            raise HubError(401, "Invalid credentials in Authorization header", None)

    def body_chunks(self):
        """The request body as chunks (Content-Length or chunked transfer encoding), read once."""
        if getattr(self, "_body_read", False):
            return
        self._body_read = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                remaining = size
                while remaining:
                    chunk = self.rfile.read(min(remaining, COPY_CHUNK))
                    remaining -= len(chunk)
                    yield chunk
                self.rfile.readline()
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, COPY_CHUNK))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    def body(self) -> bytes:
        return b"".join(self.body_chunks())

    def json_body(self):
        data = self.body()
        if not data:
            return {}
        if "application/x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            return {k: v if len(v) > 1 else v[0] for k, v in parse_qs(data.decode()).items()}
        return json.loads(data)

    def send(
        self, status: int, payload=None, headers: dict | None = None, raw: bytes | None = None
    ):
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        content_type = "application/octet-stream" if raw is not None else "application/json"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def dispatch(self) -> None:
        self._body_read = False
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.base_url = f"http://{self.headers.get('Host', '127.0.0.1')}"
        with self.hub.lock:
            self.hub.request_log.append((self.command, url.path))
        try:
            for method, pattern, name in self.routes:
                if method == self.command or (method == "GET" and self.command == "HEAD"):
                    match = re.fullmatch(pattern, url.path)
                    if match:
                        getattr(self, name)(**match.groupdict())
                        return
            raise HubError(404, f"no route for {self.command} {url.path}")
        except HubError as error:
            # drain what the client still sends, so the connection stays usable
            for _ in self.body_chunks():
                pass
            headers = {"X-Error-Message": error.message}
            if error.code:
                headers["X-Error-Code"] = error.code
            self.send(error.status, {"error": error.message}, headers)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = dispatch

    def repo(self, type: str, repo: str) -> Repo:
        return self.hub.get_repo(type.rstrip("s"), unquote(repo), self.authorized)

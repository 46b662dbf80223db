"""A Hub-API-compatible HTTP server on 127.0.0.1, for tests and benchmarks (the routes
huggingface_hub and datasets call).

`HubServer` is the storage model (`hub_store`: repos, atomic commits, tags, blobs, fault
switches) served over HTTP by `hub_routes` in a background thread. It records `request_log`
((method, path) of every request) and `authorized_requests` (requests that carried the token).

Use in-process (`with HubServer(token=...) as server: server.url`), through the `hub_server`
fixture of tests/conftest.py (`point_clients_at` points huggingface_hub and datasets at it), or
as a separate process: `python -m tests.support.hub_server --storage DIR --token T` prints
`PORT` on its first line.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from tests.support.hub_routes import HubHandler
from tests.support.hub_store import HubStore


class HubServer(HubStore):
    """The loopback Hub: state, blob store and HTTP front end. Thread-safe."""

    def __init__(
        self, token: str | None = "hf_loopback_test_token", storage: str | Path | None = None
    ):
        self._tmp = None if storage else tempfile.TemporaryDirectory(prefix="hub-server-")
        super().__init__(Path(storage or self._tmp.name))
        self.token = token
        self.authorized_requests = 0
        self.request_log: list[tuple[str, str]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self, port: int = 0) -> HubServer:
        handler = type("Handler", (HubHandler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def point_clients_at(url: str, token: str | None, cache_dir: Path, monkeypatch) -> None:
    """Point huggingface_hub and datasets (already imported or not) at the loopback Hub.

    Both libraries read HF_ENDPOINT, HF_HUB_OFFLINE and HF_HUB_DISABLE_XET into module constants
    at import time, so the environment alone is not enough once they are imported: patch both.
    """
    import datasets.config
    import huggingface_hub.constants as constants

    env = {
        "HF_ENDPOINT": url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HOME": str(cache_dir / "hf_home"),
        "HF_HUB_CACHE": str(cache_dir / "hub"),
        "HF_DATASETS_CACHE": str(cache_dir / "datasets"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if token is not None:
        monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir / "hub"))
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", url)
    monkeypatch.setattr(
        datasets.config, "HUB_DATASETS_URL", url + "/datasets/{repo_id}/resolve/{revision}/{path}"
    )
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache_dir / "datasets")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--token", default="hf_loopback_test_token")
    args = parser.parse_args()
    server = HubServer(token=args.token, storage=args.storage).start(args.port)
    print(server.url.rsplit(":", 1)[1], flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()

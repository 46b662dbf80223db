"""Session fixtures: the bundled model folder and one real `transformers serve` on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from reasonembed.llms.local_model import ensure_local_model
from tests.support.fault_proxy import TransformersServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def local_model_dir() -> Path:
    return ensure_local_model(REPO / ".cache" / "reasonembed").resolve()


@pytest.fixture(scope="session")
def llm_server(local_model_dir, tmp_path_factory):
    for module in ("fastapi", "uvicorn"):  # transformers serve's own dependencies (test extra)
        pytest.importorskip(module, reason="transformers serve needs fastapi and uvicorn")
    folder = tmp_path_factory.mktemp("transformers_serve")
    server = TransformersServer(local_model_dir, folder / "hub", folder / "serve.log")
    try:
        server.wait()
        yield server
    finally:
        server.stop()

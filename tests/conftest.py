"""Fixtures shared by every test package."""

from __future__ import annotations

import os

import pytest

from tests.support.hub_server import HubServer, point_clients_at


@pytest.fixture
def hub_server(tmp_path, monkeypatch):
    """A started loopback `HubServer` with every Hub client pointed at it and HF_TOKEN set to its
    token (a fresh secret per test, so tests can grep uploads and logs for it)."""
    with HubServer(
        token="hf_loopbackSECRET" + os.urandom(8).hex(), storage=tmp_path / "hub-storage"
    ) as server:
        point_clients_at(server.url, server.token, tmp_path / "hf-cache", monkeypatch)
        yield server

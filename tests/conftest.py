"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import signal

import pytest

from tests.support.hub_server import HubServer, point_clients_at

# A test run started in the background by a non-interactive shell (`make test &`, nohup, some CI
# runners) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler, in
# this process or in the commands the tests start: every Ctrl-C test would see its signal
# ignored. Ctrl-C is what those tests are about, so it is made to mean Ctrl-C again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items):
    """Tests marked `ray_driver` run last. They make this process a Ray driver, whose threads
    stay after the cluster is gone, and a distilabel step pool forked from it afterwards can
    deadlock at start (seen: `generate` tests after the Ray tests waited until the timeout,
    their forked step processes blocked on a lock)."""
    items.sort(key=lambda item: item.get_closest_marker("ray_driver") is not None)


@pytest.fixture
def hub_server(tmp_path, monkeypatch):
    """A started loopback `HubServer` with every Hub client pointed at it and HF_TOKEN set to its
    token (a fresh secret per test, so tests can grep uploads and logs for it)."""
    with HubServer(
        token="hf_loopbackSECRET" + os.urandom(8).hex(), storage=tmp_path / "hub-storage"
    ) as server:
        point_clients_at(server.url, server.token, tmp_path / "hf-cache", monkeypatch)
        yield server

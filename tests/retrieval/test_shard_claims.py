"""The claim file's branching, on crafted claim files (`reasonembed.retrieval.shard_claims`)."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from reasonembed.retrieval.cache import EmbeddingCache
from reasonembed.retrieval.corpus_store import Shard
from reasonembed.retrieval.shard_claims import ShardClaims, claim_paths, pid_alive
from reasonembed.retrieval.sharded import encode_missing


def _craft(target, generation, host, pid):
    path = target.with_name(f"{target.stem}.claim-{generation}")
    path.write_text(json.dumps({"host": host, "pid": pid, "started": time.time()}))
    return path


@pytest.fixture
def target(tmp_path):
    return tmp_path / "docs-abc.npy"


@pytest.fixture
def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def live_pid():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait()


def test_fresh_claim_records_its_owner_and_is_removed_on_release(target):
    claims = ShardClaims()
    claim = claims.claim(target)
    assert claim is not None and claim.generation == 0
    record = json.loads(claim.path.read_text())
    assert claim.path.name == "docs-abc.claim-0"
    assert record["host"] == socket.gethostname() and record["pid"] == os.getpid()
    assert abs(record["started"] - time.time()) < 60
    assert ShardClaims().claim(target) is None  # held by a live process: this one
    with claim:
        pass
    assert claim_paths(target) == {}  # released unwritten: free for anyone
    assert ShardClaims().claim(target).generation == 0


def test_live_claim_of_another_process_is_waited_for(target, live_pid):
    _craft(target, 0, socket.gethostname(), live_pid)
    claims = ShardClaims(stale_after_s=60)
    assert not claims.is_stale(target.with_name("docs-abc.claim-0"))
    assert claims.claim(target) is None
    assert list(claim_paths(target)) == [0]


def test_claim_of_a_dead_process_on_this_host_is_taken_over_once(target, dead_pid):
    _craft(target, 0, socket.gethostname(), dead_pid)
    first, second = ShardClaims(stale_after_s=60), ShardClaims(stale_after_s=60)
    assert first.is_stale(target.with_name("docs-abc.claim-0"))
    claim = first.claim(target)
    assert claim is not None and claim.generation == 1
    assert second.claim(target) is None  # generation 1 is live (this process): the race is lost
    target.write_bytes(b"written")
    with claim:
        pass
    assert claim_paths(target) == {}  # written: every generation removed


def test_zombie_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while pid_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child.pid)  # exited, not yet reaped: a zombie
    child.wait()
    assert pid_alive(os.getpid())


def test_claim_from_another_host_is_stale_once_its_heartbeat_stops(target):
    path = _craft(target, 0, "another-host", 1)  # pid 1 lives here: the host decides, not the pid
    claims = ShardClaims(stale_after_s=0.6, poll_s=0.05)
    assert not claims.is_stale(path)  # first seen: its heartbeat is timed from now
    time.sleep(0.4)
    os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns + 1))  # a heartbeat
    assert not claims.is_stale(path)
    time.sleep(0.3)
    assert not claims.is_stale(path)  # 0.3 s since the heartbeat was seen to move
    time.sleep(0.4)
    assert claims.is_stale(path)
    assert claims.claim(target).generation == 1


def test_unreadable_claim_only_goes_stale_by_heartbeat(target):
    path = target.with_name("docs-abc.claim-0")
    path.write_text("")  # created, not yet written
    claims = ShardClaims(stale_after_s=0.2)
    assert not claims.is_stale(path)
    time.sleep(0.25)
    assert claims.is_stale(path)


def test_held_claim_heartbeats(target):
    claim = ShardClaims(stale_after_s=0.2).claim(target)  # heartbeat every 0.05 s
    before = claim.path.stat().st_mtime_ns
    with claim:
        time.sleep(0.3)
        assert claim.path.stat().st_mtime_ns > before
    assert not claim.path.exists()


def test_settings_must_be_positive():
    with pytest.raises(ValueError, match="stale_after_s 0"):
        ShardClaims(stale_after_s=0)


def test_waiting_replica_takes_what_others_write(tmp_path, live_pid):
    """Shards claimed by a live replica are waited for, not encoded; the claims it left are
    removed once the shard file is there."""
    cache = EmbeddingCache(tmp_path, "model")
    shards = [Shard(0, 2, "one"), Shard(2, 4, "two"), Shard(4, 6, "three")]
    _craft(cache.docs_path("two"), 0, socket.gethostname(), live_pid)
    encoded = []

    def encode(shard):
        encoded.append(shard.key)
        return np.full((shard.size, 4), shard.start, dtype=np.float32)

    cache.save_docs("three", np.zeros((2, 4)))
    writer = threading.Timer(0.3, cache.save_docs, ("two", np.ones((2, 4))))
    writer.start()
    report = encode_missing(shards, encode, cache, ShardClaims(stale_after_s=60, poll_s=0.05))
    writer.join()
    assert encoded == ["one"]
    assert report.encoded == [shards[0]] and report.by_others == [shards[1]]
    assert report.cached == [shards[2]] and report.taken_over == []
    assert report.documents_encoded == 2 and report.documents_reused == 4
    assert claim_paths(cache.docs_path("two")) == {}
    np.testing.assert_array_equal(cache.load_docs("two"), np.ones((2, 4)))

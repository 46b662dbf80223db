"""Replicas sharing one embedding cache split a corpus's shards: real processes, real model."""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from reasonembed.retrieval.cache import EmbeddingCache
from reasonembed.retrieval.corpus_store import CorpusStore
from reasonembed.retrieval.shard_claims import claim_paths
from reasonembed.retrieval.sharded import encode_corpus

REPO = Path(__file__).resolve().parents[2]
SHARD_DOCS = 6
TOPICS = ["heaps", "graphs", "tries", "hashing", "sorting", "queues", "stacks"]
DOCUMENTS = [
    (f"d{i}", f"note {i}: {TOPICS[i % 7]} beat {TOPICS[i * 3 % 7]} in case {i}") for i in range(60)
]
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}

# A replica: writes the corpus store, builds its encoder (a real one, or one that blocks forever
# once it holds a claim), waits for "go", encodes with the others, logging every shard it
# encodes; after its first shard it waits (up to 60 s) until another replica has started one.
REPLICA = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from reasonembed.retrieval.cache import EmbeddingCache
    from reasonembed.retrieval.corpus_store import CorpusStore
    from reasonembed.retrieval.sharded import encode_corpus

    folder, name, fingerprint = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    documents = [tuple(pair) for pair in json.loads((folder / "documents.json").read_text())]
    store = CorpusStore.write(iter(documents), folder / "corpora", shard_docs=int(sys.argv[4]))
    if name == "blocked":
        inner = None
    else:
        import torch
        torch.set_num_threads(1)
        from reasonembed.retrieval import Encoder
        inner = Encoder(model_name_or_path="minilm")
        fingerprint = inner.fingerprint

    class Logged:
        fingerprint, dim, count = fingerprint, 384, 0

        def encode(self, texts, batch_size):
            log = folder / "encodes.log"
            deadline = time.monotonic() + 60
            while self.count and time.monotonic() < deadline and not others_started(log):
                time.sleep(0.02)  # both replicas get work, however the machine schedules them
            self.count += 1
            with open(log, "a") as stream:
                stream.write(json.dumps([name, texts[0]]) + "\\n")
            if inner is None:
                time.sleep(600)  # holds its claim until killed
            return inner.encode(texts, batch_size=batch_size)

    def others_started(log):
        return any(json.loads(line)[0] != name for line in log.read_text().splitlines())

    (folder / f"ready-{name}").touch()
    while not (folder / "go").exists():
        time.sleep(0.02)
    cache = EmbeddingCache(folder / "emb", fingerprint)
    report = encode_corpus(store, Logged(), cache, batch_size=8, poll_s=0.05)
    print(json.dumps({kind: [shard.key for shard in getattr(report, kind)]
                      for kind in ("encoded", "by_others", "taken_over", "cached")}))
    """
)


def _start(folder: Path, name: str, fingerprint: str = "") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", REPLICA, str(folder), name, fingerprint, str(SHARD_DOCS)],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, timeout: float, what: str, children=()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for child in children:
            assert child.poll() is None, f"{what}: a replica exited: {child.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _encodes(folder: Path) -> list[tuple[str, int]]:
    """(replica, shard number) per encoding logged by the replicas."""
    first_rows = {text: row for row, (_, text) in enumerate(DOCUMENTS)}
    lines = (folder / "encodes.log").read_text().splitlines()
    return [(name, first_rows[text] // SHARD_DOCS) for name, text in map(json.loads, lines)]


@pytest.fixture(scope="module")
def minilm():
    import torch

    from reasonembed.retrieval import Encoder

    torch.set_num_threads(1)
    return Encoder(model_name_or_path="minilm")


@pytest.fixture
def shared(tmp_path):
    (tmp_path / "documents.json").write_text(json.dumps(DOCUMENTS))
    return tmp_path


def test_two_processes_encode_each_shard_once_and_match_one_process(shared, minilm):
    replicas = [_start(shared, name) for name in ("first", "second")]
    try:
        ready = lambda: all((shared / f"ready-{name}").exists() for name in ("first", "second"))  # noqa: E731
        _wait_for(ready, 180, "both replicas ready", replicas)
        (shared / "go").touch()
        reports = [json.loads(child.communicate(timeout=180)[0]) for child in replicas]
    finally:
        for child in replicas:
            child.kill()
            child.wait()
    assert [child.returncode for child in replicas] == [0, 0]
    shard_count = len(DOCUMENTS) // SHARD_DOCS
    encodes = _encodes(shared)
    assert sorted(shard for _, shard in encodes) == list(range(shard_count))  # each shard once
    assert {name for name, _ in encodes} == {"first", "second"}  # both did part of the work
    first, second = reports
    assert set(first["encoded"]).isdisjoint(second["encoded"])
    assert set(first["encoded"]) == set(second["by_others"])
    assert set(second["encoded"]) == set(first["by_others"])
    assert len(first["encoded"]) + len(second["encoded"]) == shard_count
    assert not list((shared / "emb").rglob("*.claim-*"))

    store = CorpusStore.write(iter(DOCUMENTS), shared / "corpora", shard_docs=SHARD_DOCS)
    together = EmbeddingCache(shared / "emb", minilm.fingerprint)
    alone = EmbeddingCache(shared / "alone", minilm.fingerprint)
    assert encode_corpus(store, minilm, alone, batch_size=8).documents_encoded == len(DOCUMENTS)
    for shard in store.shards:
        assert together.load_docs(shard.key).dtype == np.float16
        assert np.allclose(together.load_docs(shard.key), alone.load_docs(shard.key), atol=2e-3)


@pytest.mark.timeout(300)  # without the dead-process rule it would wait out stale_after_s
def test_killed_claimant_does_not_block_the_other(shared, minilm):
    """A replica holding a claim is SIGKILLed while the other waits for its shard: the other takes
    the claim over (same host, dead process) well before the heartbeat timeout, and finishes."""
    blocked = _start(shared, "blocked", minilm.fingerprint)
    killed_at = []
    try:
        _wait_for(lambda: (shared / "ready-blocked").exists(), 60, "the replica ready", [blocked])
        (shared / "go").touch()
        _wait_for(lambda: (shared / "encodes.log").exists(), 60, "its claim", [blocked])
        store = CorpusStore.write(iter(DOCUMENTS), shared / "corpora", shard_docs=SHARD_DOCS)
        cache = EmbeddingCache(shared / "emb", minilm.fingerprint)
        held = store.shards[0]
        assert list(claim_paths(cache.docs_path(held.key))) == [0]

        def kill_once_only_its_shard_is_left():
            others = store.shards[1:]
            _wait_for(lambda: all(cache.has_docs(s.key) for s in others), 120, "other shards")
            time.sleep(0.5)  # the survivor is now polling the held claim
            blocked.kill()
            blocked.wait()
            killed_at.append(time.monotonic())

        killer = threading.Thread(target=kill_once_only_its_shard_is_left)
        killer.start()
        report = encode_corpus(store, minilm, cache, batch_size=8, stale_after_s=600, poll_s=0.05)
        finished_at = time.monotonic()
        killer.join()
    finally:
        blocked.kill()
        blocked.wait()
    assert blocked.returncode == -9 and killed_at
    assert finished_at - killed_at[0] < 15
    assert report.taken_over == [held] and len(report.encoded) == len(store.shards)
    assert _encodes(shared) == [("blocked", 0)]  # the dead replica started shard 0, nothing else
    assert all(cache.has_docs(shard.key) for shard in store.shards)
    assert not list(cache.folder.glob("*.claim-*"))

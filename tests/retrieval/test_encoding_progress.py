"""Encoding off a terminal: no bar, a progress line every REASONEMBED_PROGRESS_EVERY_S (corpus
encoding counts documents in the cache, shard by shard; `Encoder.encode` with show_progress, as
the evaluator encodes a task's documents, counts texts)."""

from __future__ import annotations

import logging
import re

import pytest

from reasonembed.logs import PROGRESS_LOGGER
from reasonembed.retrieval.cache import EmbeddingCache
from reasonembed.retrieval.corpus_store import CorpusStore
from reasonembed.retrieval.encoder import Encoder
from reasonembed.retrieval.sharded import encode_corpus

TEXTS = [f"Passage {n} explains how a {topic} works." for n, topic in enumerate(["heap"] * 12)]


@pytest.fixture
def progress_lines(monkeypatch):
    """The progress logger's messages (kept by a handler of the test's own), a line per move."""
    monkeypatch.setenv("REASONEMBED_PROGRESS_EVERY_S", "0.000001")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger = logging.getLogger(PROGRESS_LOGGER)
    keep = Keep()
    level = logger.level
    logger.addHandler(keep)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(keep)
    logger.setLevel(level)


@pytest.fixture(scope="module")
def encoder():
    return Encoder(model_name_or_path="minilm")


def test_corpus_encoding_logs_documents_shard_by_shard(tmp_path, encoder, progress_lines, capsys):
    store = CorpusStore.write(
        ((f"d{n}", text) for n, text in enumerate(TEXTS)), tmp_path / "corpora", shard_docs=4
    )
    cache = EmbeddingCache(tmp_path / "emb", encoder.fingerprint)
    encode_corpus(store, encoder, cache, batch_size=4)
    counts = [re.match(r"corpus encoding (\d+)/12 \(\d+%\), ", line) for line in progress_lines]
    assert all(counts), progress_lines
    assert [int(match[1]) for match in counts][:3] == [4, 8, 12]
    assert "\r" not in capsys.readouterr().err
    progress_lines.clear()
    encode_corpus(store, encoder, cache, batch_size=4)  # all cached: nothing to show
    assert progress_lines == []


def test_encoding_with_show_progress_logs_texts(encoder, progress_lines, capsys):
    encoder.encode(TEXTS, batch_size=5, show_progress=True, desc="biology documents")
    assert [line.split(",")[0] for line in progress_lines][:3] == [
        "biology documents 5/12 (42%)",
        "biology documents 10/12 (83%)",
        "biology documents 12/12 (100%)",
    ]
    assert "\r" not in capsys.readouterr().err
    progress_lines.clear()
    encoder.encode(TEXTS, batch_size=5)  # show_progress=False: silent
    assert progress_lines == []

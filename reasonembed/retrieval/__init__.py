"""The one shared encoder / index layer.

Mining, triviality metrics, the evaluator and the trainer all go through here:

- `models.resolve_model_path`: model names (including the bundled aliases) to local folders.
- `pooling.pool`: mean / cls / last-token pooling.
- `encoder.Encoder`: a Hugging Face or sentence-transformers model with pooling, instructions
  and batching; `encode` (numpy, no grad) and `embed` (torch, with grad, for training).
- `cache.EmbeddingCache` / `encoder.CachedEncoder`: embeddings keyed by model and text hash
  (texts one by one, or whole corpus shards as memory-mapped float16).
- `index.DenseIndex`: exact inner-product search, deterministic (score desc, then row asc).
- corpora larger than memory: `corpus_store.CorpusStore` (a memory-mapped corpus cut into
  shards), `sharded` (float16 shards encoded by one or several workers or replicas, split by
  `shard_claims`; exact search shard by shard: `ShardedIndex`) and `approximate` (FAISS IVF /
  HNSW search: `ApproximateIndex`, with its recall against exact search);
  `corpus_index.CorpusIndex` puts them together for one corpus to mine (with BM25, the source's
  ranks and the sampled recall).
- `bm25.BM25Index`: BRIGHT's BM25 (bm25s + PyStemmer, k1=0.9, b=0.4).

- `model_settings`: the settings file (`reasonembed.json`) a trained model folder carries, written
  by `train` and read by `eval` and `validate` (so neither imports the other).
- `forking`: torch's thread count in distilabel's forked step processes.

Names are imported on first use, so `reasonembed.retrieval.index` or `.sharded` can be used
without loading torch and transformers. May import the helpers and `data`; nothing above.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ApproximateIndex": "approximate",
    "BM25Index": "bm25",
    "CachedEncoder": "encoder",
    "CorpusStore": "corpus_store",
    "DenseIndex": "index",
    "EmbeddingCache": "cache",
    "Encoder": "encoder",
    "ShardedIndex": "sharded",
    "format_query": "instructions",
    "resolve_model_path": "models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value

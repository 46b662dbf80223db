"""The one shared encoder / index layer.

Mining, triviality metrics, the evaluator and the trainer all go through here:

- `models.resolve_model_path`: model names (including the bundled aliases) to local folders.
- `pooling.pool`: mean / cls / last-token pooling.
- `encoder.Encoder`: a Hugging Face or sentence-transformers model with pooling, instructions
  and batching; `encode` (numpy, no grad) and `embed` (torch, with grad, for training).
- `cache.EmbeddingCache` / `encoder.CachedEncoder`: embeddings keyed by model and text hash.
- `index.DenseIndex`: exact FAISS inner-product search.
- `bm25.BM25Index`: BRIGHT's BM25 (bm25s + PyStemmer, k1=0.9, b=0.4).
"""

from reasonembed.retrieval.bm25 import BM25Index
from reasonembed.retrieval.cache import EmbeddingCache
from reasonembed.retrieval.encoder import CachedEncoder, Encoder
from reasonembed.retrieval.index import DenseIndex
from reasonembed.retrieval.instructions import format_query
from reasonembed.retrieval.models import resolve_model_path

__all__ = [
    "BM25Index",
    "CachedEncoder",
    "DenseIndex",
    "EmbeddingCache",
    "Encoder",
    "format_query",
    "resolve_model_path",
]

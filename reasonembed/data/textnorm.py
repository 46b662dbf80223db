"""Text normalisation and hashing shared by every stage.

`normalized_text_hash` is the identity of a text for deduplication and for source-document
exclusion: two documents with the same normalised text are the same document, whatever their ids.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed, stripped."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def normalized_text_hash(text: str) -> str:
    """sha256 hex digest of `normalize_text(text)`."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def text_hash(text: str) -> str:
    """sha256 hex digest of the exact text (embedding cache keys: encoders see the exact text)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_hash(*parts: str) -> str:
    """sha256 of several strings joined unambiguously (length-prefixed)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()

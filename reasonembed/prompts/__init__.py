"""Prompt templates, versioned by content hash.

Each template is a text file in this folder with `{field}` placeholders (str.format). The sha256
of a template's text (first 12 hex digits) lands in every row it produced (`prompt_hashes`), so a
dataset says exactly which wording made it, and the LLM request cache never mixes wordings.
Imports nothing of the package.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROMPT_DIR = Path(__file__).parent
TEMPLATE_NAMES = ("query_generation", "reasoning_query", "annotation", "domain_filter")


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    @property
    def fields(self) -> set[str]:
        return {field for _, field, _, _ in string.Formatter().parse(self.text) if field}

    def render(self, **values: str) -> str:
        """The prompt with every placeholder filled; a missing or extra value raises KeyError."""
        missing = self.fields - values.keys()
        extra = values.keys() - self.fields
        if missing or extra:
            raise KeyError(
                f"template {self.name}: missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        return self.text.format(**values)


@cache
def get_template(name: str) -> PromptTemplate:
    if name not in TEMPLATE_NAMES:
        raise KeyError(f"unknown prompt template {name!r}; known: {TEMPLATE_NAMES}")
    return PromptTemplate(name=name, text=(PROMPT_DIR / f"{name}.txt").read_text(encoding="utf-8"))

"""Query-side instruction formatting.

The ReasonEmbed / FlagEmbedding convention is `Instruct: {instruction}\\nQuery: {query}`;
documents are encoded without an instruction.
"""

from __future__ import annotations

DEFAULT_QUERY_TEMPLATE = "Instruct: {instruction}\nQuery: {query}"


def format_query(
    query: str, instruction: str | None, template: str = DEFAULT_QUERY_TEMPLATE
) -> str:
    """The text an encoder sees for `query`; the bare query when `instruction` is empty."""
    if not instruction:
        return query
    return template.format(instruction=instruction, query=query)

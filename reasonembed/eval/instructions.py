"""Query- and document-side instructions for BRIGHT evaluation.

The wordings are BRIGHT facts, in `reasonembed.bright.instructions`; this module applies them.
Three modes (`--instructions`):
- "official": the per-family prefixes of the BRIGHT code, glued in front of the text with
  nothing in between. Families: bge, e5, grit, instructor (`detect_family` picks one from a
  model name), none.
- "flagembedding": FlagEmbedding's BRIGHT instructions in the `Instruct: {instruction}\\nQuery: `
  format (the format ReasonEmbed trains with, and the wording of its domains' training prompts);
  documents bare. A model trained with another query template (recorded in its folder,
  `model_settings`) is given its own template.
- "none": queries and documents bare.

Limits (stated, not hidden): GritLM and INSTRUCTOR pool without their instruction tokens; the
shared encoder pools over the whole text, so those two families are approximations.

`instructions_for(task, mode, family, long, query_template)` -> `Instructions(query_prefix,
document_prefix)`; `set_instructions(task, ...)` does the same for any `EvalTask`: a BEIR set
gets its own instruction (`EvalTask.instruction`) in the query template unless mode is "none",
bare queries when it has none.
"""

from __future__ import annotations

from dataclasses import dataclass

from reasonembed.bright.data import BRIGHT_TASKS
from reasonembed.bright.instructions import (
    OFFICIAL_FAMILIES,
    flagembedding_instruction,
    official_prefixes,
)
from reasonembed.errors import UserError
from reasonembed.retrieval.instructions import DEFAULT_QUERY_TEMPLATE
from reasonembed.retrieval.model_settings import MODES  # the modes a model folder may record

FAMILIES = (*OFFICIAL_FAMILIES, "none")


@dataclass(frozen=True)
class Instructions:
    query_prefix: str
    document_prefix: str
    query_template: str = "{prefix}{query}"

    def query(self, text: str) -> str:
        return self.query_template.format(prefix=self.query_prefix, query=text)

    def document(self, text: str) -> str:
        return self.document_prefix + text


def detect_family(model_name: str) -> str:
    """The official instruction family a model name suggests ("none" when nothing matches)."""
    name = model_name.lower()
    if "bge" in name:
        return "bge"
    if "grit" in name:
        return "grit"
    if "instructor" in name:
        return "instructor"
    if any(key in name for key in ("e5", "gte-qwen", "sfr-embedding", "qwen")):
        return "e5"
    return "none"


def instructions_for(
    task: str,
    mode: str,
    family: str = "none",
    long: bool = False,
    query_template: str = DEFAULT_QUERY_TEMPLATE,
) -> Instructions:
    """The query/document prefixes for `task` under `mode` (and `family` for "official";
    `query_template` for "flagembedding")."""
    if task not in BRIGHT_TASKS:
        raise UserError(f"unknown BRIGHT task {task!r}")
    if mode not in MODES:
        raise UserError(f"--instructions must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "none" or (mode == "official" and family == "none"):
        return Instructions("", "")
    if mode == "flagembedding":
        return templated(flagembedding_instruction(task, long), query_template)
    if family not in OFFICIAL_FAMILIES:
        raise UserError(
            f"--instruction-family must be one of {', '.join(FAMILIES)}, got {family!r}"
        )
    return Instructions(*official_prefixes(task, family, long))


def templated(instruction: str, query_template: str = DEFAULT_QUERY_TEMPLATE) -> Instructions:
    """`instruction` joined to each query by `query_template`; documents bare."""
    before, _, after = query_template.partition("{query}")
    suffix = after.format(instruction=instruction)  # text after the query, if any
    return Instructions(
        before.format(instruction=instruction),
        "",
        query_template="{prefix}{query}" + suffix.replace("{", "{{").replace("}", "}}"),
    )


def set_instructions(
    task, mode: str, family: str = "none", query_template: str = DEFAULT_QUERY_TEMPLATE
) -> Instructions:
    """The instructions of an `EvalTask`: BRIGHT's (`instructions_for`) for a BRIGHT task; for a
    BEIR set its own instruction in `query_template` (bare when it has none, or mode "none")."""
    if task.bright_task is not None:
        return instructions_for(task.bright_task, mode, family, task.long, query_template)
    if mode == "none" or not task.instruction:
        return Instructions("", "")
    return templated(task.instruction, query_template)

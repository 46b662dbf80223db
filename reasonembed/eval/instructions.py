"""Query- and document-side instructions for BRIGHT evaluation.

Three modes (`--instructions`):
- "official": the per-family prefixes of the BRIGHT code (configs/<model>/<task>.json), glued
  in front of the text with nothing in between. Families: bge, e5 (also gte-qwen, SFR, Qwen
  embedders), grit, instructor, none. `{task}` is filled with the raw task name
  ("earth_science"), as the official code does. Long-document mode uses the "documents" wording.
- "flagembedding": FlagEmbedding's BRIGHT instructions in the `Instruct: {instruction}\\nQuery: `
  format (the format ReasonEmbed trains with, and the wording of its domains' training prompts);
  documents bare. A model trained with another query template (recorded in its folder,
  `model_settings`) is given its own template.
- "none": queries and documents bare.

Limits (stated, not hidden): GritLM and INSTRUCTOR pool without their instruction tokens; the
shared encoder pools over the whole text, so those two families are approximations. The e5
family's leetcode wording is taken from the SFR config ("coding problem").

`instructions_for(task, mode, family, long, query_template)` -> `Instructions(query_prefix,
document_prefix)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from reasonembed.errors import UserError
from reasonembed.retrieval.instructions import DEFAULT_QUERY_TEMPLATE

MODES = ("official", "flagembedding", "none")
FAMILIES = ("bge", "e5", "grit", "instructor", "none")

# Task kinds that share wording.
_STACKEXCHANGE = "stackexchange"
_KIND = {
    "biology": _STACKEXCHANGE,
    "earth_science": _STACKEXCHANGE,
    "economics": _STACKEXCHANGE,
    "psychology": _STACKEXCHANGE,
    "robotics": _STACKEXCHANGE,
    "stackoverflow": _STACKEXCHANGE,
    "sustainable_living": _STACKEXCHANGE,
    "leetcode": "leetcode",
    "pony": "pony",
    "aops": "math_examples",
    "theoremqa_questions": "math_examples",
    "theoremqa_theorems": "math_theorems",
}

# family -> kind -> (query prefix, document prefix). "{unit}" becomes "passages"/"documents"
# ("paragraph(s)"/"document(s)" for instructor) in short/long mode.
_OFFICIAL: dict[str, dict[str, tuple[str, str]]] = {
    "bge": {
        _STACKEXCHANGE: ("Represent this {task} post for searching relevant {unit}: ", ""),
        "leetcode": ("Represent this Coding problem for searching relevant examples: ", ""),
        "pony": ("Represent this Pony question for searching relevant {unit}: ", ""),
        "math_examples": ("Represent this Math problem for searching relevant examples: ", ""),
        "math_theorems": ("Represent this Math problem for searching relevant theorems: ", ""),
    },
    "e5": {
        _STACKEXCHANGE: (
            "Instruct: Given a {task} post, retrieve relevant {unit} that help answer the post\nQuery: ",
            "",
        ),
        "leetcode": (
            "Instruct: Given a coding problem, retrieve relevant examples that help answer the problem\nQuery: ",
            "",
        ),
        "pony": (
            "Instruct: Given a {task} question, retrieve relevant {unit} that help answer the question\nQuery: ",
            "",
        ),
        "math_examples": (
            "Instruct: Given a Math problem, retrieve relevant examples that help answer the problem\nQuery: ",
            "",
        ),
        "math_theorems": (
            "Instruct: Given a Math problem, retrieve relevant theorems that help answer the problem\nQuery: ",
            "",
        ),
    },
    "grit": {
        _STACKEXCHANGE: (
            "<|user|>\nGiven a {task} post, retrieve relevant {unit} that help answer the post\n<|embed|>\n",
            "<|embed|>\n",
        ),
        "leetcode": (
            "<|user|>\nGiven a Coding problem, retrieve relevant examples that help answer the problem\n<|embed|>\n",
            "<|embed|>\n",
        ),
        "pony": (
            "<|user|>\nGiven a {task} question, retrieve relevant {unit} that help answer the question\n<|embed|>\n",
            "<|embed|>\n",
        ),
        "math_examples": (
            "<|user|>\nGiven a Math problem, retrieve relevant examples that help answer the problem\n<|embed|>\n",
            "<|embed|>\n",
        ),
        "math_theorems": (
            "<|user|>\nGiven a Math problem, retrieve relevant theorems that help answer the problem\n<|embed|>\n",
            "<|embed|>\n",
        ),
    },
    "instructor": {
        _STACKEXCHANGE: (
            "Represent the {task} post for retrieving relevant {units}: ",
            "Represent the {task} {unit_one} for retrieval: ",
        ),
        "leetcode": (
            "Represent the Coding problem for retrieving relevant examples: ",
            "Represent the Coding example for retrieval: ",
        ),
        "pony": (
            "Represent the Pony question for retrieving relevant {units}: ",
            "Represent the Pony {unit_one} for retrieval: ",
        ),
        "math_examples": (
            "Represent the Math problem for retrieving relevant examples: ",
            "Represent the Math example for retrieval: ",
        ),
        "math_theorems": (
            "Represent the Math problem for retrieving relevant theorems: ",
            "Represent the Math theorem for retrieval: ",
        ),
    },
}

# FlagEmbedding's wording (its BRIGHT evaluator); "{unit}" as above.
_FLAGEMBEDDING = {
    "biology": "Given a Biology post, retrieve relevant {unit} that help answer the post.",
    "earth_science": "Given an Earth Science post, retrieve relevant {unit} that help answer the post.",
    "economics": "Given an Economics post, retrieve relevant {unit} that help answer the post.",
    "psychology": "Given a Psychology post, retrieve relevant {unit} that help answer the post.",
    "robotics": "Given a Robotics post, retrieve relevant {unit} that help answer the post.",
    "stackoverflow": "Given a Stack Overflow post, retrieve relevant {unit} that help answer the post.",
    "sustainable_living": "Given a Sustainable Living post, retrieve relevant {unit} that help answer the post.",
    "leetcode": "Given a Coding problem, retrieve relevant examples that help answer the problem.",
    "pony": "Given a Pony question, retrieve relevant {unit} that help answer the question.",
    "aops": "Given a Math problem, retrieve relevant examples that help answer the problem.",
    "theoremqa_questions": "Given a Math problem, retrieve relevant examples that help answer the problem.",
    "theoremqa_theorems": "Given a Math problem, retrieve relevant theorems that help answer the problem.",
}


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
    if task not in _KIND:
        raise UserError(f"unknown BRIGHT task {task!r}")
    if mode not in MODES:
        raise UserError(f"--instructions must be one of {', '.join(MODES)}, got {mode!r}")
    words = {
        "task": task,
        "unit": "documents" if long else "passages",
        "units": "documents" if long else "paragraphs",
        "unit_one": "document" if long else "paragraph",
    }
    if mode == "none" or (mode == "official" and family == "none"):
        return Instructions("", "")
    if mode == "flagembedding":
        instruction = _FLAGEMBEDDING[task].format(**words)
        if long and task == "pony":  # FlagEmbedding's long pony wording has no final period
            instruction = instruction.rstrip(".")
        before, _, after = query_template.partition("{query}")
        suffix = after.format(instruction=instruction)  # text after the query, if any
        return Instructions(
            before.format(instruction=instruction),
            "",
            query_template="{prefix}{query}" + suffix.replace("{", "{{").replace("}", "}}"),
        )
    if family not in _OFFICIAL:
        raise UserError(
            f"--instruction-family must be one of {', '.join(FAMILIES)}, got {family!r}"
        )
    query, document = _OFFICIAL[family][_KIND[task]]
    return Instructions(query.format(**words), document.format(**words))

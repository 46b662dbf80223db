"""BRIGHT's query and document instructions, word for word.

- `official_prefixes(task, family, long)`: the per-family prefixes of the BRIGHT code
  (configs/<model>/<task>.json) for the families in `OFFICIAL_FAMILIES`: bge, e5 (also
  gte-qwen, SFR, Qwen embedders), grit, instructor. `{task}` is filled with the raw task name
  ("earth_science"), as the official code does; long-document mode uses the "documents"
  wording. The e5 family's leetcode wording is taken from the SFR config ("coding problem").
- `flagembedding_instruction(task, long)`: FlagEmbedding's BRIGHT instructions
  (FlagEmbedding/evaluation/bright/prompts.py). The short wording is also ReasonEmbed's
  training instruction of each BRIGHT domain (the `prompt` of its published data; its authors
  evaluate with it in the `Instruct: {instruction}\\nQuery: {query}` format), so
  `reasonembed.data.domains.BRIGHT_DOMAINS` takes its `retrieval_instruction` from here.
"""

from __future__ import annotations

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
OFFICIAL_FAMILIES = tuple(_OFFICIAL)

# FlagEmbedding's wording; "{unit}" as above.
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


def _words(task: str, long: bool) -> dict[str, str]:
    return {
        "task": task,
        "unit": "documents" if long else "passages",
        "units": "documents" if long else "paragraphs",
        "unit_one": "document" if long else "paragraph",
    }


def official_prefixes(task: str, family: str, long: bool = False) -> tuple[str, str]:
    """(query prefix, document prefix) of `family` (one of OFFICIAL_FAMILIES) for `task`."""
    query, document = _OFFICIAL[family][_KIND[task]]
    words = _words(task, long)
    return query.format(**words), document.format(**words)


def flagembedding_instruction(task: str, long: bool = False) -> str:
    """FlagEmbedding's instruction for `task` (short: also the domain's training instruction)."""
    instruction = _FLAGEMBEDDING[task].format(**_words(task, long))
    if long and task == "pony":  # FlagEmbedding's long pony wording has no final period
        instruction = instruction.rstrip(".")
    return instruction

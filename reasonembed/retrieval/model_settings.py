"""How to evaluate a model: explicit options, else what its folder records, else plain defaults.

`reasonembed train` writes `reasonembed.json` beside the sentence-transformers files of the model
it saves (`write_model_settings`):

    {"format": 1, "written_by": "reasonembed train", "base_model": "minilm",
     "query_template": "Instruct: {instruction}\\nQuery: {query}", "train_max_length": 512,
     "evaluation": {"instructions": "flagembedding", "max_length": 8192}}

`evaluation.instructions` "flagembedding" is the instruction the model was trained with: each
BRIGHT task's domain instruction (the `prompt` of the ReasonEmbed data, which keeps FlagEmbedding's
BRIGHT wording) joined to the query by `query_template`. `evaluation.max_length` is the token limit
to evaluate with (the authors use 8,192; the training default caps it at the model's position
limit).

`resolve_eval_settings(model, instructions="auto", max_length=None)` is what `eval` and `validate`
both call, so one trained folder gets the same numbers from both: an explicit `instructions`
mode or `max_length` wins; "auto" takes the record, or "official" (BRIGHT's per-family
instructions, for leaderboard comparisons) for a model without one; `max_length` None takes the
record, or the model's own setting (None).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from reasonembed.errors import UserError
from reasonembed.retrieval.instructions import DEFAULT_QUERY_TEMPLATE
from reasonembed.retrieval.models import resolve_model_path

SETTINGS_FILE = "reasonembed.json"
FORMAT = 1
TRAINED_INSTRUCTIONS = "flagembedding"  # the domain instructions, in the training template
AUTO = "auto"
DEFAULT_INSTRUCTIONS = "official"  # for models this project did not train
# the instruction modes `eval` knows (`reasonembed.eval.instructions` builds each one)
MODES = ("official", "flagembedding", "none")


@dataclass(frozen=True)
class EvalSettings:
    instructions: str  # one of instructions.MODES
    query_template: str  # how "flagembedding" joins instruction and query
    max_length: int | None  # None: the model's own setting
    source: str  # where the defaults came from: the settings file, or "defaults"


def write_model_settings(
    folder: str | Path,
    base_model: str,
    query_template: str,
    train_max_length: int,
    eval_max_length: int,
) -> Path:
    """Write `folder/reasonembed.json` for a model trained by `reasonembed train`."""
    path = Path(folder) / SETTINGS_FILE
    record = {
        "format": FORMAT,
        "written_by": "reasonembed train",
        "base_model": base_model,
        "query_template": query_template,
        "train_max_length": train_max_length,
        "evaluation": {"instructions": TRAINED_INSTRUCTIONS, "max_length": eval_max_length},
    }
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def read_model_settings(model: str) -> dict | None:
    """The record of a local model folder (None for other models); a malformed one is an error."""
    folder = Path(resolve_model_path(model))
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        evaluation = record["evaluation"]
        template = record["query_template"]
        mode = evaluation["instructions"]
        length = evaluation["max_length"]
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not a reasonembed model settings file ({error})") from error
    if mode not in MODES:
        raise UserError(f"{path}: evaluation.instructions must be one of {MODES}, got {mode!r}")
    if "{query}" not in template or "{instruction}" not in template:
        raise UserError(f"{path}: query_template needs {{instruction}} and {{query}}: {template!r}")
    if not isinstance(length, int) or length < 1:
        raise UserError(f"{path}: evaluation.max_length must be a positive integer, got {length!r}")
    return record


def resolve_eval_settings(
    model: str, instructions: str = AUTO, max_length: int | None = None
) -> EvalSettings:
    """The evaluation settings of `model` (module doc: explicit, then recorded, then defaults)."""
    if instructions != AUTO and instructions not in MODES:
        raise UserError(
            f"--instructions must be auto or one of {', '.join(MODES)}, got {instructions!r}"
        )
    record = read_model_settings(model)
    if record is None:
        mode = DEFAULT_INSTRUCTIONS if instructions == AUTO else instructions
        return EvalSettings(mode, DEFAULT_QUERY_TEMPLATE, max_length, "defaults")
    evaluation = record["evaluation"]
    return EvalSettings(
        instructions=evaluation["instructions"] if instructions == AUTO else instructions,
        query_template=record["query_template"],
        max_length=max_length or evaluation["max_length"],
        source=str(Path(resolve_model_path(model)) / SETTINGS_FILE),
    )

"""`reasonembed validate`: prove a dataset's quality by training on it and evaluating on BRIGHT
or on the user's own BEIR-format sets (`reasonembed.validation`, which describes the four rows,
the outputs and the determinism).

    reasonembed validate --data DIR|FILE|REPO[@REV] --model BASE --tasks biology,leetcode \\
        [--bright hub|PATH] [--steps N] [--output DIR] [--allow-contamination]
    reasonembed validate --data DIR --model BASE --eval-set beir:PATH[=DOMAIN],... [--split test]

Exit status 3 when the contamination guard finds overlap and --allow-contamination is not given.
"""

from __future__ import annotations

import argparse
import dataclasses

from reasonembed.bright.data import BRIGHT_TASKS
from reasonembed.commands.eval import BRIGHT_HELP, CONTAMINATED_EXIT
from reasonembed.eval.instructions import MODES
from reasonembed.retrieval.model_settings import AUTO
from reasonembed.validation.report import print_table
from reasonembed.validation.run import ValidationConfig, validate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ValidationConfig(data="", tasks="")
    parser.add_argument(
        "--data",
        required=True,
        help="a `reasonembed generate` output folder (its raw config enables the doc-as-positive "
        "control), a folder or file of reasonembed-format jsonl/parquet, or a Hub dataset "
        "OWNER/NAME[@REVISION]",
    )
    parser.add_argument(
        "--model", default=defaults.model, help="base model: folder, alias or Hub id"
    )
    parser.add_argument(
        "--tasks",
        help=f"comma-separated BRIGHT tasks, or 'all' ({len(BRIGHT_TASKS)} tasks); or --eval-set",
    )
    parser.add_argument(
        "--eval-set",
        help="your own BEIR-format sets instead of BRIGHT: beir:PATH[=DOMAIN][,beir:PATH2...] "
        "(corpus.jsonl, queries.jsonl, qrels/<split>.tsv); the query instruction is DOMAIN's "
        "training prompt (default: the data's only domain)",
    )
    parser.add_argument("--split", default=defaults.split, help="qrels split of --eval-set")
    parser.add_argument("--instruction", help="query instruction for every --eval-set")
    parser.add_argument("--bright", default=defaults.bright, help=BRIGHT_HELP)
    parser.add_argument("--revision", default=defaults.revision, help="BRIGHT Hub revision")
    parser.add_argument(
        "--steps", type=int, default=defaults.steps, help="training steps per trained model"
    )
    parser.add_argument(
        "--output",
        help="folder for validation.json/.md and ndcg.png (default: DATA/validation for a local "
        "DATA folder; required otherwise)",
    )
    parser.add_argument(
        "--allow-contamination",
        action="store_true",
        help="score even when training data overlaps the test tasks (the report says so)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--batch-scale",
        type=float,
        default=defaults.batch_scale,
        help="global batch per step = each domain's batch_size x this (default 1; 8 is the "
        "paper's 8-GPU batch, as `reasonembed train` uses)",
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        help="queries per forward chunk (accumulation; memory only, default: the domain's "
        "batch_size)",
    )
    parser.add_argument(
        "--group-size", type=int, help="passages per query (default: each row's train_group_size)"
    )
    parser.add_argument(
        "--learning-rate", type=float, help="default: 1e-4 with LoRA, 2e-5 for full fine-tuning"
    )
    parser.add_argument(
        "--ri-start-step",
        type=int,
        help="plain-InfoNCE steps before RI weighting (default: min(100, steps // 3))",
    )
    parser.add_argument("--lora", choices=("auto", "on", "off"), default=defaults.lora)
    parser.add_argument(
        "--max-length", type=int, help="training token limit (default: the model's)"
    )
    parser.add_argument(
        "--eval-max-length",
        type=int,
        help="evaluation token limit, recorded in the trained models (default: min(8192, the "
        "model's position limit))",
    )
    parser.add_argument(
        "--instructions",
        choices=(AUTO, *MODES),
        default=defaults.instructions,
        help="query instructions at evaluation, the same for every row (default auto: what the "
        "trained models record, their training instructions `Instruct: ...\\nQuery: `)",
    )
    parser.add_argument("--eval-batch-size", type=int, default=defaults.eval_batch_size)
    parser.add_argument(
        "--contamination-model",
        help="also match paraphrased queries by embeddings with this model (e.g. minilm)",
    )
    parser.add_argument(
        "--keep-models", help="new or empty folder to keep the trained models in (default: temp)"
    )
    parser.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")


def config_from_args(args: argparse.Namespace) -> ValidationConfig:
    """Every option is a field of ValidationConfig, under the same name."""
    return ValidationConfig(
        **{field.name: getattr(args, field.name) for field in dataclasses.fields(ValidationConfig)}
    )


def run(args: argparse.Namespace) -> int:
    validated = validate(config_from_args(args))
    if validated is None:
        return CONTAMINATED_EXIT
    print()
    print_table(validated.result["rows"])
    print(f"\nwrote {', '.join(str(path) for path in validated.written)}")
    return 0

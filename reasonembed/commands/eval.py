"""`reasonembed eval`: evaluate a dense model (or BRIGHT's BM25) on BRIGHT, or on the user's own
BEIR-format sets (`--eval-set beir:PATH[=DOMAIN],...`, `reasonembed.eval.beir`), with one
evaluation core (`reasonembed.eval.evaluate`).

Prints per-task nDCG@10 (the headline), recall@10/100 and MRR and their unweighted mean; with
--output writes results.json, results.md, per_query.json and run.trec (the run, scoreable again
with `reasonembed eval-run`). Exit status 3 when --strict and the contamination guard found
overlap (no scores are reported then).

Query instructions and token limit (`--instructions auto`, `--max-length` unset): see
`reasonembed.eval.evaluate`; `--instructions official` keeps leaderboard comparisons available
for folders written by `reasonembed train`. A BEIR set's query instruction: `--instruction TEXT`,
else the training instruction of the domain it is mapped to (`=DOMAIN` or `--eval-domain`: the
`prompt` of that domain's rows in --train-data, else a built-in domain's), else none.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from reasonembed.bright import data
from reasonembed.data.data_source import load_training_rows
from reasonembed.errors import UserError
from reasonembed.eval.beir import load_beir_sets
from reasonembed.eval.evaluate import (
    contamination_check,
    evaluate_system,
    resolve_tasks,
    write_results,
)
from reasonembed.eval.instructions import FAMILIES, MODES
from reasonembed.eval.metrics import DEFAULT_DEPTH
from reasonembed.eval.task import EvalTask, bright_task
from reasonembed.retrieval.model_settings import AUTO
from reasonembed.retrieval.models import DTYPES

logger = logging.getLogger(__name__)

CONTAMINATED_EXIT = 3
DEFAULT_CACHE = Path("~/.cache/reasonembed/embeddings")
BRIGHT_HELP = f"'hub' ({data.HUB_REPO}) or a local folder, same layout"  # eval, eval-run, validate


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `eval` and `eval-run`."""
    parser.add_argument("--tasks", default="all", help="'all' or comma-separated task names")
    parser.add_argument("--bright", default="hub", help=BRIGHT_HELP)
    parser.add_argument(
        "--revision", default=data.DEFAULT_REVISION, help="Hub dataset revision (pinned default)"
    )
    parser.add_argument("--long", action="store_true", help="long documents, gold_ids_long")
    parser.add_argument("--output", help="folder for results.json, results.md, per_query.json")
    parser.add_argument("--depth", type=int, default=DEFAULT_DEPTH, help="documents kept per query")
    parser.add_argument(
        "--train-data", help="training dataset to check for contamination: DIR, FILE or REPO[@REV]"
    )
    parser.add_argument(
        "--strict", action="store_true", help="refuse to report scores when contamination is found"
    )
    parser.add_argument(
        "--contamination-model",
        help="also match paraphrased queries by embeddings with this model (e.g. minilm)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model name or path (dense retrieval)")
    parser.add_argument("--bm25", action="store_true", help="BRIGHT's BM25 baseline instead")
    add_common_arguments(parser)
    parser.add_argument(
        "--instructions",
        choices=(AUTO, *MODES),
        default=AUTO,
        help="auto: what a `reasonembed train` folder records (its training instructions), "
        "else official (BRIGHT's per-family instructions, for leaderboard comparisons)",
    )
    parser.add_argument(
        "--instruction-family",
        choices=("auto", *FAMILIES),
        default="auto",
        help="official instruction family (auto: from the model name)",
    )
    parser.add_argument(
        "--eval-set",
        help="your own BEIR-format sets instead of BRIGHT: beir:PATH[=DOMAIN][,beir:PATH2...] "
        "(PATH holds corpus.jsonl, queries.jsonl, qrels/<split>.tsv; DOMAIN picks the query "
        "instruction: that domain's training prompt)",
    )
    parser.add_argument(
        "--split", default="test", help="qrels split of --eval-set (qrels/SPLIT.tsv)"
    )
    parser.add_argument(
        "--instruction", help="query instruction for every --eval-set (overrides DOMAIN)"
    )
    parser.add_argument(
        "--eval-domain", help="domain of the --eval-set folders that name none (for instructions)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--max-length",
        type=int,
        help="token limit (default: the evaluation length a `reasonembed train` folder records, "
        "else the model's)",
    )
    parser.add_argument("--pooling", default="auto", help="auto, mean, cls or last_token")
    parser.add_argument("--device", help="torch device (default: cuda when available)")
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float32",
        help="dtype of the model's weights (default float32; auto: float32 on a CPU, bfloat16 "
        "or float16 on a GPU). bfloat16/float16 halve a large model's memory: a Qwen3-8B needs "
        "30 GB in float32, 15 GB in bfloat16. Embeddings are cached per dtype",
    )
    parser.add_argument(
        "--cache-dir",
        default=str(DEFAULT_CACHE),
        help="embedding cache folder ('none' to disable)",
    )


def check_contamination(args: argparse.Namespace, tasks: list[EvalTask]) -> tuple[list, bool]:
    """The guard's (reports, refused): refused when --strict and contamination was found."""
    reports, found = contamination_check(args.train_data, tasks, args.contamination_model)
    if found and args.strict:
        logger.error("--strict: contamination found, scores are not reported")
        return reports, True
    return reports, False


def beir_tasks(args: argparse.Namespace) -> tuple[list[EvalTask], dict]:
    """The --eval-set folders as tasks, each with its instruction, and their setup record."""
    if args.long or args.tasks not in (None, "", "all"):
        raise UserError("--tasks and --long apply to BRIGHT only, not to --eval-set")
    if args.depth < 1:
        raise UserError(f"--depth must be >= 1, got {args.depth}")
    tasks, described = load_beir_sets(
        args.eval_set,
        args.split,
        args.instruction,
        args.eval_domain,
        lambda: load_training_rows(args.train_data) if args.train_data else None,
    )
    return tasks, {"bright": None, "revision": None, "long": False, "beir": described}


def load_tasks(args: argparse.Namespace) -> tuple[list[EvalTask], dict]:
    """The tasks to evaluate (BRIGHT's, or --eval-set's) and the setup record of their data."""
    if args.eval_set:
        return beir_tasks(args)
    names = resolve_tasks(args.tasks, args.long, args.depth)
    tasks = [bright_task(name, args.bright, args.revision, args.long) for name in names]
    revision = args.revision if args.bright == "hub" else None
    return tasks, {"bright": args.bright, "revision": revision, "long": args.long}


def run(args: argparse.Namespace) -> int:
    if bool(args.model) == bool(args.bm25):
        raise UserError("give exactly one of --model NAME_OR_PATH or --bm25")
    tasks, setup = load_tasks(args)
    reports, refused = check_contamination(args, tasks)
    if refused:
        return CONTAMINATED_EXIT
    results, per_query, runs = evaluate_system(
        tasks,
        setup,
        model=args.model,
        depth=args.depth,
        instructions=args.instructions,
        instruction_family=args.instruction_family,
        max_length=args.max_length,
        pooling=args.pooling,
        device=args.device,
        dtype=args.dtype,
        cache_dir=None if args.cache_dir == "none" else Path(args.cache_dir).expanduser(),
        batch_size=args.batch_size,
    )
    write_results(results, per_query, runs, reports, args.long, args.output)
    return 0

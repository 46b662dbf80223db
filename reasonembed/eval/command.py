"""`reasonembed eval`: evaluate a dense model (or BRIGHT's BM25) on BRIGHT.

Prints per-task nDCG@10 (the headline), recall@10/100 and MRR and their unweighted mean; with
--output writes results.json, results.md, per_query.json and run.trec (the run, scoreable again
with `reasonembed eval-run`). Exit status 3 when --strict and the contamination guard found
overlap (no scores are reported then).

Query instructions and token limit (`--instructions auto`, `--max-length` unset): a folder written
by `reasonembed train` records how its model is evaluated (its training instructions and
evaluation length, `model_settings`), which `validate` uses too; other models get BRIGHT's
official per-family instructions and their own length. `--instructions official` keeps leaderboard
comparisons available for trained folders.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from reasonembed.errors import UserError
from reasonembed.eval import bright as data
from reasonembed.eval.bright import BrightDocuments, BrightExample
from reasonembed.eval.contamination import (
    ContaminationGuard,
    contamination_rows,
    load_training_data,
)
from reasonembed.eval.instructions import FAMILIES, MODES, detect_family, instructions_for
from reasonembed.eval.metrics import DEFAULT_DEPTH, MetricTable, evaluate, metric_names
from reasonembed.eval.model_settings import AUTO, EvalSettings, resolve_eval_settings
from reasonembed.eval.report import (
    format_table,
    mean_over_tasks,
    render_text,
    task_summary,
    write_report,
)
from reasonembed.eval.runs import Run, write_trec_run
from reasonembed.eval.search import bm25_run, dense_run
from reasonembed.retrieval.instructions import DEFAULT_QUERY_TEMPLATE

logger = logging.getLogger(__name__)

CONTAMINATED_EXIT = 3
DEFAULT_CACHE = Path("~/.cache/reasonembed/embeddings")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `eval` and `eval-run`."""
    parser.add_argument("--tasks", default="all", help="'all' or comma-separated task names")
    parser.add_argument(
        "--bright", default="hub", help="'hub' (xlangai/BRIGHT) or a local folder, same layout"
    )
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
        "--cache-dir",
        default=str(DEFAULT_CACHE),
        help="embedding cache folder ('none' to disable)",
    )


def resolve_tasks(args: argparse.Namespace) -> list[str]:
    tasks = data.parse_tasks(args.tasks)
    if args.long:
        if args.tasks in (None, "", "all"):
            tasks = [task for task in tasks if task in data.LONG_TASKS]
        for task in tasks:
            data.check_long_task(task)
    if args.depth < 1:
        raise UserError(f"--depth must be >= 1, got {args.depth}")
    return tasks


def contamination_check(args, tasks: list[str]) -> tuple[list, bool]:
    """Run the guard on every task (if --train-data); returns (reports, found).

    Gold documents are matched by text, so each task's documents are read.
    """
    if not args.train_data:
        return [], False
    encoder = None
    if args.contamination_model:
        from reasonembed.retrieval import Encoder

        encoder = Encoder(args.contamination_model)
    guard = ContaminationGuard(load_training_data(args.train_data), encoder=encoder)
    reports = []
    for task in tasks:
        examples = data.load_examples(task, args.bright, args.revision)
        documents = data.load_documents(task, args.bright, args.revision, long=args.long)
        reports.append(guard.check_task(task, examples, documents, long=args.long))
    found = any(report.found for report in reports)
    print(f"\nContamination check: {args.train_data}")
    print(render_text(contamination_rows(reports)))
    print("contamination FOUND" if found else "no contamination found")
    return reports, found


def finish(args, results: dict, per_query: dict, runs: list[Run], reports: list) -> int:
    """Mean, table, files."""
    metrics = metric_names()
    results["mean"] = mean_over_tasks(results["tasks"], metrics)
    expected = data.LONG_TASKS if args.long else data.BRIGHT_TASKS
    results["complete"] = set(results["tasks"]) == set(expected)
    results["contamination"] = [
        {**vars(report), "found": report.found} for report in reports
    ] or None
    print()
    print(render_text(format_table(results, metrics)))
    if args.output:
        write_report(results, per_query, args.output, metrics)
        tag = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in results["system"])
        write_trec_run(Run.concatenate(runs), Path(args.output) / "run.trec", tag=tag)
        print(f"\nwrote {args.output}/results.json, results.md, per_query.json, run.trec")
    return 0


def score_task_run(
    task_run: Run,
    timings: dict[str, float],
    examples: list[BrightExample],
    documents: BrightDocuments,
    long: bool = False,
    depth: int = DEFAULT_DEPTH,
) -> tuple[dict, MetricTable]:
    """Score one task's run: its summary (metric means as fractions, query and document counts,
    timings in seconds) and the per-query metric table."""
    start = time.perf_counter()
    table = evaluate(task_run, data.task_qrels(examples, long), depth=depth)
    timings["score"] = time.perf_counter() - start
    summary = task_summary(table)
    summary["documents"] = len(documents)
    summary["documents_md5_matches"] = documents.md5_matches
    summary["timings_s"] = {name: round(value, 3) for name, value in timings.items()}
    return summary, table


def evaluate_model(
    encoder,
    task_data: dict[str, tuple[list[BrightExample], BrightDocuments]],
    instructions: str = "flagembedding",
    family: str = "none",
    long: bool = False,
    depth: int = DEFAULT_DEPTH,
    batch_size: int = 32,
    query_template: str = DEFAULT_QUERY_TEMPLATE,
) -> dict[str, dict]:
    """{task: summary} of a dense `encoder` (an `Encoder` or `CachedEncoder`) on already-loaded
    BRIGHT tasks `{task: (examples, documents)}`, with the evaluator's protocol; prints nothing.
    `summary["ndcg@10"]` is the headline (a fraction in [0, 1])."""
    summaries = {}
    for task, (examples, documents) in task_data.items():
        prefixes = instructions_for(task, instructions, family, long, query_template)
        task_run, timings = dense_run(examples, documents, encoder, prefixes, depth, batch_size)
        summaries[task], _ = score_task_run(task_run, timings, examples, documents, long, depth)
    return summaries


def run(args: argparse.Namespace) -> int:
    if bool(args.model) == bool(args.bm25):
        raise UserError("give exactly one of --model NAME_OR_PATH or --bm25")
    tasks = resolve_tasks(args)
    reports, found = contamination_check(args, tasks)
    if found and args.strict:
        logger.error("--strict: contamination found, scores are not reported")
        return CONTAMINATED_EXIT

    family = "none"
    encoder = None
    settings: EvalSettings | None = None
    if args.model:
        from reasonembed.retrieval import CachedEncoder, Encoder

        settings = resolve_eval_settings(args.model, args.instructions, args.max_length)
        family = (
            detect_family(args.model)
            if args.instruction_family == "auto"
            else args.instruction_family
        )
        base = Encoder(
            args.model, pooling=args.pooling, max_length=settings.max_length, device=args.device
        )
        cache = None if args.cache_dir == "none" else Path(args.cache_dir).expanduser()
        encoder = CachedEncoder(base, cache)
    system = "bm25" if args.bm25 else args.model
    results = {
        "system": system,
        "bright": args.bright,
        "revision": args.revision if args.bright == "hub" else None,
        "long": args.long,
        "instructions": settings.instructions if settings else None,
        "instruction_family": family if settings else None,
        "query_template": settings.query_template if settings else None,
        "max_length": encoder.encoder.max_length if encoder else None,
        "settings_from": settings.source if settings else None,
        "depth": args.depth,
        "tasks": {},
    }
    per_query: dict = {}
    runs: list[Run] = []
    for task in tasks:
        examples = data.load_examples(task, args.bright, args.revision)
        documents = data.load_documents(task, args.bright, args.revision, long=args.long)
        if args.bm25:
            task_run, timings = bm25_run(examples, documents, depth=args.depth)
        else:
            prefixes = instructions_for(
                task, settings.instructions, family, args.long, settings.query_template
            )
            task_run, timings = dense_run(
                examples, documents, encoder, prefixes, args.depth, args.batch_size
            )
        summary, table = score_task_run(
            task_run, timings, examples, documents, args.long, args.depth
        )
        results["tasks"][task] = summary
        per_query[task] = table.per_query()
        # Query ids repeat across tasks: prefix them in the combined run file.
        runs.append(task_run.with_task_prefix(task))
        logger.info("%s: nDCG@10 %.2f (%s)", task, 100 * summary["ndcg@10"], summary["timings_s"])
    return finish(args, results, per_query, runs, reports)

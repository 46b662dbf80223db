"""Evaluation with BRIGHT's protocol: a dense model or BRIGHT's BM25 on evaluation sets
(`evaluate_system` over `EvalTask`s: BRIGHT tasks or BEIR folders, `reasonembed.eval.task`), or a
TREC run file on BRIGHT (`read_task_runs`, `score_task_runs`); the commands are `reasonembed eval`
and `reasonembed eval-run` (reasonembed.commands).

Each task's run keeps the top `depth` documents per query after the query's excluded ids are
removed (trec_eval order) and is scored against the deduplicated gold ids. Results are a dict:
`system`, the setup, `tasks` ({task: summary}: metric means as fractions, query and document
counts, timings), and after `write_results` the unweighted `mean` over the tasks, `complete` (all
tasks of the benchmark) and `contamination`. `write_results` prints the table and, given an output
folder, writes results.json, results.md, per_query.json and run.trec (query ids `{task}/{id}`).

Query instructions and token limit (`instructions="auto"`, `max_length` unset): a folder written
by `reasonembed train` records how its model is evaluated (its training instructions and
evaluation length, `model_settings`), which `validate` uses too; other models get BRIGHT's
official per-family instructions and their own length. `instructions="official"` keeps
leaderboard comparisons available for trained folders.

A run file holds several tasks with query ids `{task}/{id}` (what `write_results` writes), one
task with bare ids, or is a folder of per-task files named `<task>.<anything>`. Queries of a task
that the run lacks score 0 and are counted in the report.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from reasonembed.bright import data
from reasonembed.errors import UserError
from reasonembed.eval.contamination import (
    ContaminationGuard,
    contamination_rows,
    load_training_data,
)
from reasonembed.eval.instructions import detect_family, set_instructions
from reasonembed.eval.metrics import DEFAULT_DEPTH, MetricTable, evaluate, metric_names, task_qrels
from reasonembed.eval.report import (
    format_table,
    mean_over_tasks,
    render_text,
    task_summary,
    write_report,
)
from reasonembed.eval.runs import Run, apply_protocol, read_trec_run, write_trec_run
from reasonembed.eval.search import bm25_run, dense_run
from reasonembed.eval.task import EvalTask
from reasonembed.retrieval.instructions import DEFAULT_QUERY_TEMPLATE
from reasonembed.retrieval.model_settings import AUTO, EvalSettings, resolve_eval_settings

logger = logging.getLogger(__name__)


def resolve_tasks(spec: str, long: bool = False, depth: int = DEFAULT_DEPTH) -> list[str]:
    """The tasks of `spec` ('all' or comma-separated names); with `long`, those that have long
    documents ('all' keeps only them, a named task without them is refused)."""
    tasks = data.parse_tasks(spec)
    if long:
        if spec in (None, "", "all"):
            tasks = [task for task in tasks if task in data.LONG_TASKS]
        for task in tasks:
            data.check_long_task(task)
    if depth < 1:
        raise UserError(f"--depth must be >= 1, got {depth}")
    return tasks


def contamination_check(
    train_data: str | None, tasks: list[EvalTask], model: str | None = None
) -> tuple[list, bool]:
    """Run the guard on every task (if `train_data`); print its table; return (reports, found).

    Gold documents are matched by text. `model` also matches paraphrased queries by embeddings.
    """
    if not train_data:
        return [], False
    encoder = None
    if model:
        from reasonembed.retrieval import Encoder

        encoder = Encoder(model)
    guard = ContaminationGuard(load_training_data(train_data), encoder=encoder)
    reports = [guard.check_task(task) for task in tasks]
    found = any(report.found for report in reports)
    print(f"\nContamination check: {train_data}")
    print(render_text(contamination_rows(reports)))
    print("contamination FOUND" if found else "no contamination found")
    return reports, found


def write_results(
    results: dict,
    per_query: dict,
    runs: list[Run],
    reports: list,
    long: bool = False,
    output: str | None = None,
) -> None:
    """Mean, table, files."""
    metrics = metric_names()
    results["mean"] = mean_over_tasks(results["tasks"], metrics)
    expected = data.LONG_TASKS if long else data.BRIGHT_TASKS
    results["complete"] = results.get("bright") is not None and set(results["tasks"]) == set(
        expected
    )
    results["contamination"] = [
        {**vars(report), "found": report.found} for report in reports
    ] or None
    print()
    print(render_text(format_table(results, metrics)))
    if output:
        write_report(results, per_query, output, metrics)
        tag = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in results["system"])
        write_trec_run(Run.concatenate(runs), Path(output) / "run.trec", tag=tag)
        print(f"\nwrote {output}/results.json, results.md, per_query.json, run.trec")


def score_task_run(
    task_run: Run, timings: dict[str, float], task: EvalTask, depth: int = DEFAULT_DEPTH
) -> tuple[dict, MetricTable]:
    """Score one task's run: its summary (metric means as fractions, query and document counts,
    the queries skipped for lack of judgements, timings in seconds) and the per-query table."""
    start = time.perf_counter()
    table = evaluate(task_run, task.qrels, depth=depth)
    timings["score"] = time.perf_counter() - start
    summary = task_summary(table)
    summary["documents"] = len(task)
    summary["documents_md5_matches"] = task.md5_matches
    summary["n_queries_skipped"] = len(task.skipped)
    summary["timings_s"] = {name: round(value, 3) for name, value in timings.items()}
    return summary, table


def evaluate_model(
    encoder,
    tasks: list[EvalTask],
    instructions: str = "flagembedding",
    family: str = "none",
    depth: int = DEFAULT_DEPTH,
    batch_size: int = 32,
    query_template: str = DEFAULT_QUERY_TEMPLATE,
) -> dict[str, dict]:
    """{task name: summary} of a dense `encoder` (an `Encoder` or `CachedEncoder`) on loaded
    tasks, with the evaluator's protocol; prints nothing. `summary["ndcg@10"]` is the headline
    (a fraction in [0, 1])."""
    summaries = {}
    for task in tasks:
        prefixes = set_instructions(task, instructions, family, query_template)
        task_run, timings = dense_run(task, encoder, prefixes, depth, batch_size)
        summaries[task.name], _ = score_task_run(task_run, timings, task, depth)
    return summaries


def evaluate_system(
    tasks: list[EvalTask],
    setup: dict,
    *,
    model: str | None = None,
    depth: int = DEFAULT_DEPTH,
    instructions: str = AUTO,
    instruction_family: str = "auto",
    max_length: int | None = None,
    pooling: str = "auto",
    device: str | None = None,
    dtype: str = "float32",
    cache_dir: Path | None = None,
    batch_size: int = 32,
) -> tuple[dict, dict, list[Run]]:
    """(results, per_query, runs) of the dense `model` on `tasks`, or of BRIGHT's BM25 when
    `model` is None; embeddings are cached in `cache_dir` (None: no cache). `setup` describes the
    data in results.json (`bright`, `revision`, `long`, `beir`). `dtype`: the weights' dtype
    (retrieval.models.DTYPES; "auto" is float32 on a CPU, bfloat16 or float16 on a GPU), recorded
    as the dtype the model was loaded in."""
    family = "none"
    encoder = None
    settings: EvalSettings | None = None
    if model:
        from reasonembed.retrieval import CachedEncoder, Encoder

        settings = resolve_eval_settings(model, instructions, max_length)
        family = detect_family(model) if instruction_family == "auto" else instruction_family
        base = Encoder(
            model, pooling=pooling, max_length=settings.max_length, device=device, dtype=dtype
        )
        encoder = CachedEncoder(base, cache_dir)
    results = {
        "system": model or "bm25",
        **setup,
        "instructions": settings.instructions if settings else None,
        "instruction_family": family if settings else None,
        "query_template": settings.query_template if settings else None,
        "max_length": encoder.encoder.max_length if encoder else None,
        "dtype": str(encoder.encoder.dtype).removeprefix("torch.") if encoder else None,
        "settings_from": settings.source if settings else None,
        "depth": depth,
        "tasks": {},
    }
    per_query: dict = {}
    runs: list[Run] = []
    for task in tasks:
        if settings is None:
            task_run, timings = bm25_run(task, depth=depth)
        else:
            prefixes = set_instructions(
                task, settings.instructions, family, settings.query_template
            )
            task_run, timings = dense_run(task, encoder, prefixes, depth, batch_size)
        summary, table = score_task_run(task_run, timings, task, depth)
        if task.instruction is not None:
            summary["instruction"] = task.instruction
        results["tasks"][task.name] = summary
        per_query[task.name] = table.per_query()
        # Query ids repeat across tasks: prefix them in the combined run file.
        runs.append(task_run.with_task_prefix(task.name))
        logger.info(
            "%s: nDCG@10 %.2f (%s)", task.name, 100 * summary["ndcg@10"], summary["timings_s"]
        )
    return results, per_query, runs


# --- TREC run files ------------------------------------------------------------------------
def _strip_prefix(run: Run, task: str) -> Run:
    """Queries of `task`: `{task}/{id}` ids with the prefix removed, bare ids kept."""
    prefix = f"{task}/"
    if any(q.startswith(prefix) for q in run.query_ids):
        chosen = [q for q in run.query_ids if q.startswith(prefix)]
        subset = run.select(chosen)
        return Run(
            [q[len(prefix) :] for q in subset.query_ids],
            subset.query_index,
            subset.doc_ids,
            subset.scores,
        )
    return run


def read_task_runs(path: Path, tasks: list[str]) -> dict[str, Run]:
    """The run of each task, from a combined file, a one-task file or a folder."""
    if not path.exists():
        raise UserError(f"{path}: run file or folder not found")
    if path.is_dir():
        files = {file.name.split(".")[0]: file for file in sorted(path.iterdir()) if file.is_file()}
        missing = [task for task in tasks if task not in files]
        if missing:
            raise UserError(
                f"{path}: no run file for task(s) {', '.join(missing)} (expected <task>.trec)"
            )
        return {task: _strip_prefix(read_trec_run(files[task]), task) for task in tasks}
    run = read_trec_run(path)
    prefixed = any("/" in q and q.split("/", 1)[0] in data.BRIGHT_TASKS for q in run.query_ids)
    if not prefixed and len(tasks) != 1:
        raise UserError(
            f"{path}: query ids carry no task prefix, so the file can hold one task only; "
            "pass --tasks TASK, prefix ids as {task}/{id}, or give a folder of <task>.trec files"
        )
    return {task: _strip_prefix(run, task) for task in tasks}


def score_task_runs(
    runs_by_task: dict[str, Run],
    system: str,
    bright: str,
    revision: str,
    *,
    long: bool = False,
    depth: int = DEFAULT_DEPTH,
    where: Path | str = "",
) -> tuple[dict, dict, list[Run]]:
    """(results, per_query, runs) of the given runs, the protocol applied to each as given
    (excluded ids removed, top `depth` kept); `where` names the run in warnings."""
    results = {
        "system": system,
        "bright": bright,
        "revision": revision if bright == "hub" else None,
        "long": long,
        "instructions": None,
        "instruction_family": None,
        "depth": depth,
        "tasks": {},
    }
    per_query: dict = {}
    runs = []
    for task, task_run in runs_by_task.items():
        examples = data.load_examples(task, bright, revision)
        known = {example.id for example in examples}
        unknown = [q for q in task_run.query_ids if q not in known]
        if unknown:
            logger.warning(
                "%s: %d run queries are not %s test queries (ignored), e.g. %r",
                where,
                len(unknown),
                task,
                unknown[0],
            )
        task_run = apply_protocol(
            task_run.select(sorted(known)), {e.id: e.excluded for e in examples}, depth
        )
        table = evaluate(task_run, task_qrels(examples, long), depth=depth)
        summary = task_summary(table)
        if summary["n_queries_without_results"]:
            logger.warning(
                "%s: %d of %d %s queries have no results in the run (scored 0)",
                where,
                summary["n_queries_without_results"],
                summary["n_queries"],
                task,
            )
        results["tasks"][task] = summary
        per_query[task] = table.per_query()
        runs.append(task_run.with_task_prefix(task))
    return results, per_query, runs

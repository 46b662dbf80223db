"""`reasonembed eval-run RUN`: score a TREC run file with the evaluator's protocol and metrics.

RUN is one of:
- a file holding several tasks, query ids written `{task}/{id}` (what `reasonembed eval` writes
  as run.trec; BRIGHT ids repeat across tasks, so bare ids cannot share one file);
- a file with bare query ids, when --tasks names exactly one task;
- a folder of per-task files named `<task>.<anything>` (bare or prefixed ids).

The protocol is applied to the run as given: each query's excluded ids removed, top --depth kept
(trec_eval order). Queries of a task that the run lacks score 0 and are counted in the report.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from reasonembed.errors import UserError
from reasonembed.eval import bright as data
from reasonembed.eval.command import (
    CONTAMINATED_EXIT,
    add_common_arguments,
    contamination_check,
    finish,
    resolve_tasks,
)
from reasonembed.eval.metrics import evaluate
from reasonembed.eval.report import task_summary
from reasonembed.eval.runs import Run, apply_protocol, read_trec_run

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_path", metavar="RUN", help="TREC run file or folder of per-task files")
    add_common_arguments(parser)
    parser.add_argument("--name", help="system name in the report (default: the run file name)")


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


def task_runs(path: Path, tasks: list[str]) -> dict[str, Run]:
    """The run of each task, from a combined file, a one-task file or a folder."""
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


def run(args: argparse.Namespace) -> int:
    tasks = resolve_tasks(args)
    path = Path(args.run_path)
    if not path.exists():
        raise UserError(f"{path}: run file or folder not found")
    runs_by_task = task_runs(path, tasks)
    reports, found = contamination_check(args, tasks)
    if found and args.strict:
        logger.error("--strict: contamination found, scores are not reported")
        return CONTAMINATED_EXIT
    system = args.name or path.name
    results = {
        "system": system,
        "bright": args.bright,
        "revision": args.revision if args.bright == "hub" else None,
        "long": args.long,
        "instructions": None,
        "instruction_family": None,
        "depth": args.depth,
        "tasks": {},
    }
    per_query: dict = {}
    runs = []
    for task in tasks:
        examples = data.load_examples(task, args.bright, args.revision)
        known = {example.id for example in examples}
        task_run = runs_by_task[task]
        unknown = [q for q in task_run.query_ids if q not in known]
        if unknown:
            logger.warning(
                "%s: %d run queries are not %s test queries (ignored), e.g. %r",
                path,
                len(unknown),
                task,
                unknown[0],
            )
        task_run = apply_protocol(
            task_run.select(sorted(known)), {e.id: e.excluded for e in examples}, args.depth
        )
        table = evaluate(task_run, data.task_qrels(examples, args.long), depth=args.depth)
        summary = task_summary(table)
        if summary["n_queries_without_results"]:
            logger.warning(
                "%s: %d of %d %s queries have no results in the run (scored 0)",
                path,
                summary["n_queries_without_results"],
                summary["n_queries"],
                task,
            )
        results["tasks"][task] = summary
        per_query[task] = table.per_query()
        runs.append(task_run.with_task_prefix(task))
    return finish(args, results, per_query, runs, reports)

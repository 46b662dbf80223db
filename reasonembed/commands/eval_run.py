"""`reasonembed eval-run RUN`: score a TREC run file with the evaluator's protocol and metrics
(`reasonembed.eval.evaluate`).

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
from pathlib import Path

from reasonembed.commands.eval import CONTAMINATED_EXIT, add_common_arguments, check_contamination
from reasonembed.eval.evaluate import read_task_runs, resolve_tasks, score_task_runs, write_results
from reasonembed.eval.task import bright_task


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_path", metavar="RUN", help="TREC run file or folder of per-task files")
    add_common_arguments(parser)
    parser.add_argument("--name", help="system name in the report (default: the run file name)")


def run(args: argparse.Namespace) -> int:
    tasks = resolve_tasks(args.tasks, args.long, args.depth)
    path = Path(args.run_path)
    runs_by_task = read_task_runs(path, tasks)
    # the guard reads each task's documents (gold texts): only when it runs
    loaded = (
        [bright_task(task, args.bright, args.revision, args.long) for task in tasks]
        if args.train_data
        else []
    )
    reports, refused = check_contamination(args, loaded)
    if refused:
        return CONTAMINATED_EXIT
    results, per_query, runs = score_task_runs(
        runs_by_task,
        args.name or path.name,
        args.bright,
        args.revision,
        long=args.long,
        depth=args.depth,
        where=path,
    )
    write_results(results, per_query, runs, reports, args.long, args.output)
    return 0

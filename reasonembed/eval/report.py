"""Evaluation reports: the on-screen table, `results.json` and `results.md`.

Metric values are fractions in [0, 1] in JSON; tables show them x100 (as BRIGHT papers do).
The mean is the unweighted mean over the evaluated tasks; `complete` says whether those are all
12 BRIGHT tasks (8 in long-document mode), i.e. whether the mean is comparable with a leaderboard.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from reasonembed.eval.metrics import MetricTable

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
PER_QUERY_JSON = "per_query.json"


def task_summary(table: MetricTable) -> dict:
    """Means of one task plus its query counts."""
    summary = {name: round(value, 6) for name, value in table.mean().items()}
    summary["n_queries"] = len(table.query_ids)
    summary["n_queries_without_results"] = int((table.retrieved == 0).sum())
    return summary


def mean_over_tasks(tasks: dict[str, dict], metrics: Sequence[str]) -> dict[str, float]:
    """Unweighted mean over tasks of each metric."""
    if not tasks:
        return {}
    return {
        name: round(sum(task[name] for task in tasks.values()) / len(tasks), 6) for name in metrics
    }


def format_table(results: dict, metrics: Sequence[str]) -> list[list[str]]:
    rows = [["task", *metrics, "queries"]]
    for task, summary in results["tasks"].items():
        rows.append(
            [task, *(f"{100 * summary[m]:.2f}" for m in metrics), str(summary["n_queries"])]
        )
    if results.get("mean"):
        total = sum(summary["n_queries"] for summary in results["tasks"].values())
        label = "mean (12 tasks)" if results.get("complete") else "mean (subset)"
        if results.get("beir"):
            label = "mean"
        rows.append([label, *(f"{100 * results['mean'][m]:.2f}" for m in metrics), str(total)])
    return rows


def render_text(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(results: dict, rows: list[list[str]]) -> str:
    data = (
        f"- data: {results.get('bright')} (revision {results.get('revision')}), "
        f"{'long' if results.get('long') else 'short'} documents"
    )
    if results.get("beir"):
        data = "- data: BEIR-format sets " + ", ".join(
            f"{name} ({set_['path']}, split {set_['split']})"
            for name, set_ in results["beir"].items()
        )
    head = [
        f"# {'BEIR-format' if results.get('beir') else 'BRIGHT'} evaluation: "
        f"{results.get('system', '?')}",
        "",
        data,
        f"- instructions: {results.get('instructions')} ({results.get('instruction_family')})"
        + (f", max length {results['max_length']}" if results.get("max_length") else "")
        + (f", settings from {results['settings_from']}" if results.get("settings_from") else ""),
        f"- protocol: excluded ids removed, top {results.get('depth')} kept, trec_eval ranking; "
        "values x100",
        "",
        "| " + " | ".join(rows[0]) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + "|",
    ]
    body = ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(head + body) + "\n"


def write_report(
    results: dict, per_query: dict, output: str | Path, metrics: Sequence[str]
) -> None:
    """Write results.json, results.md and per_query.json into `output`."""
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RESULTS_JSON).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (folder / RESULTS_MD).write_text(render_markdown(results, format_table(results, metrics)))
    (folder / PER_QUERY_JSON).write_text(json.dumps(per_query, ensure_ascii=False) + "\n")

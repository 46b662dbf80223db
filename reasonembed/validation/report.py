"""The report of a validation (reasonembed.validation): validation.md, the ndcg.png chart, and
writing them with validation.json; the table printed on the terminal."""

from __future__ import annotations

import math
from pathlib import Path

from reasonembed.data.output import write_json, write_text
from reasonembed.data.output_folder import VALIDATION_FILE
from reasonembed.eval.report import render_text
from reasonembed.validation import BASE, CONTROL, INFONCE, MEAN_COLUMN, RI_INFONCE

MARKDOWN_FILE = "validation.md"
CHART_FILE = "ndcg.png"
COLORS = {BASE: "#9e9e9e", INFONCE: "#4c78a8", RI_INFONCE: "#1b3a6b", CONTROL: "#e45756"}


def render_markdown(result: dict) -> str:
    """validation.md: the setup, a contamination warning if any, the table and the chart."""
    rows = result["rows"]
    columns = list(dict.fromkeys(column for row in rows for column in row))
    numeric = {column for row in rows for column, v in row.items() if isinstance(v, (int, float))}
    setup = result["setup"]
    lines = [
        f"# Validation: train on the data, evaluate on {evaluated_on(setup)}",
        "",
        f"- data: `{setup['data']}`",
        f"- base model: `{setup['model']}`; {setup['steps']} training steps per trained row, "
        f"seed {setup['seed']}",
        evaluation_line(setup),
        f"- query instructions: {setup['instructions']}, max length "
        f"{setup.get('eval_max_length') or 'the model default'} (the same for every row); "
        "nDCG@10 x100, mean = unweighted mean over the tasks",
        f"- doc-as-positive control: {result['control']['reason']}",
        f"- wall time: {result['timings_s']['total']:.0f} s",
        "",
    ]
    if result["contamination"]["found"]:
        lines += [
            "**Contamination found and allowed (--allow-contamination)**: the training data "
            "overlaps the test tasks, so these scores overstate the data's quality. "
            "See `contamination` in validation.json.",
            "",
        ]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---:" if c in numeric else "---" for c in columns) + "|")
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(column, "")) for column in columns) + " |")
    lines += ["", f"![nDCG@10 per task]({CHART_FILE})", ""]
    return "\n".join(lines)


def evaluated_on(setup: dict) -> str:
    """'BRIGHT', or 'BEIR-format sets a, b' (the user's own)."""
    if setup.get("beir"):
        return "BEIR-format sets " + ", ".join(setup["beir"])
    return "BRIGHT"


def evaluation_line(setup: dict) -> str:
    """The setup's line on the evaluation data."""
    if setup.get("beir"):
        return "- BEIR-format sets: " + "; ".join(
            f"{name} (`{s['path']}`, split {s['split']}, instruction of domain {s['domain']})"
            for name, s in setup["beir"].items()
        )
    return (
        f"- BRIGHT: `{setup['bright']}`"
        + (f" (revision `{setup['revision']}`)" if setup["bright"] == "hub" else "")
        + f", tasks: {', '.join(setup['tasks'])}"
        + ("" if setup["complete"] else " (a subset: the mean is not a leaderboard figure)")
    )


def plot_chart(result: dict, path: Path) -> None:
    """Grouped bars: one group per task plus the mean, one bar per available row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = result["setup"]["tasks"]
    groups = [*tasks, "mean"]
    rows = [row for row in result["rows"] if MEAN_COLUMN in row]
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) + 2.5), 4.6))
    top = 0.0
    for index, row in enumerate(rows):
        values = [row[task] for task in tasks] + [row[MEAN_COLUMN]]
        top = max(top, *values)
        xs = [group + (index - (len(rows) - 1) / 2) * width for group in range(len(groups))]
        bars = ax.bar(xs, values, width * 0.95, label=row["model"], color=COLORS[row["model"]])
        ax.bar_label(
            bars,
            labels=[f"{v:.1f}" for v in values],
            fontsize=7 if len(groups) <= 5 else 6,
            padding=1,
            rotation=90 if len(groups) > 5 else 0,
        )
    unavailable = [row["model"] for row in result["rows"] if MEAN_COLUMN not in row]
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g.replace("_", "\n") for g in groups], fontsize=9)
    ax.set_ylabel("nDCG@10 (x100)")
    ax.set_ylim(0, max(10.0, math.ceil((top * 1.1 + 3) / 5) * 5))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    setup = result["setup"]
    title = f"{setup['model']}: untouched vs trained {setup['steps']} steps on {setup['data_name']}"
    if unavailable:
        title += f"\n({', '.join(unavailable)} unavailable: see validation.md)"
    if result["contamination"]["found"]:
        title += "\nCONTAMINATED: training data overlaps the test tasks"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def write_outputs(result: dict, output: Path) -> list[Path]:
    """Write validation.json, validation.md and ndcg.png of `result` into `output`; their paths."""
    output.mkdir(parents=True, exist_ok=True)
    write_json(result, output / VALIDATION_FILE)
    write_text(render_markdown(result), output / MARKDOWN_FILE)
    plot_chart(result, output / CHART_FILE)
    return [output / VALIDATION_FILE, output / MARKDOWN_FILE, output / CHART_FILE]


def print_table(rows: list[dict]) -> None:
    """The table's rows on the terminal (without their notes)."""
    columns = [c for c in dict.fromkeys(c for row in rows for c in row) if c != "note"]
    print(render_text([columns, *[[str(row.get(c, "")) for c in columns] for row in rows]]))

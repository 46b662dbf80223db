"""`reasonembed validate`: prove a dataset's quality by training on it and evaluating on BRIGHT.

    reasonembed validate --data DIR|FILE|REPO[@REV] --model BASE --tasks biology,leetcode \\
        [--bright hub|PATH] [--steps N] [--output DIR] [--allow-contamination]

One run scores four rows on the same tasks, with the same protocol and query instructions:

    base             BASE untouched
    infonce          BASE trained on the data, plain InfoNCE
    ri-infonce       BASE trained on the data, RI-weighted InfoNCE (Redapter)
    doc-as-positive  BASE trained with plain InfoNCE on the same queries, negatives and batch
                     settings, with each query's source document (`source_text` of the `raw`
                     config) as its only positive: the trivial synthesis that ReMixer's removal of
                     the source document is meant to beat. Compare it with the `infonce` row.
                     Unavailable (and the report says why) when the data has no raw config.

Before any training, the evaluator's contamination guard compares every training query and
document (the control's included) with the tasks' test queries and gold documents. On overlap the
command prints the overlap and exits with status 3, unless --allow-contamination; the report then
says so in every row.

Outputs, in OUTPUT (default DATA/validation/ for a local DATA folder, where the next
`reasonembed publish` picks them up for the dataset card):

    validation.json  {"rows": [...], ...}: `rows` are the card's table, one flat dict per row,
                     nDCG@10 x100 (2 decimals) per task and their unweighted mean; `evaluation`
                     holds every metric as fractions; `training`, `contamination`, `control`,
                     `timings_s` the rest
    validation.md    setup, the table and notes
    ndcg.png         bar chart of nDCG@10 per task and the mean, one bar per row

Evaluation settings: every row is evaluated with the query instructions and token limit that the
trained models record (`reasonembed.json`, see `eval.model_settings`), so a kept model folder gets
the same nDCG from `reasonembed eval --model FOLDER` as in this report.

Determinism: training is seeded (batch plan, passage sampling, dropout) and the search is exact,
so the same seed gives the same numbers on the same machine. Trained models live in a temporary
folder unless --keep-models DIR.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from reasonembed.data_source import download_hub_dataset, is_repo_id, load_training_rows
from reasonembed.errors import UserError

logger = logging.getLogger(__name__)

BASE, INFONCE, RI_INFONCE, CONTROL = "base", "infonce", "ri-infonce", "doc-as-positive"
ROW_NAMES = (BASE, INFONCE, RI_INFONCE, CONTROL)
RAW_CONFIG = "raw"
RAW_COLUMNS = ["domain", "query", "source_text"]
VALIDATION_DIR = "validation"
JSON_FILE = "validation.json"
MARKDOWN_FILE = "validation.md"
CHART_FILE = "ndcg.png"
MEAN_COLUMN = "mean nDCG@10"
DEFAULT_STEPS = 300
COLORS = {BASE: "#9e9e9e", INFONCE: "#4c78a8", RI_INFONCE: "#1b3a6b", CONTROL: "#e45756"}
POSITIVES = {
    BASE: "-",
    INFONCE: "annotated (data)",
    RI_INFONCE: "annotated (data)",
    CONTROL: "source document",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from reasonembed.eval.bright import DEFAULT_REVISION
    from reasonembed.eval.instructions import MODES
    from reasonembed.eval.model_settings import AUTO

    parser.add_argument(
        "--data",
        required=True,
        help="a `reasonembed generate` output folder (its raw config enables the doc-as-positive "
        "control), a folder or file of reasonembed-format jsonl/parquet, or a Hub dataset "
        "OWNER/NAME[@REVISION]",
    )
    parser.add_argument("--model", default="minilm", help="base model: folder, alias or Hub id")
    parser.add_argument(
        "--tasks", required=True, help="comma-separated BRIGHT tasks, or 'all' (12 tasks)"
    )
    parser.add_argument(
        "--bright", default="hub", help="'hub' (xlangai/BRIGHT) or a local folder, same layout"
    )
    parser.add_argument("--revision", default=DEFAULT_REVISION, help="BRIGHT Hub revision")
    parser.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS, help="training steps per trained model"
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
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--batch-scale",
        type=float,
        default=1.0,
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
    parser.add_argument("--lora", choices=("auto", "on", "off"), default="auto")
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
        default=AUTO,
        help="query instructions at evaluation, the same for every row (default auto: what the "
        "trained models record, their training instructions `Instruct: ...\\nQuery: `)",
    )
    parser.add_argument("--eval-batch-size", type=int, default=32)
    parser.add_argument(
        "--contamination-model",
        help="also match paraphrased queries by embeddings with this model (e.g. minilm)",
    )
    parser.add_argument(
        "--keep-models", help="new or empty folder to keep the trained models in (default: temp)"
    )
    parser.add_argument("--device", help="cpu, cuda, ... (default: cuda when available)")


# --- data ----------------------------------------------------------------------------------
@dataclass
class Control:
    """The doc-as-positive training rows, or why there are none."""

    rows: list[dict] | None
    reason: str  # how the rows were built, or why the control is unavailable

    @property
    def available(self) -> bool:
        return self.rows is not None


def resolve_data(spec: str) -> Path:
    """A local path for `spec`; a Hub id is downloaded (reasonembed and raw files)."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if is_repo_id(spec):
        return download_hub_dataset(spec, extra_patterns=(f"{RAW_CONFIG}/*.parquet",))
    raise UserError(
        f"--data {spec!r} is neither an existing file or folder nor a Hub repo id "
        "(owner/name[@revision])"
    )


def default_output(spec: str, output: str | None) -> Path:
    if output:
        return Path(output)
    path = Path(spec).expanduser()
    if path.is_dir():
        return path / VALIDATION_DIR
    raise UserError(
        f"--data {spec}: not a local folder, so there is no default output folder; pass --output"
    )


def doc_as_positive_rows(rows: list[dict], data_path: Path) -> Control:
    """The training rows with each query's source document as its only positive.

    Source documents come from the raw config (`raw/*.parquet`: domain, query, source_text),
    matched to training rows by (domain, query). Rows without a match are left out.
    """
    raw_folder = data_path / RAW_CONFIG if data_path.is_dir() else None
    files = sorted(raw_folder.glob("*.parquet")) if raw_folder and raw_folder.is_dir() else []
    if not files:
        return Control(
            None,
            f"the data ({data_path}) has no raw config (raw/*.parquet of a `reasonembed generate` "
            "output folder), which holds each query's source document (`source_text`)",
        )
    source_of: dict[tuple[str, str], str] = {}
    for file in files:
        names = set(pq.ParquetFile(file).schema_arrow.names)
        missing = [column for column in RAW_COLUMNS if column not in names]
        if missing:
            return Control(None, f"{file}: the raw config lacks column(s) {missing}")
        table = pq.read_table(file, columns=RAW_COLUMNS).to_pylist()
        for item in table:
            if item["source_text"] and item["source_text"].strip():
                source_of.setdefault((item["domain"], item["query"]), item["source_text"])
    control = [
        {**row, "pos": [source_of[(row["domain"], row["query"])]]}
        for row in rows
        if (row["domain"], row["query"]) in source_of
    ]
    if not control:
        return Control(
            None,
            f"no training query of {data_path} was found in its raw config (matched by domain "
            "and query text), so no source document is known",
        )
    left_out = len(rows) - len(control)
    reason = f"{len(control)} queries, source document as the only positive"
    if left_out:
        reason += f" ({left_out} queries without a raw source document left out)"
        logger.warning("doc-as-positive control: %d queries have no raw source text", left_out)
    return Control(control, reason)


# --- contamination -------------------------------------------------------------------------
def check_contamination(rows: list[dict], spec: str, task_data: dict, model: str | None) -> list:
    """The guard's per-task reports over `rows` (every row any model trains on)."""
    from reasonembed.eval.contamination import ContaminationGuard, TrainingData

    encoder = None
    if model:
        from reasonembed.retrieval import Encoder

        encoder = Encoder(model)
    guard = ContaminationGuard(TrainingData.from_rows(rows, spec), encoder=encoder)
    return [
        guard.check_task(task, examples, documents)
        for task, (examples, documents) in task_data.items()
    ]


# --- training and evaluation ---------------------------------------------------------------
def train_configs(args: argparse.Namespace, rows: list[dict], control: Control, models: Path):
    """{row name: TrainConfig} of the trained rows (the control only when available)."""
    from reasonembed.train.loop import TrainConfig

    ri_start = args.ri_start_step if args.ri_start_step is not None else min(100, args.steps // 3)
    common = dict(
        model=args.model,
        max_steps=args.steps,
        seed=args.seed,
        batch_scale=args.batch_scale,
        chunk_size=args.chunk_size,
        group_size=args.group_size,
        learning_rate=args.learning_rate,
        ri_start_step=ri_start,
        lora=args.lora,
        max_length=args.max_length,
        eval_max_length=args.eval_max_length,
        device=args.device,
        save_steps=0,
        save_total_limit=1,
        resume=False,
    )
    configs = {
        INFONCE: TrainConfig(output=models / INFONCE, rows=rows, loss="infonce", **common),
        RI_INFONCE: TrainConfig(output=models / RI_INFONCE, rows=rows, loss="ri-infonce", **common),
    }
    if control.available:
        configs[CONTROL] = TrainConfig(
            output=models / CONTROL, rows=control.rows, loss="infonce", **common
        )
    return configs


def train_one(config) -> dict:
    """Train one model; its folder, seconds and last logged plain InfoNCE."""
    from reasonembed.train.loop import CHECKPOINTS, LOG_FILE, train

    started = time.perf_counter()
    folder = train(config)
    seconds = time.perf_counter() - started
    shutil.rmtree(folder / CHECKPOINTS, ignore_errors=True)  # never resumed: weights only
    log = [json.loads(line) for line in (folder / LOG_FILE).read_text().splitlines() if line]
    return {
        "path": str(folder),
        "loss": config.loss,
        "steps": config.max_steps,
        "ri_start_step": config.ri_start_step if config.loss == "ri-infonce" else None,
        "train_rows": len(config.rows),
        "seconds": round(seconds, 2),
        "first_infonce": log[0]["infonce"] if log else None,
        "last_infonce": log[-1]["infonce"] if log else None,
    }


def evaluate_row(
    model: str, settings, task_data: dict, batch_size: int = 32, device: str | None = None
) -> tuple[dict, float]:
    """{task: summary} of one model under `settings` (an `EvalSettings`), and the seconds it
    took. `reasonembed eval` evaluates a folder the same way (`evaluate_model`)."""
    from reasonembed.eval.command import evaluate_model
    from reasonembed.retrieval import Encoder

    started = time.perf_counter()
    encoder = Encoder(model, max_length=settings.max_length, device=device)
    summaries = evaluate_model(
        encoder,
        task_data,
        instructions=settings.instructions,
        family="none",
        batch_size=batch_size,
        query_template=settings.query_template,
    )
    return summaries, time.perf_counter() - started


# --- report --------------------------------------------------------------------------------
def table_rows(
    evaluation: dict[str, dict],
    tasks: list[str],
    steps: int,
    control: Control,
    contaminated: bool,
) -> list[dict]:
    """The card's table: one flat dict per row, nDCG@10 x100 rounded to 2 decimals."""
    rows = []
    for name in ROW_NAMES:
        row = {
            "model": name,
            "positives": POSITIVES[name],
            "loss": "-" if name == BASE else ("infonce" if name == CONTROL else name),
            "steps": 0 if name == BASE else steps,
        }
        if name in evaluation:
            scores = [100 * evaluation[name][task]["ndcg@10"] for task in tasks]
            row[MEAN_COLUMN] = round(sum(scores) / len(scores), 2)
            row.update({task: round(score, 2) for task, score in zip(tasks, scores, strict=True)})
        else:
            row["steps"] = 0
            row["note"] = f"unavailable: {control.reason}"
        if contaminated:
            row["contamination"] = "FOUND (allowed)"
        rows.append(row)
    return rows


def render_markdown(result: dict) -> str:
    rows = result["rows"]
    columns = list(dict.fromkeys(column for row in rows for column in row))
    numeric = {column for row in rows for column, v in row.items() if isinstance(v, (int, float))}
    setup = result["setup"]
    lines = [
        "# Validation: train on the data, evaluate on BRIGHT",
        "",
        f"- data: `{setup['data']}`",
        f"- base model: `{setup['model']}`; {setup['steps']} training steps per trained row, "
        f"seed {setup['seed']}",
        f"- BRIGHT: `{setup['bright']}`"
        + (f" (revision `{setup['revision']}`)" if setup["bright"] == "hub" else "")
        + f", tasks: {', '.join(setup['tasks'])}"
        + ("" if setup["complete"] else " (a subset: the mean is not a leaderboard figure)"),
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
    from reasonembed.output import write_json, write_text

    output.mkdir(parents=True, exist_ok=True)
    write_json(result, output / JSON_FILE)
    write_text(render_markdown(result), output / MARKDOWN_FILE)
    plot_chart(result, output / CHART_FILE)
    return [output / JSON_FILE, output / MARKDOWN_FILE, output / CHART_FILE]


def print_table(rows: list[dict]) -> None:
    from reasonembed.eval.report import render_text

    columns = [c for c in dict.fromkeys(c for row in rows for c in row) if c != "note"]
    print(render_text([columns, *[[str(row.get(c, "")) for c in columns] for row in rows]]))


# --- the command ---------------------------------------------------------------------------
def prepare_models_dir(keep: str | None) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    if keep is None:
        temporary = tempfile.TemporaryDirectory(prefix="reasonembed-validate-")
        return Path(temporary.name), temporary
    folder = Path(keep)
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"--keep-models {folder}: folder is not empty; give a new or empty one")
    folder.mkdir(parents=True, exist_ok=True)
    return folder, None


def run(args: argparse.Namespace) -> int:
    from reasonembed.eval import bright
    from reasonembed.eval.command import CONTAMINATED_EXIT
    from reasonembed.eval.contamination import contamination_rows
    from reasonembed.eval.model_settings import resolve_eval_settings
    from reasonembed.eval.report import render_text

    started = time.perf_counter()
    if args.steps < 1:
        raise UserError(f"--steps must be >= 1, got {args.steps}")
    tasks = bright.parse_tasks(args.tasks)
    output = default_output(args.data, args.output)
    data_path = resolve_data(args.data)
    rows = load_training_rows(str(data_path))
    control = doc_as_positive_rows(rows, data_path)
    if not control.available:
        logger.warning("doc-as-positive control unavailable: %s", control.reason)

    task_data = {
        task: (
            bright.load_examples(task, args.bright, args.revision),
            bright.load_documents(task, args.bright, args.revision),
        )
        for task in tasks
    }
    reports = check_contamination(
        rows + (control.rows or []), args.data, task_data, args.contamination_model
    )
    found = any(report.found for report in reports)
    print(f"Contamination check of {args.data} against {', '.join(tasks)}:")
    print(render_text(contamination_rows(reports)))
    if found and not args.allow_contamination:
        logger.error(
            "the training data overlaps the test tasks (table above): refusing to score. Remove "
            "the overlapping rows, or pass --allow-contamination to score anyway (the report "
            "then says so)"
        )
        return CONTAMINATED_EXIT
    if found:
        logger.warning("contamination found; scoring anyway (--allow-contamination)")

    models_dir, temporary = prepare_models_dir(args.keep_models)
    try:
        training = {
            name: train_one(config)
            for name, config in train_configs(args, rows, control, models_dir).items()
        }
        paths = {BASE: args.model, **{name: info["path"] for name, info in training.items()}}
        # what the trained models record (the same for all of them) applies to every row
        settings = resolve_eval_settings(training[INFONCE]["path"], args.instructions)
        evaluation: dict[str, dict] = {}
        eval_seconds: dict[str, float] = {}
        for name, path in paths.items():
            logger.info("evaluating %s (%s)", name, path)
            evaluation[name], eval_seconds[name] = evaluate_row(
                path, settings, task_data, args.eval_batch_size, args.device
            )
    finally:
        if temporary is not None:
            temporary.cleanup()
    if temporary is not None:
        for info in training.values():
            info["path"] = None  # removed with the temporary folder

    result = {
        "rows": table_rows(evaluation, tasks, args.steps, control, found),
        "metric": "nDCG@10 x100 (rows); fractions in `evaluation`",
        "setup": {
            "data": args.data,
            "data_name": Path(args.data.rstrip("/")).name or args.data,
            "model": args.model,
            "tasks": tasks,
            "complete": set(tasks) == set(bright.BRIGHT_TASKS),
            "bright": args.bright,
            "revision": args.revision if args.bright == "hub" else None,
            "instructions": settings.instructions,
            "query_template": settings.query_template,
            "eval_max_length": settings.max_length,
            "batch_scale": args.batch_scale,
            "steps": args.steps,
            "seed": args.seed,
            "training_rows": len(rows),
        },
        "control": {
            "available": control.available,
            "reason": control.reason,
            "rows": len(control.rows or []),
        },
        "contamination": {
            "found": found,
            "allowed": bool(found and args.allow_contamination),
            "tasks": [{**vars(report), "found": report.found} for report in reports],
        },
        "training": training,
        "evaluation": evaluation,
        "timings_s": {
            "train": {name: info["seconds"] for name, info in training.items()},
            "evaluate": {name: round(seconds, 2) for name, seconds in eval_seconds.items()},
            "total": round(time.perf_counter() - started, 2),
        },
    }
    written = write_outputs(result, output)
    print()
    print_table(result["rows"])
    print(f"\nwrote {', '.join(str(path) for path in written)}")
    return 0

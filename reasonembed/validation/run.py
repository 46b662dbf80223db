"""The orchestration of a validation (see reasonembed.validation): the data and its control, the
contamination check, the training configs, training and evaluating each row, the table's rows,
and the result written by reasonembed.validation.report (`validate`)."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from reasonembed.bright import data as bright_data
from reasonembed.data.data_source import download_hub_dataset, is_repo_id, load_training_rows
from reasonembed.data.output_folder import RAW, OutputFolder, config_glob
from reasonembed.errors import UserError
from reasonembed.retrieval.model_settings import AUTO
from reasonembed.validation import BASE, CONTROL, INFONCE, MEAN_COLUMN, RI_INFONCE, ROW_NAMES
from reasonembed.validation.control import Control, doc_as_positive_rows
from reasonembed.validation.report import write_outputs

logger = logging.getLogger(__name__)

DEFAULT_STEPS = 300
POSITIVES = {
    BASE: "-",
    INFONCE: "annotated (data)",
    RI_INFONCE: "annotated (data)",
    CONTROL: "source document",
}


@dataclass
class ValidationConfig:
    """What one validation does; the fields are `reasonembed validate`'s options."""

    data: str  # a generate output folder, a folder or file of reasonembed rows, or a Hub id
    tasks: str | None  # comma-separated BRIGHT tasks, or 'all' (or None with eval_set)
    model: str = "minilm"  # the base model
    bright: str = "hub"
    revision: str = bright_data.DEFAULT_REVISION
    steps: int = DEFAULT_STEPS  # training steps per trained model
    output: str | None = None  # default: DATA/validation for a local DATA folder
    allow_contamination: bool = False
    seed: int = 42
    batch_scale: float = 1.0
    chunk_size: int | None = None
    group_size: int | None = None
    learning_rate: float | None = None
    ri_start_step: int | None = None  # default: min(100, steps // 3)
    lora: str = "auto"
    max_length: int | None = None
    eval_max_length: int | None = None
    instructions: str = AUTO
    eval_batch_size: int = 32
    contamination_model: str | None = None
    keep_models: str | None = None  # new or empty folder for the trained models (default: temp)
    device: str | None = None
    eval_set: str | None = None  # beir:PATH[=DOMAIN],... instead of BRIGHT tasks
    split: str = "test"  # the BEIR sets' qrels split
    instruction: str | None = None  # the BEIR sets' query instruction (default: the domain's)


@dataclass
class Validated:
    """A finished validation: validation.json's content and the files written."""

    result: dict
    written: list[Path]


# --- data ----------------------------------------------------------------------------------
def resolve_data(spec: str) -> Path:
    """A local path for `spec`; a Hub id is downloaded (reasonembed and raw files)."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if is_repo_id(spec):
        return download_hub_dataset(spec, extra_patterns=(config_glob(RAW),))
    raise UserError(
        f"--data {spec!r} is neither an existing file or folder nor a Hub repo id "
        "(owner/name[@revision])"
    )


def default_output(spec: str, output: str | None) -> Path:
    if output:
        return Path(output)
    path = Path(spec).expanduser()
    if path.is_dir():
        return OutputFolder(path).validation_dir
    raise UserError(
        f"--data {spec}: not a local folder, so there is no default output folder; pass --output"
    )


# --- contamination -------------------------------------------------------------------------
def check_contamination(rows: list[dict], spec: str, task_data: list, model: str | None) -> list:
    """The guard's per-task reports over `rows` (every row any model trains on)."""
    from reasonembed.eval.contamination import ContaminationGuard, TrainingData

    encoder = None
    if model:
        from reasonembed.retrieval import Encoder

        encoder = Encoder(model)
    guard = ContaminationGuard(TrainingData.from_rows(rows, spec), encoder=encoder)
    return [guard.check_task(task) for task in task_data]


# --- training and evaluation ---------------------------------------------------------------
def train_configs(config: ValidationConfig, rows: list[dict], control: Control, models: Path):
    """{row name: TrainConfig} of the trained rows (the control only when available)."""
    from reasonembed.train.config import TrainConfig

    steps = config.steps
    ri_start = config.ri_start_step if config.ri_start_step is not None else min(100, steps // 3)
    common = dict(
        model=config.model,
        max_steps=steps,
        seed=config.seed,
        batch_scale=config.batch_scale,
        chunk_size=config.chunk_size,
        group_size=config.group_size,
        learning_rate=config.learning_rate,
        ri_start_step=ri_start,
        lora=config.lora,
        max_length=config.max_length,
        eval_max_length=config.eval_max_length,
        device=config.device,
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
    from reasonembed.train.checkpoints import CHECKPOINTS
    from reasonembed.train.loop import LOG_FILE, train

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
    model: str, settings, task_data: list, batch_size: int = 32, device: str | None = None
) -> tuple[dict, float]:
    """{task: summary} of one model on `task_data` (`EvalTask`s) under `settings` (an
    `EvalSettings`), and the seconds it
    took. `reasonembed eval` evaluates a folder the same way (`evaluate_model`)."""
    from reasonembed.eval.evaluate import evaluate_model
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


# --- the whole run -------------------------------------------------------------------------
def prepare_models_dir(keep: str | None) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    if keep is None:
        temporary = tempfile.TemporaryDirectory(prefix="reasonembed-validate-")
        return Path(temporary.name), temporary
    folder = Path(keep)
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"--keep-models {folder}: folder is not empty; give a new or empty one")
    folder.mkdir(parents=True, exist_ok=True)
    return folder, None


def validate(config: ValidationConfig) -> Validated | None:
    """Check, train, evaluate and write the report; None when contamination was found and not
    allowed (the overlap is printed and logged, nothing is trained or written)."""
    from reasonembed.eval.contamination import contamination_rows
    from reasonembed.eval.report import render_text
    from reasonembed.retrieval.model_settings import resolve_eval_settings
    from reasonembed.validation.sets import load_eval_tasks

    started = time.perf_counter()
    if config.steps < 1:
        raise UserError(f"--steps must be >= 1, got {config.steps}")
    output = default_output(config.data, config.output)
    data_path = resolve_data(config.data)
    rows = load_training_rows(str(data_path))
    control = doc_as_positive_rows(rows, data_path)
    if not control.available:
        logger.warning("doc-as-positive control unavailable: %s", control.reason)

    task_data, evaluated_on = load_eval_tasks(config, rows)
    tasks = [task.name for task in task_data]
    reports = check_contamination(
        rows + (control.rows or []), config.data, task_data, config.contamination_model
    )
    found = any(report.found for report in reports)
    print(f"Contamination check of {config.data} against {', '.join(tasks)}:")
    print(render_text(contamination_rows(reports)))
    if found and not config.allow_contamination:
        logger.error(
            "the training data overlaps the test tasks (table above): refusing to score. Remove "
            "the overlapping rows, or pass --allow-contamination to score anyway (the report "
            "then says so)"
        )
        return None
    if found:
        logger.warning("contamination found; scoring anyway (--allow-contamination)")

    models_dir, temporary = prepare_models_dir(config.keep_models)
    try:
        training = {
            name: train_one(train_config)
            for name, train_config in train_configs(config, rows, control, models_dir).items()
        }
        paths = {BASE: config.model, **{name: info["path"] for name, info in training.items()}}
        # what the trained models record (the same for all of them) applies to every row
        settings = resolve_eval_settings(training[INFONCE]["path"], config.instructions)
        evaluation: dict[str, dict] = {}
        eval_seconds: dict[str, float] = {}
        for name, path in paths.items():
            logger.info("evaluating %s (%s)", name, path)
            evaluation[name], eval_seconds[name] = evaluate_row(
                path, settings, task_data, config.eval_batch_size, config.device
            )
    finally:
        if temporary is not None:
            temporary.cleanup()
    if temporary is not None:
        for info in training.values():
            info["path"] = None  # removed with the temporary folder

    result = {
        "rows": table_rows(evaluation, tasks, config.steps, control, found),
        "metric": "nDCG@10 x100 (rows); fractions in `evaluation`",
        "setup": {
            "data": config.data,
            "data_name": Path(config.data.rstrip("/")).name or config.data,
            "model": config.model,
            "tasks": tasks,
            **evaluated_on,
            "instructions": settings.instructions,
            "query_template": settings.query_template,
            "eval_max_length": settings.max_length,
            "batch_scale": config.batch_scale,
            "steps": config.steps,
            "seed": config.seed,
            "training_rows": len(rows),
        },
        "control": {
            "available": control.available,
            "reason": control.reason,
            "rows": len(control.rows or []),
        },
        "contamination": {
            "found": found,
            "allowed": bool(found and config.allow_contamination),
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
    return Validated(result, write_outputs(result, output))

"""The state `reasonembed generate` keeps next to the caches between runs of one config.

    run_id, step_cache_ok = start_llm_run(config)
    pipeline.run(use_cache=use_cache and step_cache_ok)
    ...  # the output writer streams the leaf records: FunnelCounts
    llm_stats = finish_llm_run(config, run_id, counts)   # stats sections

`start_llm_run` sets the run id that every step process inherits (the usage ledger and the
budgets are per run) and says whether distilabel's step cache may be used. Not after a run that
deferred work (budget reached, servers down): the cache would replay the deferred rows. Not after
a run that never finished (killed, crashed): distilabel 1.5.3 writes its cached pipeline.yaml
in place, so a SIGKILL can leave it truncated, and every later run of that pipeline then fails
reading it (`KeyError: 'type_info'`, even with use_cache=False); a resume from its step cache
was also seen to sit idle for minutes. So in both cases the pipeline's distilabel cache folder is
removed here; the request cache still serves every request that completed, so nothing is paid
twice.

Two markers under `cache_dir`, per config hash: `running-{hash}.json` (written by
`start_llm_run`, removed by `finish_llm_run`: its presence tells the next run that this one did
not finish) and `partial-{hash}.json` (`mark_partial` / `is_partial` / `clear_partial`: the last
run deferred work, so queries with deferred rows were left out of its output and the next run
completes them).

`finish_llm_run` records or clears the partial-run marker and returns the stats sections:
`llm_usage`, `deferred` (rows, queries, reasons; `complete` False when the output is partial)
and `annotation_prompt_layout` (prompt tokens per judgement and the share of them that is a
prefix shared by the query's judgements, counted at 4 characters a token).

`llm_usage` is the record of the runs that produced an output folder (a re-run of the same
config into it adds to the record, `fold_usage`):

    run_id          this run (the last of `runs`)
    stages, roles, total
                    summed over `runs`: calls, requests (sent fresh), cached (answered by the
                    request cache), retries, failed, deferred, prompt/completion tokens and
                    cost_usd of the fresh requests; each stage also has its role and models
    runs            one entry per run, oldest first: run_id, started_at (UTC, ISO 8601; None for
                    a run recorded before this list existed), stages and total as above for that
                    run alone, each with `step_cache`: the answers its rows carry that no ledger
                    entry of that run accounts for (reused from distilabel's step cache). A run
                    of this config that was killed (or crashed) before writing any folder is in
                    the list of the run that follows it, with `finished: false`: the answers
                    that run took from the request cache were paid for by the killed one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reasonembed.config import FactoryConfig, config_hash
from reasonembed.factory.pipeline import distilabel_cache_dir, pacing_file_of, pipeline_name
from reasonembed.llms.base import ReasonEmbedLLM
from reasonembed.llms.prompt_layout import annotation_prefix_report, chars_per_token_counter
from reasonembed.llms.request_cache import RequestCache, request_cache_path
from reasonembed.llms.usage import COUNT_FIELDS, begin_run, role_of, usage_report
from reasonembed.steps.annotation import AnnotateRelevance
from reasonembed.steps.seed_gate import SeedGate

logger = logging.getLogger(__name__)


def start_llm_run(config: FactoryConfig) -> tuple[str, bool]:
    """(run id, whether distilabel's step cache may be used). Also creates the request cache
    and the seed gate's SQLite files: the step processes open them all at once when they load,
    and concurrent first opens of a new file race on switching it to WAL ("database is locked",
    seen as a failed step load in about one run in eight)."""
    RequestCache(request_cache_path(config.cache_dir))
    SeedGate(pacing_file_of(config))
    run_id = begin_run()
    marker = _running_marker(config)
    unfinished = marker.exists()
    partial = is_partial(config.cache_dir, config_hash(config))
    if unfinished or partial:
        folder = step_cache_folder(config)
        logger.warning(
            "the previous run of this config %s: removing distilabel's step cache %s "
            "(finished LLM requests still come from the request cache)",
            "did not finish" if unfinished else "deferred work",
            folder,
        )
        shutil.rmtree(folder, ignore_errors=True)
    unfinished_runs = _unfinished_runs(marker) if unfinished else []
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    _write_atomically(
        marker,
        json.dumps(
            {
                "run_id": run_id,
                "pid": os.getpid(),
                "started_at": started_at,
                "unfinished_runs": unfinished_runs,
            }
        ),
    )
    return run_id, not unfinished and not partial


def finish_llm_run(
    config: FactoryConfig,
    run_id: str,
    counts,
    earlier_usage: dict[str, Any] | None = None,
    started_at: str | None = None,
) -> dict[str, Any]:
    """Close the run: record or clear the partial-run marker and return the stats sections
    `llm_usage`, `deferred` and `annotation_prompt_layout`. `counts`: the output writer's
    FunnelCounts (deferred rows and reasons, the answers its rows carry per stage, the samples
    measured for prefix sharing). `earlier_usage`: the `llm_usage` of the folder this run
    re-runs into (same config), kept in the record; None for a new folder."""
    deferred_queries = counts.statuses.get("deferred", 0)
    deferred = {
        "deferred_rows": counts.deferred_rows,
        "deferred_queries": deferred_queries,
        "reasons": sorted(counts.deferred_reasons),
        "complete": deferred_queries == 0,
    }
    digest = config_hash(config)
    if deferred["complete"]:
        clear_partial(config.cache_dir, digest)
    else:
        mark_partial(config.cache_dir, digest, deferred)
    ledger = request_cache_path(config.cache_dir)
    killed = _killed_run_entries(ledger, _running_marker(config), run_id)
    _running_marker(config).unlink(missing_ok=True)
    return {
        "llm_usage": fold_usage(
            {"runs": earlier_runs(earlier_usage or {}) + killed},
            run_entry(usage_report(ledger, run_id), counts.answers, started_at),
        ),
        "deferred": deferred,
        "annotation_prompt_layout": annotation_layout(config, counts.layout_samples),
    }


def run_entry(
    report: dict[str, Any], answers: dict[str, int], started_at: str | None
) -> dict[str, Any]:
    """One run of `llm_usage.runs` from its `usage_report` and the answers its output rows carry
    per stage (`answers`): each stage's and the total's `step_cache` is what the rows carry
    beyond the answers the ledger accounts for this run (sent and answered, or cached)."""
    stages = {name: dict(stage) for name, stage in report["stages"].items()}
    for name, carried in answers.items():
        stage = stages.setdefault(name, {"role": role_of(name), "models": []})
        accounted = stage.get("requests", 0) - stage.get("failed", 0) + stage.get("cached", 0)
        stage["step_cache"] = max(0, carried - accounted)
    for stage in stages.values():
        stage.setdefault("step_cache", 0)
    total = {**report["total"], "step_cache": sum(s["step_cache"] for s in stages.values())}
    return {
        "run_id": report["run_id"],
        "started_at": started_at,
        "stages": dict(sorted(stages.items())),
        "total": total,
    }


def fold_usage(earlier: dict[str, Any] | None, run: dict[str, Any]) -> dict[str, Any]:
    """`llm_usage` of a folder: the runs of `earlier` (an `llm_usage` as stats.json holds it; one
    of a version without `runs` counts as one run), then `run`, with their sums."""
    runs = list(earlier_runs(earlier or {}))
    runs.append(run)
    stages: dict[str, dict[str, Any]] = {}
    roles: dict[str, dict[str, Any]] = {}
    total: dict[str, Any] = {}
    for entry in runs:
        for name, stage in entry.get("stages", {}).items():
            if "calls" not in stage:  # no ledger row in that run: nothing to add
                continue
            summed = stages.setdefault(name, {"role": stage.get("role"), "models": []})
            summed["models"] += [m for m in stage.get("models", []) if m not in summed["models"]]
            for bucket in (summed, roles.setdefault(stage.get("role") or "other", {}), total):
                for field in (*COUNT_FIELDS, "cost_usd"):
                    bucket[field] = bucket.get(field, 0) + (stage.get(field) or 0)
    for bucket in (*stages.values(), *roles.values(), total):
        if "cost_usd" in bucket:
            bucket["cost_usd"] = round(bucket["cost_usd"], 6)
    return {"run_id": run["run_id"], "stages": stages, "roles": roles, "total": total, "runs": runs}


def earlier_runs(usage: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs an earlier `llm_usage` records: its `runs`, or itself as one run when it has
    none (a stats.json written before runs were listed); [] when it records no run."""
    if isinstance(usage.get("runs"), list):
        return [run for run in usage["runs"] if isinstance(run, dict)]
    if not usage.get("run_id") and not usage.get("stages"):
        return []
    return [
        {
            "run_id": usage.get("run_id"),
            "started_at": None,
            "stages": usage.get("stages") or {},
            "total": usage.get("total") or {},
        }
    ]


def step_cache_folder(config: FactoryConfig) -> Path:
    """distilabel's cache folder of this config's pipeline."""
    return distilabel_cache_dir(config) / pipeline_name(config)


def remove_step_outputs(config: FactoryConfig) -> None:
    """Remove distilabel's cache folder of this config's pipeline (after a complete run: its
    outputs are in the output folder, and the request cache serves every LLM request again)."""
    folder = step_cache_folder(config)
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
        logger.info(
            "removed distilabel's step outputs %s (keep them with --keep-step-outputs)", folder
        )


def drop_step_outputs_of_other_executions(pipeline) -> None:
    """Keep distilabel's step cache only for an exact re-run of this pipeline.

    distilabel 1.5.3 shares per-step outputs (`steps_data`) between executions whose steps
    differ (an edited prompt template, a changed setting) and then can lose the leaf's output:
    seen here as a run with no `assemble_samples` files after an annotation template edit. When
    this execution is new, the shared outputs are removed; the LLM request cache still answers
    every request that completed, so nothing is paid twice.
    """
    location = pipeline._cache_location
    steps_data = Path(location["steps_data"])
    if steps_data.exists() and not Path(location["batch_manager"]).exists():
        logger.info("new pipeline execution: distilabel's step outputs of other executions removed")
        shutil.rmtree(steps_data, ignore_errors=True)


def mark_partial(cache_dir: str | Path, config_hash: str, summary: dict[str, Any]) -> None:
    """Record that the last run of this config deferred work (atomic write)."""
    _write_atomically(_partial_marker(cache_dir, config_hash), json.dumps(summary, sort_keys=True))


def is_partial(cache_dir: str | Path, config_hash: str) -> bool:
    """True when the last run of this config stopped with deferred work: run the next one
    without distilabel's step cache (the request cache still serves every finished request)."""
    return _partial_marker(cache_dir, config_hash).exists()


def clear_partial(cache_dir: str | Path, config_hash: str) -> None:
    _partial_marker(cache_dir, config_hash).unlink(missing_ok=True)


def annotation_layout(config: FactoryConfig, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The prefix-sharing report of the annotation prompts of `samples` (domain, query, texts:
    the candidates' texts), as the annotation step renders them."""
    # a render-only step outside any pipeline: distilabel would warn that it has none
    logging.getLogger("distilabel.step.layout").setLevel(logging.ERROR)
    step = AnnotateRelevance(
        name="layout",
        llm=_RenderOnlyLLM(model="none"),
        custom_domains=config.custom_domains,
        annotation=config.annotation,
    )
    rows = [
        {"domain": sample["domain"], "query": sample["query"], "doc_text": text}
        for sample in samples
        for text in sample["texts"]
    ]
    return annotation_prefix_report(rows, step.render, chars_per_token_counter(4.0))


class _RenderOnlyLLM(ReasonEmbedLLM):
    """Stands in where a step is built only to render prompts."""

    def _generate(self, messages_list, settings, seed):
        raise RuntimeError("rendering only: no LLM call")


def _unfinished_runs(marker: Path) -> list[dict[str, Any]]:
    """The runs of this config that started and never finished, oldest first: the one the
    marker names and those it had itself found unfinished ([] when the marker is unreadable)."""
    try:
        held = json.loads(marker.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(held, dict):
        return []
    runs = [run for run in held.get("unfinished_runs") or () if isinstance(run, dict)]
    if held.get("run_id"):
        runs.append({"run_id": held["run_id"], "started_at": held.get("started_at")})
    return runs


def _killed_run_entries(ledger: Path, marker: Path, run_id: str) -> list[dict[str, Any]]:
    """`llm_usage.runs` entries (`finished: false`) of the unfinished runs this run followed
    that sent or answered requests: the answers this run then took from the request cache were
    paid for by them, so their usage belongs to the record of the data. A run with this run's
    own id (both given one REASONEMBED_RUN_ID) is left out: its ledger rows are this run's."""
    try:
        held = json.loads(marker.read_text())
    except (OSError, ValueError):
        return []
    entries, seen = [], {run_id}
    for run in (held.get("unfinished_runs") or []) if isinstance(held, dict) else []:
        if not isinstance(run, dict) or not run.get("run_id") or run["run_id"] in seen:
            continue
        seen.add(run["run_id"])
        entry = run_entry(usage_report(ledger, run["run_id"]), {}, run.get("started_at"))
        if any(entry["total"].get(field) for field in ("calls", "requests", "cached")):
            entries.append({**entry, "finished": False})
    return entries


def _running_marker(config: FactoryConfig) -> Path:
    return Path(config.cache_dir) / f"running-{config_hash(config)}.json"


def _partial_marker(cache_dir: str | Path, config_hash: str) -> Path:
    return Path(cache_dir) / f"partial-{config_hash}.json"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)

"""The ReMixer factory run: `generate(config, output)` turns a FactoryConfig into an output folder.

Inputs: a validated `FactoryConfig` and the output folder `output` (refused by
`reasonembed.factory.preflight` when it holds something else, unless `overwrite`). Before any LLM call
every corpus is loaded and validated and the seeds are selected (bad input stops here with one
`UserError` line). Then the distilabel pipeline runs (cached: a second run of the same config is
served from the caches).

Output: `output`, written as a whole (`reasonembed.data.staging`: built in a hidden sibling folder,
then renamed into place; removed when the write fails, a full disk is one line), holds `raw`,
the three training exports, the rejected rows with reasons, `stats.json`, `config.yaml` and
`pipeline.yaml` (`write_output_folder`, the one writer of such a folder);
`generate` returns its `RunStats`.

Re-run: when `output` holds an earlier run of the same config (same config hash, preflight's
"same-run"), the run adds to it and loses nothing: the data and stats.json are written anew,
stats.json's `llm_usage` keeps the usage and cost of the earlier runs (this run is the last of
`llm_usage.runs`), report/ is rewritten from the new data with `reasonembed report`'s code, and
everything else other commands or the user added (validation/, notes) is kept; one line says
so. A folder holding another config's output is refused, or replaced with `overwrite`.

`BudgetExceeded` when a budget deferred work (the folder holds the complete samples so far),
`EmptyDataset` when no sample was kept (the folder is written for diagnosis), `PipelineFailed`
when the pipeline stopped before every seed reached assembly, `KeyboardInterrupt` (or
`interrupts.Terminated`) saying how far an interrupted run got.

Disk: distilabel builds no Distiset (`reasonembed.factory.pipeline_run`), so a run writes only under
`cache_dir` and `output`; after a complete run this pipeline's distilabel step outputs are
removed (`keep_step_outputs` keeps them): the request and embedding caches make a re-run cheap.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from reasonembed import __version__
from reasonembed.config import FactoryConfig, config_hash
from reasonembed.data.corpus import load_corpus
from reasonembed.data.diskspace import DiskFull
from reasonembed.data.output import write_text
from reasonembed.data.output_folder import REPORT_DIR, OutputFolder
from reasonembed.data.records import CONFIG_FILE, PIPELINE_FILE, USAGE_STAGES
from reasonembed.data.staging import staged_folder
from reasonembed.data.stats import FunnelStage, RunStats
from reasonembed.errors import BudgetExceeded, EmptyDataset, PipelineFailed, UserError
from reasonembed.factory.cache_lock import hold_cache, refuse_if_held
from reasonembed.factory.generate_faults import interrupted_message, watching_cache_disk
from reasonembed.factory.output_writer import FUNNEL_STAGES, FunnelCounts, OutputWriter
from reasonembed.factory.progress import StageProgress
from reasonembed.factory.run_state import (
    drop_step_outputs_of_other_executions,
    finish_llm_run,
    remove_step_outputs,
    start_llm_run,
)
from reasonembed.interrupts import sigterm_as_interrupt, with_message
from reasonembed.llms.request_cache import request_cache_path
from reasonembed.logs import configure_logging

logger = logging.getLogger("reasonembed.generate")


def select_all_seeds(config: FactoryConfig) -> tuple[dict[str, dict[str, int]], Path]:
    """Load and validate every corpus and select the seeds, before any LLM call.

    Returns the seed-selection counts per domain and the JSONL file of the selected seeds
    (`{cache_dir}/seeds/{config hash}.jsonl`), which the pipeline's first step reads.
    """
    from reasonembed.factory.pipeline import seed_oversample
    from reasonembed.steps.seeds import select_seeds

    counts = {}
    seeds: list[dict[str, str]] = []
    for run_config in config.domains:
        corpus = load_corpus(run_config.corpus, run_config.domain)
        rows, domain_counts = select_seeds(
            corpus, run_config, config.seeds, config.seed, config.bright, seed_oversample(config)
        )
        if not rows:
            raise UserError(
                f"domain {run_config.domain!r}: no seed left from {corpus.source} "
                f"({dict(domain_counts)}); widen seeds.min_chars/max_chars or check the exclusions"
            )
        counts[run_config.domain] = dict(domain_counts)
        seeds.extend(rows)
    seeds_file = Path(config.cache_dir) / "seeds" / f"{config_hash(config)}.jsonl"
    write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in seeds), seeds_file)
    return counts, seeds_file


def generate(
    config: FactoryConfig,
    output: Path,
    use_cache: bool = True,
    overwrite: bool = False,
    keep_step_outputs: bool = False,
) -> RunStats:
    """Run the factory and write `output` as a whole (`reasonembed.data.staging`: built in a sibling
    folder, renamed into place; an interrupted or failed write leaves nothing half-written).

    First the cache lock is checked (`reasonembed.factory.cache_lock`: while another run holds
    `cache_dir`, one line names it and nothing is read), then `reasonembed.factory.preflight` (output
    target, API keys, corpora, servers); then the run holds `cache_dir` until it returns or
    raises, and selects the seeds: bad input stops with one line before any LLM request. After
    a complete run distilabel's step outputs of this pipeline are removed unless
    `keep_step_outputs` (the request cache serves a re-run). Nothing is written outside
    `cache_dir` and `output`.

    Raises BudgetExceeded when a budget deferred work (the output holds the complete samples so
    far), EmptyDataset when no sample was kept (the output is written for diagnosis), DiskFull
    when the output's disk filled (one line: free and needed space), and KeyboardInterrupt
    (`interrupts.Terminated` for SIGTERM) saying how far the run got.
    """
    from reasonembed.factory.preflight import preflight

    started = time.monotonic()
    refuse_if_held(config.cache_dir)
    rerun = preflight(config, output, overwrite).output_state == "same-run"
    purpose = f"generate of {config.name} (config {config_hash(config)}) into {output.absolute()}"
    with hold_cache(config.cache_dir, purpose):
        return _generate_holding_cache(config, output, use_cache, keep_step_outputs, started, rerun)


def _generate_holding_cache(
    config: FactoryConfig,
    output: Path,
    use_cache: bool,
    keep_step_outputs: bool,
    started: float,
    rerun: bool = False,
) -> RunStats:
    """`generate` after preflight, while this process holds `cache_dir`
    (`reasonembed.factory.cache_lock`: a second run on the same cache is refused before it touches it).
    `rerun`: `output` holds an earlier run of this config (see the module doc)."""
    with watching_cache_disk(config.cache_dir):  # a full cache disk: one line
        stats = _run_and_write(config, output, use_cache, started, rerun)
    log_summary(stats)
    logger.info("wrote %s", output)
    if stats.deferred.complete and not keep_step_outputs:
        remove_step_outputs(config)
    if not stats.deferred.complete:
        raise BudgetExceeded(
            f"{stats.deferred.deferred_queries} queries deferred "
            f"({', '.join(stats.deferred.reasons)}); {output} holds the complete samples so "
            "far: run the same command again to continue (finished requests are not paid twice)"
        )
    if not stats.samples:
        raise EmptyDataset(f"no sample kept in {output}: {stats.why_empty()}")
    return stats


def _run_and_write(
    config: FactoryConfig, output: Path, use_cache: bool, started: float, rerun: bool = False
) -> RunStats:
    """Seeds, the pipeline, then the output folder, staged (`reasonembed.data.staging`); on a
    re-run, with the earlier runs' usage and what was added to the folder (`carry_over`)."""
    from reasonembed.factory.engine import run_pipeline
    from reasonembed.factory.output_writer import CountedBatches, iter_raw_batches, leaf_files
    from reasonembed.factory.pipeline import LEAF_STEP, build_pipeline

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    seed_counts, seeds_file = select_all_seeds(config)
    pipeline = build_pipeline(config, seeds_file=str(seeds_file))
    run_id, step_cache_ok = start_llm_run(config)
    if step_cache_ok:
        drop_step_outputs_of_other_executions(pipeline)
    verbose = logging.getLogger().isEnabledFor(logging.DEBUG)
    # distilabel logs a line per batch and step: shown with -v, else progress bars per stage
    os.environ.setdefault("DISTILABEL_LOG_LEVEL", "DEBUG" if verbose else "WARNING")
    if not verbose:  # the step processes' model-loading bars would tear the stage bars
        hide_model_loading_bars()
    totals = stage_totals(config, seed_counts)
    with StageProgress(request_cache_path(config.cache_dir), run_id, totals) as progress:
        try:
            run_pipeline(pipeline, config, use_cache=use_cache and step_cache_ok)
        except KeyboardInterrupt as stop:
            raise with_message(stop, interrupted_message(stop, progress.done(), totals)) from None
        finally:
            configure_logging(verbose)

    leaf = CountedBatches(iter_raw_batches(leaf_files(pipeline, LEAF_STEP)))
    seeds = totals["query"]
    try:  # the whole folder's size, estimated from the share of the seeds written when it filled
        with (
            sigterm_as_interrupt(),
            staged_folder(output, lambda staged: staged * seeds // max(1, leaf.rows)) as staging,
        ):
            earlier = OutputFolder(output).recorded_stats() if rerun else {}
            stats = write_output_folder(
                config,
                staging,
                leaf,
                seed_counts,
                pipeline.dump(),
                finish=lambda counts: finish_llm_run(
                    config, run_id, counts, earlier.get("llm_usage") or {}, started_at
                ),
            )
            stats.wall_time_s = round(time.monotonic() - started, 1)
            stats.write(staging)
            rewritten, kept = carry_over(output, staging) if rerun else ([], [])
    except KeyboardInterrupt as stop:
        raise with_message(
            stop,
            f"interrupted while writing {output}; nothing was written: run the same command "
            "again (the LLM requests all come from the request cache)",
        ) from None
    if rerun:
        log_rerun(output, stats, rewritten, kept)
    return stats


def carry_over(earlier: Path, staging: Path) -> tuple[list[str], list[str]]:
    """Into `staging`, what other commands and the user added to `earlier` (a folder holding an
    earlier run of this config; `OutputFolder.added_entries`): report/ is rewritten from the new
    data by `reasonembed report`'s code (kept as it was, with a warning, when that fails), every
    other entry (validation/, notes) is kept, hard-linked (copied across file systems).
    Returns the names (folders with a trailing /) rewritten and kept."""
    rewritten: list[str] = []
    kept: list[str] = []
    for entry in OutputFolder(earlier).added_entries():
        name = entry.name + ("/" if entry.is_dir() else "")
        if entry.name == REPORT_DIR and entry.is_dir() and _rewrite_report(earlier, staging):
            rewritten.append(name)
            continue
        _link_or_copy(entry, staging / entry.name)
        kept.append(name)
    return rewritten, kept


def _rewrite_report(earlier: Path, staging: Path) -> bool:
    """Write report/ of the folder being staged; False (one warning) when it cannot be."""
    from reasonembed.quality.browse import existing_browse_limit
    from reasonembed.quality.report import write_report

    try:  # with the --browse-limit the earlier page was written with
        write_report(staging, staging / REPORT_DIR, existing_browse_limit(earlier / REPORT_DIR))
    except DiskFull:
        raise
    except Exception as error:  # noqa: BLE001  (the data is written: keep the earlier report)
        logger.warning(
            "%s/%s could not be rewritten from the new data (%s); the earlier one is kept: run "
            "`reasonembed report %s` to rewrite it",
            earlier,
            REPORT_DIR,
            str(error).splitlines()[0] if str(error) else type(error).__name__,
            earlier,
        )
        return False
    return True


def _link_or_copy(source: Path, target: Path) -> None:
    """`source` (a file, a folder or a symlink) at `target`, files hard-linked where possible."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.is_symlink():
        target.symlink_to(os.readlink(source))
    elif source.is_dir():
        shutil.copytree(source, target, symlinks=True, copy_function=link)
    else:
        link(str(source), str(target))


def log_rerun(output: Path, stats: RunStats, rewritten: list[str], kept: list[str]) -> None:
    """The one line of a re-run into an earlier run of this config: what it rewrote and kept."""
    earlier = len(stats.llm_usage.get("runs", [])) - 1
    total = stats.llm_usage.get("total", {})
    parts = [
        f"rewrote the data and stats.json, whose llm_usage keeps {earlier} earlier "
        f"run{'s' if earlier != 1 else ''} (folder total {spent(total)}; this run is the last "
        "of llm_usage.runs)"
    ]
    if rewritten:
        parts.append(f"rewrote {', '.join(rewritten)}")
    if kept:
        parts.append(f"kept {', '.join(kept)}")
    logger.info(
        "re-ran into %s, which held an earlier run of this config: %s", output, "; ".join(parts)
    )


def spent(total: dict[str, Any]) -> str:
    """ "N requests sent, T tokens" of an llm_usage total, and ", $C" when a price made it cost."""
    tokens = total.get("prompt_tokens", 0) + total.get("completion_tokens", 0)
    cost = total.get("cost_usd", 0)
    return f"{total.get('requests', 0)} requests sent, {tokens} tokens" + (
        f", ${cost:.4f}" if cost else ""
    )


def hide_model_loading_bars() -> None:
    """No "Loading weights" / "Writing model shards" bars from the step processes (forked from
    this one); the one-time GGUF conversion of the local model keeps its bar.
    HF_HUB_DISABLE_PROGRESS_BARS alone comes too late here: huggingface_hub reads it when it is
    imported, and transformers asks huggingface_hub when it is imported."""
    import huggingface_hub.utils

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # processes that start afresh
    huggingface_hub.utils.disable_progress_bars()
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()


def stage_totals(config: FactoryConfig, seed_counts: dict[str, dict[str, int]]) -> dict[str, int]:
    """The LLM items each stage is expected to ask for (progress bar totals)."""
    seeds = sum(domain["selected"] for domain in seed_counts.values())
    totals = {"domain_filter": seeds} if config.domain_filter.enabled else {}
    totals["query"] = seeds
    if config.query_generation.reasoning_query:
        totals["reasoning"] = seeds
    totals["annotation"] = seeds * config.mining.n_candidates
    return totals


def write_output_folder(
    config: FactoryConfig,
    folder: Path,
    record_batches: Iterable[list[dict[str, Any]]],
    seed_counts: dict[str, dict[str, int]],
    pipeline_dump: dict[str, Any],
    finish: Callable[[FunnelCounts], dict[str, Any]] | None = None,
    shard_rows: int = 10_000,
) -> RunStats:
    """Stream the leaf records into `folder` (raw, exports, quarantine), then write config.yaml,
    pipeline.yaml and stats.json. `finish(counts)` returns the LLM-accounting stats sections
    (llm_usage, deferred, annotation_prompt_layout). The one writer of an output folder: tests
    build their fixtures through it too."""
    writer = OutputWriter(
        folder, config.registry, config.annotation.positive_threshold, shard_rows=shard_rows
    )
    try:
        for batch in record_batches:
            writer.add(batch)
        counts = writer.close()
    except BaseException:
        writer.abort()
        raise
    llm_stats = finish(counts) if finish is not None else {}
    stats = build_stats(config, seed_counts, counts, folder, llm_stats)
    write_text(
        yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), folder / CONFIG_FILE
    )
    write_text(yaml.safe_dump(pipeline_dump, sort_keys=False), folder / PIPELINE_FILE)
    stats.write(folder)
    return stats


def build_stats(
    config: FactoryConfig,
    seed_counts: dict[str, dict[str, int]],
    counts: FunnelCounts,
    folder: Path,
    llm_stats: dict[str, Any],
) -> RunStats:
    from reasonembed.bright.data import load_bright_gold_ids
    from reasonembed.quality.summary import summarize_raw

    n_seeds = sum(domain["selected"] for domain in seed_counts.values())
    seed_drops = Counter()
    for domain_counts in seed_counts.values():
        for reason in ("too_short", "too_long", "benchmark_test_document", "duplicate_text"):
            seed_drops[f"seeds:drop:{reason}"] += domain_counts.get(reason, 0)
        # eligible documents beyond max_seeds (the sample is drawn with the config's seed)
        seed_drops["seeds:not_sampled:max_seeds"] += domain_counts.get("not_sampled", 0)
    funnel = [
        FunnelStage(
            stage="corpus documents",
            count=sum(domain["considered"] for domain in seed_counts.values()),
        ),
        FunnelStage(stage="seeds", count=n_seeds, drops=dict(+seed_drops)),
    ]
    remaining = n_seeds
    for stage in FUNNEL_STAGES:
        drops = counts.drops_into[stage]
        remaining -= sum(drops.values())
        funnel.append(FunnelStage(stage=stage, count=remaining, drops=dict(sorted(drops.items()))))
    samples = counts.statuses["kept"]
    if counts.seeds_seen != n_seeds:
        raise PipelineFailed(
            f"the pipeline stopped before every seed reached assembly ({counts.seeds_seen} of "
            f"{n_seeds}): the step's error is in the log above; run again to continue (finished "
            "LLM requests are not paid twice)"
        )
    if remaining != samples:
        raise RuntimeError(f"funnel does not add up: {samples} kept, {remaining} left by the drops")
    drops = dict(+seed_drops)
    for stage_drops in counts.drops_into.values():
        drops.update(stage_drops)
    seed_ids = load_bright_gold_ids(config.bright, include_excluded=True) if config.bright else None
    quality = summarize_raw(folder / "raw", counts.quality_counts, bright_seed_ids=seed_ids)
    return RunStats(
        config_hash=config_hash(config),
        factory_version=__version__,
        seeds=seed_counts,
        funnel=funnel,
        drops=dict(sorted(drops.items())),
        candidate_drops={
            f"assembly:{reason}": count
            for reason, count in sorted(counts.quality_counts.candidate_drops.items())
        },
        candidates=counts.candidates,
        judgements=counts.judgements,
        quarantined={
            "queries": counts.quarantined_queries,
            "judgements": counts.quarantined_judgements,
        },
        reasks={stage: counts.reasks.get(stage, 0) for stage in USAGE_STAGES},
        samples=samples,
        samples_per_domain=dict(sorted(counts.samples_per_domain.items())),
        positives_per_sample=round(counts.positives / samples, 2) if samples else 0.0,
        negatives_per_sample=round(counts.negatives / samples, 2) if samples else 0.0,
        positive_threshold=config.annotation.positive_threshold,
        prompt_hashes=dict(sorted(counts.prompt_hashes.items())),
        decontamination={"performed": bool(config.bright), "bright": config.bright},
        quality=quality,
        triviality_config=config.quality.model_dump(mode="json"),
        **llm_stats,
    )


def log_summary(stats: RunStats) -> None:
    """The closing line: the funnel, then where this run's LLM answers came from (sent, the
    request cache, distilabel's step cache) and, after earlier runs into the same folder, the
    folder's totals."""
    total = stats.run_usage().get("total", {})
    runs = len(stats.llm_usage.get("runs", []))
    folder = stats.llm_usage.get("total", {})
    logger.info(
        "summary: %d seeds, %d queries, %d candidates, %d judgements, re-asks %s, "
        "quarantined %s, %d samples kept (%.1f pos / %.1f neg each); LLM answers of this run: "
        "%d requests sent (%d retried), %d from the request cache, %d reused from the step "
        "cache, %d tokens%s; %.0f s",
        stats.stage_count("seeds"),
        stats.stage_count("queries"),
        stats.candidates,
        stats.judgements,
        stats.reasks,
        stats.quarantined.model_dump(),
        stats.samples,
        stats.positives_per_sample,
        stats.negatives_per_sample,
        total.get("requests", 0),
        total.get("retries", 0),
        total.get("cached", 0),
        total.get("step_cache", 0),
        total.get("prompt_tokens", 0) + total.get("completion_tokens", 0),
        f" (the folder's {runs} runs: {spent(folder)})" if runs > 1 else "",
        stats.wall_time_s,
    )

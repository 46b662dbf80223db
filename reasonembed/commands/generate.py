"""`reasonembed generate CONFIG --output DIR`: run the ReMixer factory and write the output folder.

Before any LLM call every corpus is loaded and validated and the seeds are selected (bad input
stops here with one line naming it). Then the distilabel pipeline runs (cached: a second run of
the same config is served from the caches), and DIR receives `raw`, the three training exports,
the rejected rows with reasons, `stats.json`, `config.yaml` and `pipeline.yaml`.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from reasonembed.config import FactoryConfig, config_hash, load_config
from reasonembed.corpus import load_corpus
from reasonembed.errors import BudgetExceeded, UserError
from reasonembed.llms.run_accounting import finish_llm_run, start_llm_run
from reasonembed.logs import configure_logging
from reasonembed.records import (
    CONFIG_FILE,
    PIPELINE_FILE,
    QUARANTINE_FILE,
    QUARANTINE_SCHEMA,
    STATS_FILE,
)

logger = logging.getLogger("reasonembed.generate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="FactoryConfig YAML (see pipelines/configs/)")
    parser.add_argument("--output", "-o", required=True, help="output folder (created)")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="ignore distilabel's step cache (the LLM request cache still applies)",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    result = generate(config, Path(args.output), use_cache=not args.no_cache)
    logger.info("wrote %s", args.output)
    return 0 if result["samples"] else 1


def preflight(config: FactoryConfig) -> tuple[dict[str, dict[str, int]], Path]:
    """Load and validate every corpus and select the seeds, before any LLM call.

    Returns the seed-selection counts per domain and the JSONL file of the selected seeds
    (`{cache_dir}/seeds/{config hash}.jsonl`), which the pipeline's first step reads.
    """
    from reasonembed.output import write_text
    from reasonembed.steps.seeds import select_seeds

    counts = {}
    seeds: list[dict[str, str]] = []
    for run_config in config.domains:
        corpus = load_corpus(run_config.corpus, run_config.domain)
        rows, domain_counts = select_seeds(
            corpus, run_config, config.seeds, config.seed, config.bright
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


def generate(config: FactoryConfig, output: Path, use_cache: bool = True) -> dict[str, Any]:
    from reasonembed.pipeline import build_pipeline

    started = time.monotonic()
    seed_counts, seeds_file = preflight(config)
    pipeline = build_pipeline(config, seeds_file=str(seeds_file))
    run_id, step_cache_ok = start_llm_run(config)
    distiset = pipeline.run(use_cache=use_cache and step_cache_ok)
    configure_logging(logging.getLogger().isEnabledFor(logging.DEBUG))
    samples = _rows(distiset, "assemble_samples")
    rejections = _rows(distiset, "collect_rejections")
    if any(row.get("query") is None for row in samples):
        raise RuntimeError(
            "a sample without a query reached assembly: refusing to write rows of None"
        )
    samples, rejections, llm_stats = finish_llm_run(config, run_id, samples, rejections)
    stats = write_output(config, output, samples, rejections, seed_counts, pipeline.dump())
    stats.update(llm_stats)
    stats["wall_time_s"] = round(time.monotonic() - started, 1)
    from reasonembed.output import write_json

    write_json(stats, output / STATS_FILE)
    log_summary(stats)
    if not stats["deferred"]["complete"]:
        raise BudgetExceeded(
            f"{stats['deferred']['deferred_queries']} queries deferred "
            f"({', '.join(stats['deferred']['reasons'])}); {output} holds the complete samples so "
            "far: run the same command again to continue (finished requests are not paid twice)"
        )
    return stats


def _rows(distiset, leaf: str) -> list[dict[str, Any]]:
    if leaf not in distiset:
        return []
    return list(distiset[leaf]["train"].to_list())


def write_output(
    config: FactoryConfig,
    output: Path,
    samples: list[dict[str, Any]],
    rejections: list[dict[str, Any]],
    seed_counts: dict[str, dict[str, int]],
    pipeline_dump: dict[str, Any],
) -> dict[str, Any]:
    from reasonembed import exports
    from reasonembed.output import (
        group_by_domain,
        raw_schema_for,
        write_jsonl_by_domain,
        write_parquet,
        write_parquet_shards,
        write_text,
    )

    output.mkdir(parents=True, exist_ok=True)
    kept = [sample for sample in samples if sample["drop_reason"] is None]
    kept_rows = [
        {key: value for key, value in sample.items() if key != "drop_reason"} for sample in kept
    ]
    threshold = config.annotation.positive_threshold
    registry = config.registry
    write_parquet_shards(kept_rows, output / "raw", schema=raw_schema_for(kept_rows))
    write_jsonl_by_domain(
        group_by_domain(kept, list(exports.reasonembed_rows(kept, registry, threshold))),
        output / "reasonembed",
    )
    write_jsonl_by_domain(
        group_by_domain(kept, list(exports.flagembedding_rows(kept, threshold))),
        output / "flagembedding",
    )
    write_parquet_shards(
        exports.sentence_transformers_rows(kept, threshold), output / "sentence-transformers"
    )
    write_parquet(rejections, output / QUARANTINE_FILE, QUARANTINE_SCHEMA)
    write_text(
        yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), output / CONFIG_FILE
    )
    write_text(yaml.safe_dump(pipeline_dump, sort_keys=False), output / PIPELINE_FILE)
    stats = build_stats(config, samples, kept, rejections, seed_counts)
    stats["quality"] = quality_summary(config, samples, kept_rows, rejections)
    stats["candidate_drops"] = {
        "mining:source_or_copy": sum(
            int(sample.get("source_copies_removed") or 0) for sample in kept
        ),
        **{
            f"assembly:{reason}": count
            for reason, count in stats["quality"].get("candidate_drops", {}).items()
        },
    }
    stats["triviality_config"] = config.quality.model_dump(mode="json")
    return stats


def quality_summary(config, samples, kept_rows, rejections) -> dict[str, Any]:
    """stats["quality"]: triviality/decontamination distributions and drop counts by reason."""
    from reasonembed.quality.decontamination import load_bright_gold_ids
    from reasonembed.quality.filters import DropCounts, FilterOutcome
    from reasonembed.quality.summary import summarize

    counts = DropCounts()
    for row in rejections:
        if row["stage"] == "query_filter":
            counts.add_query_drop(row["reason"])
    for sample in samples:
        removed = Counter(json.loads(sample.get("candidate_removals") or "{}"))
        outcome = FilterOutcome(
            sample=sample if sample["drop_reason"] is None else None,
            reason=sample["drop_reason"],
            removed=removed,
        )
        counts.add(
            outcome, gold_candidates=int(sample.get("decontamination_bright_gold_candidates") or 0)
        )
    seed_ids = load_bright_gold_ids(config.bright, include_excluded=True) if config.bright else None
    return summarize(kept_rows, counts, bright_seed_ids=seed_ids)


def build_stats(config, samples, kept, rejections, seed_counts) -> dict[str, Any]:
    drops = Counter()
    for domain_counts in seed_counts.values():
        for reason in ("too_short", "too_long", "benchmark_test_document", "duplicate_text"):
            drops[f"seeds:{reason}"] += domain_counts.get(reason, 0)
    for row in rejections:
        if row["stage"] != "annotation":
            drops[f"{row['stage']}:{row['kind']}:{row['reason'].split(' (')[0]}"] += 1
    for sample in samples:
        if sample["drop_reason"]:
            drops[f"assembly:{sample['drop_reason']}"] += 1
    n_seeds = sum(counts["selected"] for counts in seed_counts.values())
    query_level_rejected = sum(1 for row in rejections if row["stage"] != "annotation")
    judgements = sum(
        len(sample["candidates"]) + sample["n_annotation_quarantined"] for sample in samples
    )
    annotation_quarantined = sum(1 for row in rejections if row["stage"] == "annotation")
    return {
        "config_hash": config_hash(config),
        "seeds": seed_counts,
        "funnel": [
            {
                "stage": "corpus documents",
                "count": sum(counts["considered"] for counts in seed_counts.values()),
            },
            {"stage": "seeds", "count": n_seeds},
            {"stage": "queries", "count": n_seeds - query_level_rejected},
            {"stage": "annotated_queries", "count": len(samples)},
            {"stage": "samples", "count": len(kept)},
        ],
        "drops": dict(sorted(drops.items())),
        "candidates": judgements,
        "judgements": judgements - annotation_quarantined,
        "quarantined": {
            "queries": sum(
                1
                for row in rejections
                if row["kind"] == "quarantine" and row["stage"] != "annotation"
            ),
            "judgements": annotation_quarantined,
        },
        "reasks": reasks_by_stage(samples, rejections),
        "samples": len(kept),
        "samples_per_domain": dict(Counter(sample["domain"] for sample in kept)),
        "positives_per_sample": _mean([s["n_positives"] for s in kept]),
        "negatives_per_sample": _mean([s["n_negatives"] for s in kept]),
    }


def reasks_by_stage(
    samples: list[dict[str, Any]], rejections: list[dict[str, Any]]
) -> dict[str, int]:
    """Per LLM stage: answers asked again after failing their parser (attempts - items asked).

    Samples carry their own attempt counts (annotation summed over all their judgements);
    queries rejected before assembly carry theirs in the rejection payload.
    """
    from reasonembed.steps.assembly import QUERY_LEVEL_STAGES, USAGE_STAGES

    reasks = dict.fromkeys(USAGE_STAGES, 0)
    rows = list(samples) + [
        json.loads(row["payload"]) for row in rejections if row["stage"] in QUERY_LEVEL_STAGES
    ]
    for row in rows:
        for stage in USAGE_STAGES:
            attempts = int(row.get(f"{stage}_attempts") or 0)
            if not attempts:
                continue
            asked = (
                len(row["candidates"]) + row["n_annotation_quarantined"]
                if stage == "annotation" and "candidates" in row
                else 1
            )
            reasks[stage] += attempts - asked
    return reasks


def _mean(values: list[int]) -> float:
    return round(sum(values) / len(values), 2) if values else 0.0


def log_summary(stats: dict[str, Any]) -> None:
    funnel = {step["stage"]: step["count"] for step in stats["funnel"]}
    total = stats.get("llm_usage", {}).get("total", {})
    logger.info(
        "summary: %d seeds, %d queries, %d candidates, %d judgements, re-asks %s, "
        "quarantined %s, %d samples kept (%.1f pos / %.1f neg each); LLM requests %d sent "
        "(%d retried), %d from cache, %d tokens; %.0f s",
        funnel["seeds"],
        funnel["queries"],
        stats["candidates"],
        stats["judgements"],
        stats["reasks"],
        stats["quarantined"],
        stats["samples"],
        stats["positives_per_sample"],
        stats["negatives_per_sample"],
        total.get("requests", 0),
        total.get("retries", 0),
        total.get("cached", 0),
        total.get("prompt_tokens", 0) + total.get("completion_tokens", 0),
        stats.get("wall_time_s", 0.0),
    )

"""The two calls `reasonembed generate` makes around a pipeline run for LLM accounting.

    run_id, step_cache_ok = start_llm_run(config)
    distiset = pipeline.run(use_cache=use_cache and step_cache_ok)
    ...  # samples (assemble_samples rows), rejections (collect_rejections rows)
    samples, rejections, llm_stats = finish_llm_run(config, run_id, samples, rejections)
    stats.update(llm_stats)   # before writing the output

`start_llm_run` sets the run id that every step process inherits (the usage ledger and the
budgets are per run) and says whether distilabel's step cache may be used: not after a run that
deferred work (budget reached, servers down), since the cache would replay the deferred rows;
the request cache still serves every request that completed, so nothing is paid twice.

`finish_llm_run` leaves out the queries that are incomplete because of deferred rows (the next
run completes them), records or clears the partial-run marker, and returns the stats sections:
`llm_usage` (requests, cached, retries, failed, deferred, tokens and cost per stage, per role
and in total, for this run), `deferred` (rows, queries, reasons; `complete` False when the
output is partial) and `annotation_prompt_layout` (prompt tokens per judgement and the share of
them that is a prefix shared by the query's judgements, counted at 4 characters a token).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reasonembed.config import FactoryConfig, config_hash
from reasonembed.llms.budget import clear_partial, is_partial, mark_partial, split_deferred
from reasonembed.llms.prompt_layout import annotation_prefix_report, chars_per_token_counter
from reasonembed.llms.usage import begin_run, usage_report


def request_cache_file(config: FactoryConfig) -> Path:
    return Path(config.cache_dir) / "requests.sqlite"


def start_llm_run(config: FactoryConfig) -> tuple[str, bool]:
    """(run id, whether distilabel's step cache may be used)."""
    run_id = begin_run()
    return run_id, not is_partial(config.cache_dir, config_hash(config))


def finish_llm_run(
    config: FactoryConfig,
    run_id: str,
    samples: list[dict[str, Any]],
    rejections: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    kept, others, deferred = split_deferred(samples, rejections)
    digest = config_hash(config)
    if deferred["complete"]:
        clear_partial(config.cache_dir, digest)
    else:
        mark_partial(config.cache_dir, digest, deferred)
    stats = {
        "llm_usage": usage_report(request_cache_file(config), run_id),
        "deferred": deferred,
        "annotation_prompt_layout": annotation_layout(config, kept),
    }
    return kept, others, stats


def annotation_layout(config: FactoryConfig, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The prefix-sharing report of the annotation prompts of `samples`' candidates."""
    from reasonembed.steps.annotation import AnnotateRelevance

    step = AnnotateRelevance(
        name="layout",
        llm=_NoLLM(model="none"),
        custom_domains=[domain.model_dump(mode="json") for domain in config.custom_domains],
        max_document_chars=config.annotation.max_document_chars,
    )
    rows = [
        {"domain": sample["domain"], "query": sample["query"], "doc_text": candidate["text"]}
        for sample in samples
        for candidate in sample.get("candidates") or []
    ]
    return annotation_prefix_report(rows, step.render, chars_per_token_counter(4.0))


def _no_llm_class():
    from reasonembed.llms.base import ReasonEmbedLLM

    class NoLLM(ReasonEmbedLLM):
        """Stands in where a step is built only to render prompts."""

        def _generate(self, messages_list, settings, seed):
            raise RuntimeError("rendering only: no LLM call")

    return NoLLM


_NoLLM = _no_llm_class()

"""The two calls `reasonembed generate` makes around a pipeline run for LLM accounting.

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
twice. A "running" marker (written here, removed by `finish_llm_run`) tells the next run that
this one did not finish.

`finish_llm_run` records or clears the partial-run marker (queries with deferred rows are left
out of the output by the writer: the next run completes them) and returns the stats sections:
`llm_usage` (requests, cached, retries, failed, deferred, tokens and cost per stage, per role
and in total, for this run), `deferred` (rows, queries, reasons; `complete` False when the
output is partial) and `annotation_prompt_layout` (prompt tokens per judgement and the share of
them that is a prefix shared by the query's judgements, counted at 4 characters a token).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from reasonembed.config import FactoryConfig, config_hash
from reasonembed.llms.budget import clear_partial, is_partial, mark_partial
from reasonembed.llms.prompt_layout import annotation_prefix_report, chars_per_token_counter
from reasonembed.llms.usage import begin_run, usage_report

logger = logging.getLogger(__name__)


def request_cache_file(config: FactoryConfig) -> Path:
    return Path(config.cache_dir) / "requests.sqlite"


def _running_marker(config: FactoryConfig) -> Path:
    return Path(config.cache_dir) / f"running-{config_hash(config)}.json"


def start_llm_run(config: FactoryConfig) -> tuple[str, bool]:
    """(run id, whether distilabel's step cache may be used)."""
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
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"run_id": run_id, "pid": os.getpid()}))
    tmp.replace(marker)
    return run_id, not unfinished and not partial


def step_cache_folder(config: FactoryConfig) -> Path:
    """distilabel's cache folder of this config's pipeline (named as pipeline.py names it)."""
    from reasonembed.pipeline import distilabel_cache_dir

    return distilabel_cache_dir(config) / f"{config.name}-{config_hash(config)}"


def finish_llm_run(config: FactoryConfig, run_id: str, counts) -> dict[str, Any]:
    """Close the run: record or clear the partial-run marker and return the stats sections
    `llm_usage`, `deferred` and `annotation_prompt_layout`. `counts`: the output writer's
    FunnelCounts (deferred rows and reasons, the samples measured for prefix sharing)."""
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
    _running_marker(config).unlink(missing_ok=True)
    return {
        "llm_usage": usage_report(request_cache_file(config), run_id),
        "deferred": deferred,
        "annotation_prompt_layout": annotation_layout(config, counts.layout_samples),
    }


def annotation_layout(config: FactoryConfig, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The prefix-sharing report of the annotation prompts of `samples` (domain, query, texts:
    the candidates' texts), as the annotation step renders them."""
    from reasonembed.steps.annotation import AnnotateRelevance

    # a render-only step outside any pipeline: distilabel would warn that it has none
    logging.getLogger("distilabel.step.layout").setLevel(logging.ERROR)
    step = AnnotateRelevance(
        name="layout",
        llm=_NoLLM(model="none"),
        custom_domains=[domain.model_dump(mode="json") for domain in config.custom_domains],
        max_document_chars=config.annotation.max_document_chars,
    )
    rows = [
        {"domain": sample["domain"], "query": sample["query"], "doc_text": text}
        for sample in samples
        for text in sample["texts"]
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

"""The cost projection of a config (`reasonembed estimate`): LLM calls, tokens and cost, before
anything runs.

`estimate(config, chars_per_token, document_chars, reask_rate)` returns a JSON-ready dict: the
seeds and text sizes per domain (`domains`), calls, tokens and cost per stage, per role and in
total, expected (`expected`) and as an upper bound (`upper_bound`), the annotation prompts' shared
prefix (`annotation_prefix`), `budget_warnings` and `unpriced_roles` (roles without a price: their
cost 0 is unknown, not free); `format_table(result)` is its console text.

No LLM is called and no model is loaded. Per domain, the seeds are counted from the corpus when
it can be read (the same selection `generate` makes); otherwise the config's seed cap is assumed
and the domain's `assumed` list says so. Prompt sizes come from the real templates rendered with
the domain's texts, a passage of the corpus's mean seed length and a document of its mean length
(or the `document_chars` assumption, `--document-chars`); tokens are characters /
`chars_per_token`. Completion sizes: queries from the configured length mix (1.33 tokens a
word), reasoning queries ~300 tokens, judgements ~400 tokens (the paper's answers stay under 512
words), each capped by `max_new_tokens`; an upper bound assumes every answer uses
`max_new_tokens` and every re-ask.
Cost: each role's `price` (USD per million prompt / completion tokens). Also reported: the share
of each annotation prompt that is a prefix shared by the query's judgements (prefix caching).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from reasonembed.config import FactoryConfig, LLMConfig
from reasonembed.errors import UserError
from reasonembed.llms.budget import Budget
from reasonembed.prompts import get_template

logger = logging.getLogger("reasonembed.factory.estimate")

ASSUMED_SEED_CHARS = 1500
ASSUMED_DOCUMENT_CHARS = 1500
TOKENS_PER_WORD = 1.33
REASONING_COMPLETION_TOKENS = 300
ANNOTATION_COMPLETION_TOKENS = 400
FILTER_COMPLETION_TOKENS = 2
SENTINEL = "\x00DOCUMENT\x00"


@dataclass
class DomainSizes:
    domain: str
    seeds: int
    seed_chars: float
    document_chars: float
    assumed: list[str] = field(default_factory=list)


def expected_words(length_weights: dict[str, int]) -> float:
    """Mean target length in words of a length mix such as {"100 to 200 words": 2, ...}."""
    total = weight_sum = 0.0
    for label, weight in length_weights.items():
        numbers = [float(n) for n in re.findall(r"\d+", label)]
        if not numbers:
            raise UserError(f"query_generation.length_weights: no word count in {label!r}")
        if len(numbers) >= 2:
            words = sum(numbers[:2]) / 2
        elif re.search(r"less|under|fewer|below", label):
            words = numbers[0] * 0.75
        else:
            words = numbers[0] * 1.1
        total += words * weight
        weight_sum += weight
    return total / weight_sum if weight_sum else 0.0


def domain_sizes(config: FactoryConfig, document_chars: int | None) -> list[DomainSizes]:
    from reasonembed.data.corpus import load_corpus
    from reasonembed.steps.seeds import select_seeds

    sizes = []
    for run_config in config.domains:
        cap = run_config.max_seeds or config.seeds.max_seeds_per_domain
        try:
            corpus = load_corpus(run_config.corpus, run_config.domain)
            rows, _ = select_seeds(corpus, run_config, config.seeds, config.seed)
        except (UserError, OSError) as error:
            logger.info(
                "%s: corpus not read (%s); assuming %d seeds", run_config.domain, error, cap
            )
            sizes.append(
                DomainSizes(
                    run_config.domain,
                    cap,
                    min(ASSUMED_SEED_CHARS, config.seeds.max_chars),
                    document_chars or ASSUMED_DOCUMENT_CHARS,
                    ["seeds", "seed length", "document length"],
                )
            )
            continue
        texts = corpus.texts[:: max(1, len(corpus.texts) // 5000)]
        sizes.append(
            DomainSizes(
                run_config.domain,
                len(rows),
                sum(len(row["source_text"]) for row in rows) / max(1, len(rows)),
                sum(len(text) for text in texts) / max(1, len(texts)),
            )
        )
    return sizes


def _stage(
    stage: str, llm: LLMConfig, calls: float, prompt_chars: float, completion: float, cpt: float
) -> dict[str, Any]:
    prompt_tokens = calls * prompt_chars / cpt
    completion_tokens = calls * min(completion, llm.max_new_tokens)
    return {
        "stage": stage,
        "role": "annotator" if stage == "annotation" else "generator",
        "model": llm.model,
        "calls": calls,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "prompt_tokens_per_call": prompt_chars / cpt,
    }


def estimate(
    config: FactoryConfig,
    chars_per_token: float = 4.0,
    document_chars: int | None = None,
    reask_rate: float = 0.05,
) -> dict[str, Any]:
    """Projected calls, tokens and cost per stage, role and in total (expected and upper bound)."""
    registry = config.registry
    cpt = chars_per_token
    gen, ann = config.generator, config.annotator
    query_words = expected_words(config.query_generation.length_weights)
    query_tokens = query_words * TOKENS_PER_WORD
    query_chars = min(query_tokens, gen.max_new_tokens) * cpt
    stages: list[dict[str, Any]] = []
    upper: list[dict[str, Any]] = []
    prefix_chars = prompt_chars_total = judgements = 0.0
    sizes = domain_sizes(config, document_chars)
    for size in sizes:
        domain = registry.get(size.domain)
        seeds = float(size.seeds)
        passage = "x" * int(size.seed_chars)
        doc_chars = size.document_chars
        if config.annotation.max_document_chars:
            doc_chars = min(doc_chars, config.annotation.max_document_chars)
        plan = []
        if config.domain_filter.enabled:
            text = get_template("domain_filter").render(
                filter_topic=domain.filter_topic or domain.name, passage=passage
            )
            plan.append(("domain_filter", gen, seeds, len(text), FILTER_COMPLETION_TOKENS, 0))
        text = get_template("query_generation").render(
            generation_task=domain.generation_task,
            passage=passage,
            output_name=domain.output_name,
            target_length="200 to 300 words",
            education_level="college",
        )
        reasks = config.query_generation.max_reasks
        plan.append(("query", gen, seeds, len(text), query_tokens, reasks))
        if config.query_generation.reasoning_query:
            text = get_template("reasoning_query").render(
                query_type=domain.query_type, doc_type=domain.doc_type, query="x" * int(query_chars)
            )
            plan.append(("reasoning", gen, seeds, len(text), REASONING_COMPLETION_TOKENS, reasks))
        text = get_template("annotation").render(
            relevance_definition=domain.relevance_definition,
            query_type=domain.query_type,
            doc_type=domain.doc_type,
            query="x" * int(query_chars),
            document=SENTINEL,
        )
        prompt_chars = len(text) - len(SENTINEL) + doc_chars
        n_judgements = seeds * config.mining.n_candidates
        plan.append(
            (
                "annotation",
                ann,
                n_judgements,
                prompt_chars,
                ANNOTATION_COMPLETION_TOKENS,
                config.annotation.max_reasks,
            )
        )
        judgements += n_judgements
        prefix_chars += n_judgements * text.index(SENTINEL)
        prompt_chars_total += n_judgements * prompt_chars
        for stage, llm, calls, chars, completion, max_reasks in plan:
            stages.append(
                {
                    "domain": size.domain,
                    **_stage(stage, llm, calls * (1 + reask_rate), chars, completion, cpt),
                }
            )
            upper.append(
                {
                    "domain": size.domain,
                    **_stage(stage, llm, calls * (1 + max_reasks), chars, llm.max_new_tokens, cpt),
                }
            )
    roles = {"generator": gen, "annotator": ann}
    result = {
        "domains": [size.__dict__ for size in sizes],
        "chars_per_token": cpt,
        "reask_rate": reask_rate,
        "expected": _summarise(stages, roles),
        "upper_bound": _summarise(upper, roles),
        "annotation_prefix": {
            "judgements": judgements,
            "prompt_tokens_per_judgement": round(prompt_chars_total / max(1, judgements) / cpt, 1),
            "shared_prefix_tokens_per_judgement": round(prefix_chars / max(1, judgements) / cpt, 1),
            "shared_prefix_share": round(prefix_chars / max(1, prompt_chars_total), 3),
        },
    }
    result["budget_warnings"] = _budget_warnings(result["expected"], roles)
    result["unpriced_roles"] = [
        name
        for name, llm in roles.items()
        if not (llm.price.prompt_usd_per_million or llm.price.completion_usd_per_million)
    ]
    return result


def _summarise(rows: list[dict[str, Any]], roles: dict[str, LLMConfig]) -> dict[str, Any]:
    stages: dict[str, dict[str, Any]] = {}
    for row in rows:
        bucket = stages.setdefault(
            row["stage"],
            {"role": row["role"], "model": row["model"], "calls": 0.0, "prompt_tokens": 0.0},
        )
        bucket.setdefault("completion_tokens", 0.0)
        for name in ("calls", "prompt_tokens", "completion_tokens"):
            bucket[name] += row[name]
    by_role: dict[str, dict[str, float]] = {}
    for bucket in stages.values():
        price = roles[bucket["role"]].price
        bucket["cost_usd"] = Budget(
            prompt_usd_per_million=price.prompt_usd_per_million,
            completion_usd_per_million=price.completion_usd_per_million,
        ).cost(bucket["prompt_tokens"], bucket["completion_tokens"])
        role = by_role.setdefault(bucket["role"], {})
        for name in ("calls", "prompt_tokens", "completion_tokens", "cost_usd"):
            role[name] = role.get(name, 0.0) + bucket[name]
    total = {
        name: sum(role[name] for role in by_role.values())
        for name in ("calls", "prompt_tokens", "completion_tokens", "cost_usd")
    }
    for bucket in (*stages.values(), *by_role.values(), total):
        for name in ("calls", "prompt_tokens", "completion_tokens"):
            bucket[name] = int(round(bucket[name]))
        bucket["cost_usd"] = round(bucket["cost_usd"], 6)
    return {"stages": stages, "roles": by_role, "total": total}


def _budget_warnings(expected: dict[str, Any], roles: dict[str, LLMConfig]) -> list[str]:
    warnings = []
    for name, spend in expected["roles"].items():
        budget = roles[name].budget
        tokens = spend["prompt_tokens"] + spend["completion_tokens"]
        if budget.max_tokens is not None and tokens > budget.max_tokens:
            warnings.append(
                f"{name}: ~{tokens:,} tokens expected, budget {budget.max_tokens:,}: "
                "the run will stop at the budget; re-run to continue"
            )
        if budget.max_cost_usd is not None and spend["cost_usd"] > budget.max_cost_usd:
            warnings.append(
                f"{name}: ~${spend['cost_usd']:,.2f} expected, budget ${budget.max_cost_usd:,.2f}:"
                " the run will stop at the budget; re-run to continue"
            )
    return warnings


def _human(value: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:,.2f}{unit}"
    return f"{value:,.0f}"


def format_table(result: dict[str, Any]) -> str:
    assumed = any(size["assumed"] for size in result["domains"])
    lines = [f"domain seeds{' (assumed where the corpus could not be read)' if assumed else ''}:"]
    for size in result["domains"]:
        note = f"  [assumed: {', '.join(size['assumed'])}]" if size["assumed"] else ""
        lines.append(
            f"  {size['domain']:<22} {size['seeds']:>8,} seeds, seed {size['seed_chars']:,.0f} "
            f"chars, document {size['document_chars']:,.0f} chars{note}"
        )
    header = f"{'stage':<14} {'role':<10} {'calls':>10} {'prompt tok':>12} {'compl. tok':>12} {'cost USD':>12}"
    for title, key in (("expected", "expected"), ("upper bound", "upper_bound")):
        block = result[key]
        lines += ["", f"{title}:", header, "-" * len(header)]
        for stage, bucket in block["stages"].items():
            lines.append(
                f"{stage:<14} {bucket['role']:<10} {_human(bucket['calls']):>10} "
                f"{_human(bucket['prompt_tokens']):>12} {_human(bucket['completion_tokens']):>12} "
                f"{bucket['cost_usd']:>12,.2f}"
            )
        total = block["total"]
        lines.append(
            f"{'total':<14} {'':<10} {_human(total['calls']):>10} "
            f"{_human(total['prompt_tokens']):>12} {_human(total['completion_tokens']):>12} "
            f"{total['cost_usd']:>12,.2f}"
        )
    prefix = result["annotation_prefix"]
    lines += [
        "",
        f"annotation prompts: ~{prefix['prompt_tokens_per_judgement']:,.0f} tokens per judgement, "
        f"~{prefix['shared_prefix_tokens_per_judgement']:,.0f} of them ({prefix['shared_prefix_share']:.0%}) "
        "a prefix shared by the query's judgements (reused by prefix caching)",
    ]
    if result["unpriced_roles"]:
        unpriced = " and ".join(result["unpriced_roles"])
        lines.append(
            f"note: no price set for {unpriced}: a cost of 0.00 there means unknown, not free "
            "(set the role's `price: {prompt_usd_per_million: ..., completion_usd_per_million: "
            "...}`)"
        )
    lines += [f"WARNING {warning}" for warning in result["budget_warnings"]]
    return "\n".join(lines)

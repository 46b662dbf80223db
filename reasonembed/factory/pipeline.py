"""build_pipeline(config) -> the ReMixer distilabel Pipeline.

    select_seeds -> [filter_domain] -> generate_queries -> [generate_reasoning_queries]
        -> filter_queries -> mine_candidates -> annotate_relevance -> assemble_samples

One row per seed flows through every step (mining attaches a query's candidates as a list, the
annotation step fans them out to the LLM), so every step is a per-row step and memory is bounded
by batch sizes: a gate (`reasonembed.steps.seed_gate`) keeps at most `select_seeds.seeds_in_flight` seeds
(`pacing.window_for` of the steps' input batches) between the seed step and the leaf, so fast
steps cannot pile rows up in front of slow ones. `assemble_samples` is the only leaf: one record per seed, whatever happened to it
(`reasonembed.steps.assembly`); `reasonembed.factory.output_writer` streams its files into the output
folder.

The pipeline name carries the config hash, so a second run of the same config is served from
distilabel's cache (under `{cache_dir}/distilabel`), and the LLM request cache (under
`{cache_dir}/requests.sqlite`) serves every request that already completed, even after a crash.
"""

from __future__ import annotations

from pathlib import Path

from reasonembed.config import FactoryConfig, config_hash
from reasonembed.factory.dag import pipeline_steps
from reasonembed.factory.engine import apply_step_resources
from reasonembed.factory.recovery_cache import FactoryPipeline
from reasonembed.llms import build_llm
from reasonembed.steps.seed_gate import window_for

LEAF_STEP = "assemble_samples"
ANNOTATION_SLOTS_PER_BATCH = 16
MINING_BATCH_QUERIES = 128


def annotation_score_mode(config: FactoryConfig) -> str:
    if config.annotation.score_mode != "auto":
        return config.annotation.score_mode
    return "forced" if config.annotator.backend == "local" else "tag"


def seed_oversample(config: FactoryConfig) -> float:
    """How many times its quota of candidate seeds each domain draws (the domain filter then
    keeps the quota's worth that pass; without the filter, exactly the quota)."""
    return config.domain_filter.oversample if config.domain_filter.enabled else 1.0


def annotation_batch_queries(config: FactoryConfig) -> int:
    """Query rows per annotation batch. `annotator.batch_size` counts LLM requests (judgements);
    for a server backend a batch carries at least ANNOTATION_SLOTS_PER_BATCH x `concurrency`
    requests, so the in-flight slots stay full while the step waits for its next batch (measured:
    one query of 50 judgements per call halves the requests/s)."""
    requests = config.annotator.batch_size
    if config.annotator.backend == "openai":
        requests = max(requests, ANNOTATION_SLOTS_PER_BATCH * config.annotator.concurrency)
    return max(1, requests // config.mining.n_candidates)


def query_filter_batch(config: FactoryConfig) -> int:
    return max(config.generator.batch_size, 16)


def pacing_file_of(config: FactoryConfig) -> Path:
    """The SQLite file of the seed gate's counters (one row per pipeline name)."""
    return Path(config.cache_dir) / "pacing.sqlite"


def distilabel_cache_dir(config: FactoryConfig) -> Path:
    return Path(config.cache_dir) / "distilabel"


def pipeline_name(config: FactoryConfig) -> str:
    """The config's name and hash: runs of the same config share distilabel's cache folder
    (`distilabel_cache_dir(config) / pipeline_name(config)`)."""
    return f"{config.name}-{config_hash(config)}"


def build_pipeline(config: FactoryConfig, seeds_file: str | None = None) -> FactoryPipeline:
    """The pipeline of `config`; `seeds_file`: seed rows already selected (see SelectSeeds)."""
    from reasonembed.steps.annotation import AnnotateRelevance
    from reasonembed.steps.assembly import AssembleSamples
    from reasonembed.steps.domain_filter import FilterDomain
    from reasonembed.steps.mining import MineCandidates
    from reasonembed.steps.queries import GenerateQueries, GenerateReasoningQueries
    from reasonembed.steps.query_filter import FilterQueries
    from reasonembed.steps.seeds import SelectSeeds, seed_quota

    custom = config.custom_domains
    generator_batch = config.generator.batch_size
    queries_per_annotation_batch = annotation_batch_queries(config)
    pacing_file = str(pacing_file_of(config))
    with FactoryPipeline(
        name=pipeline_name(config),
        description="ReMixer: conditioned query generation, source-free candidate mining, "
        "LLM relevance annotation (reasonembed)",
        cache_dir=distilabel_cache_dir(config),
    ) as pipeline:
        seeds = SelectSeeds(
            name="select_seeds",
            domain_runs=config.domains,
            seeds=config.seeds,
            sampling_seed=config.seed,
            bright=config.bright,
            seeds_file=seeds_file,
            oversample=seed_oversample(config),
            pacing_file=pacing_file,
            batch_size=generator_batch,
        )
        last = seeds
        if config.domain_filter.enabled:
            domain_filter = FilterDomain(
                name="filter_domain",
                llm=build_llm(config.generator, config.cache_dir, config.seed),
                custom_domains=custom,
                seed_quota={run.domain: seed_quota(run, config.seeds) for run in config.domains},
                input_batch_size=generator_batch,
            )
            last = last >> domain_filter
        queries = GenerateQueries(
            name="generate_queries",
            llm=build_llm(config.generator, config.cache_dir, config.seed),
            custom_domains=custom,
            sampling_seed=config.seed,
            query_generation=config.query_generation,
            input_batch_size=generator_batch,
        )
        last = last >> queries
        if config.query_generation.reasoning_query:
            reasoning = GenerateReasoningQueries(
                name="generate_reasoning_queries",
                llm=build_llm(config.generator, config.cache_dir, config.seed),
                custom_domains=custom,
                query_generation=config.query_generation,
                input_batch_size=generator_batch,
            )
            last = last >> reasoning
        last = last >> FilterQueries(
            name="filter_queries",
            quality=config.quality,
            bright=config.bright,
            input_batch_size=query_filter_batch(config),
        )
        mining = MineCandidates(
            name="mine_candidates",
            domain_runs=config.domains,
            mining=config.mining,
            quality=config.quality,
            embedding_cache_dir=str(Path(config.cache_dir) / "embeddings"),
            # exact search reads every corpus shard once per batch: large batches amortise it
            input_batch_size=MINING_BATCH_QUERIES,
        )
        annotation = AnnotateRelevance(
            name="annotate_relevance",
            llm=build_llm(config.annotator, config.cache_dir, config.seed),
            custom_domains=custom,
            annotation=config.annotation.model_copy(
                update={"score_mode": annotation_score_mode(config)}
            ),
            input_batch_size=queries_per_annotation_batch,
        )
        assemble = AssembleSamples(
            name=LEAF_STEP,
            quality=config.quality,
            bright=config.bright,
            config_hash=config_hash(config),
            pacing_file=pacing_file,
            input_batch_size=queries_per_annotation_batch,
        )
        last >> mining >> annotation >> assemble
    seeds.seeds_in_flight = window_for(
        [getattr(step, "input_batch_size", 0) for step in pipeline_steps(pipeline)],
        generator_batch,
    )
    apply_step_resources(pipeline, config.engine)
    return pipeline

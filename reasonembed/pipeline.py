"""build_pipeline(config) -> the ReMixer distilabel Pipeline.

    select_seeds -> [filter_domain] -> generate_queries -> [generate_reasoning_queries]
        -> filter_queries -> mine_candidates -> annotate_relevance -> assemble_samples

One row per seed flows through every step (mining attaches a query's candidates as a list, the
annotation step fans them out to the LLM), so every step is a per-row step and memory is bounded
by batch sizes. `assemble_samples` is the only leaf: one record per seed, whatever happened to it
(`reasonembed.steps.assembly`); `reasonembed.output_writer` streams its files into the output
folder.

The pipeline name carries the config hash, so a second run of the same config is served from
distilabel's cache (under `{cache_dir}/distilabel`), and the LLM request cache (under
`{cache_dir}/requests.sqlite`) serves every request that already completed, even after a crash.
"""

from __future__ import annotations

from pathlib import Path

from distilabel.pipeline import Pipeline

from reasonembed.config import FactoryConfig, config_hash
from reasonembed.engine import apply_step_resources
from reasonembed.llms import build_llm

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


def distilabel_cache_dir(config: FactoryConfig) -> Path:
    return Path(config.cache_dir) / "distilabel"


def pipeline_name(config: FactoryConfig) -> str:
    """The config's name and hash: runs of the same config share distilabel's cache folder
    (`distilabel_cache_dir(config) / pipeline_name(config)`)."""
    return f"{config.name}-{config_hash(config)}"


def build_pipeline(config: FactoryConfig, seeds_file: str | None = None) -> Pipeline:
    """The pipeline of `config`; `seeds_file`: seed rows already selected (see SelectSeeds)."""
    from reasonembed.steps.annotation import AnnotateRelevance
    from reasonembed.steps.assembly import AssembleSamples
    from reasonembed.steps.domain_filter import FilterDomain
    from reasonembed.steps.mining import MineCandidates
    from reasonembed.steps.queries import GenerateQueries, GenerateReasoningQueries
    from reasonembed.steps.query_filter import FilterQueries
    from reasonembed.steps.seeds import SelectSeeds, seed_quota

    digest = config_hash(config)
    domain_runs = [run.model_dump(mode="json") for run in config.domains]
    custom = [domain.model_dump(mode="json") for domain in config.custom_domains]
    generator_batch = config.generator.batch_size
    queries_per_annotation_batch = annotation_batch_queries(config)
    with Pipeline(
        name=pipeline_name(config),
        description="ReMixer: conditioned query generation, source-free candidate mining, "
        "LLM relevance annotation (reasonembed)",
        cache_dir=distilabel_cache_dir(config),
    ) as pipeline:
        seeds = SelectSeeds(
            name="select_seeds",
            domain_runs=domain_runs,
            seed_settings=config.seeds.model_dump(mode="json"),
            sampling_seed=config.seed,
            bright=config.bright,
            seeds_file=seeds_file,
            oversample=seed_oversample(config),
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
            length_weights=config.query_generation.length_weights,
            education_weights=config.query_generation.education_weights,
            max_reasks=config.query_generation.max_reasks,
            max_new_tokens=config.generator.max_new_tokens,
            input_batch_size=generator_batch,
        )
        last = last >> queries
        if config.query_generation.reasoning_query:
            reasoning = GenerateReasoningQueries(
                name="generate_reasoning_queries",
                llm=build_llm(config.generator, config.cache_dir, config.seed),
                custom_domains=custom,
                max_reasks=config.query_generation.max_reasks,
                max_new_tokens=config.generator.max_new_tokens,
                input_batch_size=generator_batch,
            )
            last = last >> reasoning
        quality = config.quality.model_dump(mode="json")
        last = last >> FilterQueries(
            name="filter_queries",
            quality=quality,
            bright=config.bright,
            input_batch_size=max(generator_batch, 16),
        )
        mining = MineCandidates(
            name="mine_candidates",
            domain_runs=domain_runs,
            retriever=config.mining.retriever,
            pooling=config.mining.pooling,
            max_length=config.mining.max_length,
            search_top_k=config.mining.search_top_k,
            n_candidates=config.mining.n_candidates,
            encode_batch_size=config.mining.encode_batch_size,
            trust_remote_code=config.mining.trust_remote_code,
            dtype=config.mining.dtype,
            index_kind=config.mining.index,
            shard_docs=config.mining.shard_docs,
            nlist=config.mining.nlist,
            nprobe=config.mining.nprobe,
            ef_search=config.mining.ef_search,
            recall_sample_rate=config.mining.recall_sample_rate,
            encode_workers=config.mining.encode_workers,
            embedding_cache_dir=str(Path(config.cache_dir) / "embeddings"),
            bm25_top_k=config.quality.lexical_top_k,
            near_duplicate_cosine=config.quality.near_duplicate_cosine
            if config.quality.drop_source_duplicates
            else None,
            # exact search reads every corpus shard once per batch: large batches amortise it
            input_batch_size=MINING_BATCH_QUERIES,
        )
        annotation = AnnotateRelevance(
            name="annotate_relevance",
            llm=build_llm(config.annotator, config.cache_dir, config.seed),
            custom_domains=custom,
            score_mode=annotation_score_mode(config),
            max_document_chars=config.annotation.max_document_chars,
            max_reasks=config.annotation.max_reasks,
            max_new_tokens=config.annotator.max_new_tokens,
            input_batch_size=queries_per_annotation_batch,
        )
        assemble = AssembleSamples(
            name=LEAF_STEP,
            positive_threshold=config.annotation.positive_threshold,
            quality=quality,
            bright=config.bright,
            config_hash=digest,
            input_batch_size=queries_per_annotation_batch,
        )
        last >> mining >> annotation >> assemble
    apply_step_resources(pipeline, config.engine)
    return pipeline

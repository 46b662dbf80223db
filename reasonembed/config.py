"""FactoryConfig: everything a ReMixer run needs, loaded from YAML.

`load_config(path)` validates the file (unknown keys, unknown domains, bad values) and raises
`UserError` naming the file and the field. `config_hash(config)` identifies a configuration in
lineage and in the distilabel pipeline name (runs of the same config share the cache).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reasonembed.corpus import CorpusSource
from reasonembed.domains import Domain, DomainRegistry
from reasonembed.errors import UserError
from reasonembed.quality.filters import TrivialityConfig

DEFAULT_CACHE_DIR = ".cache/reasonembed"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PriceConfig(_Strict):
    """USD per million tokens (the provider's list price, or your cost of a GPU-hour turned into
    tokens); used by `reasonembed estimate`, the cost in stats.json and `budget.max_cost_usd`."""

    prompt_usd_per_million: float = Field(default=0.0, ge=0)
    completion_usd_per_million: float = Field(default=0.0, ge=0)


class BudgetConfig(_Strict):
    """What one run of this role may spend on fresh requests (cached answers are free). When
    reached, the run stops asking, finishes with the queries that are complete, and the next run
    continues from the request cache."""

    max_tokens: int | None = Field(default=None, ge=1, description="prompt + completion tokens")
    max_cost_usd: float | None = Field(default=None, gt=0)


class LLMConfig(_Strict):
    """One LLM role (generator or annotator).

    backend: `local` (bundled SmolLM2-135M-Instruct, offline, demo quality), `openai` (any
        OpenAI-compatible server), `vllm` (in-process vLLM, optional extra).
    model: model name (server model id, vLLM path; for `local`, "smollm2-135m").
    base_url: one URL or a list (requests are spread over them); `openai` only.
    api_key_env: NAME of the environment variable holding the key (the key itself is never stored).
    concurrency: requests in flight per step process (`openai`); timeout_s: per attempt;
        max_retries: the `openai` client's retries (backoff with jitter, Retry-After honoured).
    price: USD per million prompt / completion tokens; budget: per run, tokens or USD.
    chat_template_kwargs: extra arguments of the model's chat template, e.g.
        `{enable_thinking: false}` for Qwen3 (sent as `extra_body.chat_template_kwargs` by
        `openai`, to `LLM.chat` by `vllm`, to `apply_chat_template` by `local`); part of the
        request-cache key.
    """

    backend: Literal["local", "openai", "vllm"] = "local"
    model: str = "smollm2-135m"
    base_url: str | list[str] | None = None
    api_key_env: str | None = None
    temperature: float = Field(default=0.7, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    top_k: int | None = 40
    max_new_tokens: int = Field(default=512, ge=1)
    concurrency: int = Field(default=8, ge=1)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=6, ge=0)
    batch_size: int = Field(default=8, ge=1)
    price: PriceConfig = Field(default_factory=PriceConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    chat_template_kwargs: dict[str, Any] | None = None


class SeedConfig(_Strict):
    """Seed selection. BRIGHT test documents (gold and excluded ids of the domain's task, when
    FactoryConfig.bright is set) are never seeds; `exclude_ids_files`: text files with one doc_id
    per line, excluded too."""

    min_chars: int = Field(default=200, ge=0)
    max_chars: int = Field(default=5000, ge=1)
    max_seeds_per_domain: int = Field(default=10_000, ge=1)
    exclude_ids_files: list[str] = Field(default_factory=list)


class DomainRun(_Strict):
    """A domain to synthesise for, and its corpus (searched whole during mining)."""

    domain: str
    corpus: CorpusSource
    max_seeds: int | None = None


class QueryGenerationConfig(_Strict):
    max_reasks: int = Field(default=2, ge=0)
    length_weights: dict[str, int] = Field(
        default_factory=lambda: {
            "less than 100 words": 1,
            "100 to 200 words": 2,
            "200 to 300 words": 3,
            "300 to 400 words": 3,
            "400 to 500 words": 2,
            "at least 500 words": 1,
        }
    )
    education_weights: dict[str, int] = Field(
        default_factory=lambda: {"high school": 1, "college": 2, "PhD": 2}
    )
    reasoning_query: bool = True


class MiningConfig(_Strict):
    retriever: str = "minilm"
    pooling: str = "auto"
    max_length: int | None = None
    search_top_k: int = Field(default=1000, ge=1)
    n_candidates: int = Field(default=100, ge=1)
    encode_batch_size: int = Field(default=32, ge=1)
    index: Literal["exact", "ivf", "hnsw"] = Field(
        default="exact",
        description="exact: inner product over every document, float16 shards searched one at a "
        "time (memory: one shard); ivf / hnsw: a FAISS approximate index built from the shards, "
        "its recall@100 against exact search measured on a sample of queries",
    )
    shard_docs: int = Field(
        default=65536, ge=1, description="documents per embedding shard (float32 memory: one shard)"
    )
    nlist: int | None = Field(
        default=None, ge=1, description="ivf: inverted lists (None: about 4 sqrt(documents))"
    )
    nprobe: int = Field(default=32, ge=1, description="ivf: lists visited per query")
    ef_search: int = Field(default=128, ge=1, description="hnsw: search breadth per query")
    recall_sample_rate: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="ivf / hnsw: share of queries (chosen by a hash of the query) also searched "
        "exactly to measure the approximate index's recall@100",
    )
    encode_workers: int = Field(
        default=1,
        ge=1,
        description="processes encoding corpus shards (one per GPU when there are GPUs)",
    )


class AnnotationConfig(_Strict):
    """score_mode: `tag` parses <score>N</score> from the answer; `forced` lets the model write
    its analysis, then chooses the digit from the model's probabilities for "1".."5", calibrated
    over the batch (local backend only: for tiny models that never write the tag; demo grade);
    `auto`: forced for `local`, tag otherwise."""

    max_reasks: int = Field(default=2, ge=0)
    positive_threshold: int = Field(default=3, ge=2, le=5)
    score_mode: Literal["auto", "tag", "forced"] = "auto"
    max_document_chars: int | None = Field(
        default=None,
        ge=100,
        description="cut documents to this many characters in the prompt (None: whole)",
    )


class DomainFilterConfig(_Strict):
    enabled: bool = False


class FactoryConfig(_Strict):
    name: str = "remixer"
    seed: int = 42
    domains: list[DomainRun]
    custom_domains: list[Domain] = Field(default_factory=list)
    seeds: SeedConfig = Field(default_factory=SeedConfig)
    domain_filter: DomainFilterConfig = Field(default_factory=DomainFilterConfig)
    generator: LLMConfig = Field(default_factory=LLMConfig)
    annotator: LLMConfig = Field(default_factory=LLMConfig)
    query_generation: QueryGenerationConfig = Field(default_factory=QueryGenerationConfig)
    mining: MiningConfig = Field(default_factory=MiningConfig)
    annotation: AnnotationConfig = Field(default_factory=AnnotationConfig)
    bright: str | None = Field(
        default=None,
        description="BRIGHT folder (or 'hub'): its test documents are never seeds, generated "
        "queries close to its test queries are dropped, its gold documents among candidates are "
        "counted (removed with quality.strict)",
    )
    quality: TrivialityConfig = Field(default_factory=TrivialityConfig)
    cache_dir: str = DEFAULT_CACHE_DIR

    @model_validator(mode="after")
    def _check(self) -> FactoryConfig:
        registry = DomainRegistry(self.custom_domains)
        names = [run.domain for run in self.domains]
        for name in names:
            registry.get(name)
        if len(set(names)) != len(names):
            raise ValueError(f"a domain is listed twice in `domains`: {names}")
        if self.seeds.min_chars > self.seeds.max_chars:
            raise ValueError("seeds.min_chars is larger than seeds.max_chars")
        if self.mining.n_candidates > self.mining.search_top_k:
            raise ValueError("mining.n_candidates is larger than mining.search_top_k")
        return self

    @property
    def registry(self) -> DomainRegistry:
        return DomainRegistry(self.custom_domains)


def load_config(path: str | Path) -> FactoryConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise UserError(f"{path}: cannot read config: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise UserError(f"{path}: invalid YAML: {error}") from error
    return parse_config(data, where=str(path))


def parse_config(data: object, where: str = "config") -> FactoryConfig:
    try:
        return FactoryConfig.model_validate(data)
    except UserError as error:
        raise UserError(f"{where}: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(top level)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise UserError(f"{where}: {problems}") from error


def config_hash(config: FactoryConfig) -> str:
    payload = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]

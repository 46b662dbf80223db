"""The blocks of a FactoryConfig, one per stage and service: the LLM endpoints (price, budget),
seeds, the domains run, query generation, mining, annotation, the domain filter and the engine.

The steps take these blocks as they are (`reasonembed.factory.pipeline`), never a copy of their
fields. Nothing here imports torch.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from reasonembed.data.corpus import CorpusSource
from reasonembed.quality.triviality import DEFAULT_POSITIVE_SCORE

DEFAULT_CACHE_DIR = ".cache/reasonembed"
# POSIX name of an environment variable; anything else in `api_key_env` is a pasted key or a typo
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# mining.pooling: "auto" or one of reasonembed.retrieval.pooling.POOLING_MODES (tests keep them
# in step; pooling.py imports torch, which this module must not)
MiningPooling = Literal["auto", "mean", "cls", "last_token"]
EncoderDtype = Literal["auto", "float32", "float16", "bfloat16"]


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
    model: str = Field(default="smollm2-135m", min_length=1)
    base_url: str | list[str] | None = None
    api_key_env: str | None = None
    temperature: float = Field(default=0.7, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    top_k: int | None = Field(default=40, ge=1, description="null: not sent")
    max_new_tokens: int = Field(default=512, ge=1)
    concurrency: int = Field(default=8, ge=1)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=6, ge=0)
    batch_size: int = Field(default=8, ge=1)
    price: PriceConfig = Field(default_factory=PriceConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    chat_template_kwargs: dict[str, Any] | None = None

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # never echo the value: it may be the key itself
        if value is not None and not ENV_NAME_RE.fullmatch(value):
            raise ValueError(
                "holds what looks like an API key, not the NAME of an environment variable: "
                "remove it from the config (and revoke it if the file was shared), export the "
                "key in a variable (e.g. OPENAI_API_KEY) and write that variable's name here"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _urls(cls, value: str | list[str] | None) -> str | list[str] | None:
        urls = [value] if isinstance(value, str) else (value or [])
        if isinstance(value, list) and not value:
            raise ValueError("an empty list; give at least one URL (e.g. http://127.0.0.1:8000/v1)")
        for url in urls:
            if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", url):
                raise ValueError(f"{url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
        return value

    @model_validator(mode="after")
    def _backend_settings(self) -> LLMConfig:
        if self.backend == "openai" and not self.base_url:
            raise ValueError("backend openai needs `base_url` (e.g. http://127.0.0.1:8000/v1)")
        return self

    @property
    def base_urls(self) -> list[str]:
        """`base_url` as a list ([] when unset)."""
        if self.base_url is None:
            return []
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)


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
    max_seeds: int | None = Field(default=None, ge=1)


Weight = Annotated[int, Field(ge=0)]


class QueryGenerationConfig(_Strict):
    """Target lengths and education levels are sampled by weight (at least one weight > 0)."""

    max_reasks: int = Field(default=2, ge=0)
    length_weights: dict[str, Weight] = Field(
        default_factory=lambda: {
            "less than 100 words": 1,
            "100 to 200 words": 2,
            "200 to 300 words": 3,
            "300 to 400 words": 3,
            "400 to 500 words": 2,
            "at least 500 words": 1,
        }
    )
    education_weights: dict[str, Weight] = Field(
        default_factory=lambda: {"high school": 1, "college": 2, "PhD": 2}
    )
    reasoning_query: bool = True

    @field_validator("length_weights", "education_weights")
    @classmethod
    def _some_weight(cls, value: dict[str, int]) -> dict[str, int]:
        if not any(weight > 0 for weight in value.values()):
            raise ValueError("needs at least one entry with a weight above 0")
        return value


class MiningConfig(_Strict):
    """Dense candidate mining (`reasonembed.retrieval.Encoder`).

    retriever: a bundled alias ("minilm"), a local folder or a Hub model id.
    pooling: "auto" (the folder's sentence-transformers setting, else last_token for decoder
        models, mean otherwise), "mean", "cls" or "last_token".
    max_length: tokens per query and passage (None: the model folder's setting, else 512).
    trust_remote_code: run the model repository's own code (gte-Qwen2-7B-instruct needs it).
    dtype: weights' dtype; "auto": float16/bfloat16 on a GPU, float32 on a CPU.
    """

    retriever: str = Field(default="minilm", min_length=1)
    pooling: MiningPooling = "auto"
    max_length: int | None = Field(default=None, ge=1)
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
    trust_remote_code: bool = False
    dtype: EncoderDtype = "auto"


class AnnotationConfig(_Strict):
    """score_mode: `tag` parses <score>N</score> from the answer; `forced` lets the model write
    its analysis, then chooses the digit from the model's probabilities for "1".."5", calibrated
    over the batch (local backend only: for tiny models that never write the tag; demo grade);
    `auto`: forced for `local`, tag otherwise."""

    max_reasks: int = Field(default=2, ge=0)
    positive_threshold: int = Field(default=DEFAULT_POSITIVE_SCORE, ge=2, le=5)
    score_mode: Literal["auto", "tag", "forced"] = "auto"
    max_document_chars: int | None = Field(
        default=None,
        ge=100,
        description="cut documents to this many characters in the prompt (None: whole)",
    )


class DomainFilterConfig(_Strict):
    """The optional LLM filter "does this passage belong to the domain?", run BEFORE seed
    sampling as the authors do: the seed step draws `oversample` x max_seeds eligible documents
    (in the sampling order), the filter asks about them in that order, and the first max_seeds
    that pass are the seeds; the rest are counted as not sampled without an LLM call once the
    domain's quota is full. Raise `oversample` when a domain's passing rate is low."""

    enabled: bool = False
    oversample: float = Field(default=2.0, ge=1.0)


class EngineConfig(_Strict):
    """Where the pipeline runs (`reasonembed.factory.engine`); not part of the config hash: the same
    config gives the same samples on either engine.

    kind: `local` (distilabel's Pipeline: one process per step replica on this machine) or `ray`
        (distilabel's RayPipeline: step replicas are Ray actors on a cluster).
    address: the Ray cluster to join (e.g. `10.0.0.1:6379`, as `ray start --head` prints it);
        None: the cluster in RAY_ADDRESS, else the one `ray start` started on this machine, else
        a new local Ray instance.
    replicas: step name -> replicas (e.g. `{annotate_relevance: 8}`; the steps of
        `reasonembed.factory.pipeline`); gpus_per_replica: step name -> whole GPUs per replica (distilabel's
        `StepResources` takes whole GPUs).
    """

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(default=None, min_length=1)
    replicas: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    gpus_per_replica: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)

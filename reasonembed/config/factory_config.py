"""FactoryConfig (the root of the YAML file: its blocks, `reasonembed.config.blocks`, put
together and checked against each other) and how a file becomes one: `load_config`,
`parse_config`, `check_paths`, `config_hash`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml
from pydantic import (
    Field,
    ValidationError,
    model_validator,
)

from reasonembed.config.blocks import (
    DEFAULT_CACHE_DIR,
    AnnotationConfig,
    DomainFilterConfig,
    DomainRun,
    EngineConfig,
    LLMConfig,
    MiningConfig,
    QueryGenerationConfig,
    SeedConfig,
    _Strict,
)
from reasonembed.config.errors import describe
from reasonembed.data.domains import Domain, DomainRegistry
from reasonembed.errors import UserError
from reasonembed.quality.filters import TrivialityConfig


class FactoryConfig(_Strict):
    name: str = Field(default="remixer", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    seed: int = 42
    domains: list[DomainRun] = Field(min_length=1)
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
    cache_dir: str = Field(default=DEFAULT_CACHE_DIR, min_length=1)
    engine: EngineConfig = Field(default_factory=EngineConfig)

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
        self._one_positive_threshold()
        return self

    def _one_positive_threshold(self) -> None:
        """`quality.min_positive_score` and `annotation.positive_threshold` are one setting (a
        candidate scored at or above it is a positive): the annotation one rules, the quality
        one may only repeat it."""
        threshold = self.annotation.positive_threshold
        if "min_positive_score" in self.quality.model_fields_set:
            if self.quality.min_positive_score != threshold:
                raise ValueError(
                    f"quality.min_positive_score ({self.quality.min_positive_score}) disagrees "
                    f"with annotation.positive_threshold ({threshold}): they are one setting; "
                    "set annotation.positive_threshold only"
                )
        elif self.quality.min_positive_score != threshold:
            # keep the dumped config (config.yaml, stats) telling the value really used
            self.quality = self.quality.model_copy(update={"min_positive_score": threshold})

    @property
    def registry(self) -> DomainRegistry:
        return DomainRegistry(self.custom_domains)


def load_config(path: str | Path) -> FactoryConfig:
    """Read, validate and check the files a config names; UserError (one line) on any problem."""
    from reasonembed.data.textio import read_utf8

    path = Path(path)
    text = read_utf8(path, "config")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UserError(f"{path}: invalid YAML: {' '.join(str(error).split())}") from None
    config = parse_config(data, where=str(path), text=text)
    check_paths(config, where=str(path))
    return config


def parse_config(data: object, where: str = "config", text: str | None = None) -> FactoryConfig:
    """Validate a config mapping; UserError naming `where`, each bad key and, given the YAML
    `text`, its line (`reasonembed.config.errors`: values are not echoed)."""
    try:
        return FactoryConfig.model_validate(data)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    except ValidationError as error:
        problems = describe(error, FactoryConfig, text)
        # `from None`: the chained ValidationError would print the inputs under -v
        raise UserError(f"{where}: {problems}") from None


def check_paths(config: FactoryConfig, where: str = "config") -> None:
    """UserError when a file or folder the config names does not exist (corpora are checked
    by `reasonembed.factory.preflight`, which also decodes them)."""
    for index, name in enumerate(config.seeds.exclude_ids_files):
        if not Path(name).expanduser().is_file():
            raise UserError(f"{where}: seeds.exclude_ids_files[{index}]: {name}: no such file")
    if config.bright and config.bright != "hub":
        folder = Path(config.bright).expanduser()
        if not (folder / "examples").is_dir():
            raise UserError(
                f"{where}: bright: {config.bright}: not a BRIGHT folder (it needs "
                "examples/<task>-00000-of-00001.parquet); give the folder or 'hub'"
            )


def config_hash(config: FactoryConfig) -> str:
    """What the samples depend on: every setting but `engine` (where the pipeline runs)."""
    payload = json.dumps(config.model_dump(mode="json", exclude={"engine"}), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]

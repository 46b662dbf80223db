"""The factory's configuration: everything a ReMixer run needs, loaded from YAML.

- `blocks`: one pydantic block per stage and service (LLM endpoints with price and budget, seeds,
  the domains run, query generation, mining, annotation, the domain filter, the engine).
- `factory_config`: `FactoryConfig`, the root of the file, and `load_config(path)`, which
  validates a file (UTF-8, YAML, unknown keys, unknown domains, enums, ranges, files that must
  exist) and raises `UserError`, one line naming the file and the key; `config_hash(config)`
  identifies a configuration in lineage and in the distilabel pipeline name (runs of the same
  config share the cache).
- `errors`: pydantic's validation errors as one line per key, with the YAML line.
- `template`: the commented config `reasonembed init` writes.

The names below are re-exported, so `from reasonembed.config import FactoryConfig` is the way in.
May import: `reasonembed.errors`, `reasonembed.data` (corpora, domains, text files) and
`reasonembed.quality` (the triviality settings); never steps, the run (`reasonembed.factory`) or
commands. Nothing here imports torch: `generate` validates configs in the parent process, before
distilabel forks its workers.
"""

from reasonembed.config.blocks import (
    DEFAULT_CACHE_DIR,
    AnnotationConfig,
    BudgetConfig,
    DomainFilterConfig,
    DomainRun,
    EngineConfig,
    LLMConfig,
    MiningConfig,
    PriceConfig,
    QueryGenerationConfig,
    SeedConfig,
)
from reasonembed.config.factory_config import (
    FactoryConfig,
    check_paths,
    config_hash,
    load_config,
    parse_config,
)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "AnnotationConfig",
    "BudgetConfig",
    "DomainFilterConfig",
    "DomainRun",
    "EngineConfig",
    "FactoryConfig",
    "LLMConfig",
    "MiningConfig",
    "PriceConfig",
    "QueryGenerationConfig",
    "SeedConfig",
    "check_paths",
    "config_hash",
    "load_config",
    "parse_config",
]

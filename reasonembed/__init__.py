"""reasonembed: the ReMixer synthetic data factory for reasoning-intensive retrieval.

The package by floors (each package's docstring says what it holds and what it may import;
tests/test_layers.py checks the directions):

    errors, logs, interrupts, network   process-wide helpers
    data/        contracts and files: records, stats.json, the output folder, corpora, domains
    bright/ quality/ retrieval/ prompts/   BRIGHT's files, quality metrics, encoders, prompts
    config/      the factory's configuration (FactoryConfig and its blocks)
    llms/        LLM backends
    steps/       the distilabel steps of the ReMixer pipeline (and the seed gate between them)
    factory/     one generate run and its machinery (pipeline, engine, caches, preflight)
    train/ eval/ hub/ validation/   Redapter, the evaluator, Hub releases, validate
    commands/, cli   the `reasonembed` command

Modules that once lived at the top level still import under their old names (a pipeline.yaml
saved earlier names `reasonembed.recovery_cache.FactoryPipeline`, now in
`reasonembed.factory.recovery_cache`): `_MOVED` maps them to their new places, on first import.
"""

import importlib
import importlib.util
import sys

__version__ = "0.1.0"

_MOVED = {
    "cache_inventory": "factory.cache_inventory",
    "cache_lock": "factory.cache_lock",
    "cache_prune": "factory.cache_prune",
    "config_check": "factory.check",
    "config_errors": "config.errors",
    "config_template": "config.template",
    "corpus": "data.corpus",
    "data_source": "data.data_source",
    "diskspace": "data.diskspace",
    "domains": "data.domains",
    "engine": "factory.engine",
    "estimate": "factory.estimate",
    "exports": "data.exports",
    "forking": "retrieval.forking",
    "generate_faults": "factory.generate_faults",
    "output": "data.output",
    "output_folder": "data.output_folder",
    "output_writer": "factory.output_writer",
    "pacing": "steps.seed_gate",
    "pipeline": "factory.pipeline",
    "pipeline_run": "factory.pipeline_run",
    "preflight": "factory.preflight",
    "progress": "factory.progress",
    "ray_placement": "factory.ray_placement",
    "records": "data.records",
    "recovery_cache": "factory.recovery_cache",
    "run_state": "factory.run_state",
    "staging": "data.staging",
    "stats": "data.stats",
    "textio": "data.textio",
    "textnorm": "data.textnorm",
}


class _MovedModules:
    """`reasonembed.<old>` -> the module now at `reasonembed.<new>` (the same object); a meta
    path finder and its loader (duck-typed: importlib.abc costs more to import than all this)."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.partition(".")
        if prefix != __name__ or name not in _MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module(f"{__name__}.{_MOVED[spec.name.partition('.')[2]]}")
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module):
        # the import machinery set the old name's spec on the module: give it back its own
        module.__spec__ = module.__spec__.loader_state


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())

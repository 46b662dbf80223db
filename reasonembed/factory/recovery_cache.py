"""distilabel's recovery cache, written at a per-batch cost that does not depend on the pipeline.

distilabel 1.5.3 snapshots its recovery state after EVERY batch (`BasePipeline._cache`: the
pipeline's YAML, the batch manager, the stages file), and for each path it touches it recomputes
the pipeline's signature, which dumps every step and introspects its runtime parameters. In a
profile of `benchmarks/scale.py` at 10k judgements (py-spy, all processes) that bookkeeping was
55% of the main process's CPU, taken from the annotation client and the LLM server on a small
machine, and it grows with the number of batches.

`LeanRecoveryCache`, mixed into the pipeline classes the factory runs (`FactoryPipeline` here,
the Ray pipeline in `ray_placement`), keeps what distilabel writes and when, minus the repetition:

- the cache paths are computed once, when the batches start flowing: the runtime parameters,
  which the signature covers, are set before that and do not change during the run;
- pipeline.yaml, which cannot change during a run, is written by the first snapshot and by the
  last one instead of after every batch;
- the batch manager and the stages file are still written after every batch, so distilabel's
  own resume sees exactly what it saw before.
"""

from __future__ import annotations

from typing import Any

from distilabel.pipeline import Pipeline
from distilabel.pipeline.base import BasePipeline

from reasonembed.factory.pipeline_run import FactoryRun


class LeanRecoveryCache:
    """Mixin for a distilabel `BasePipeline` subclass (put it first in the bases)."""

    _run_cache_location: dict[str, Any] | None = None
    _pipeline_yaml_saved = False
    _finalizing = False

    @property
    def _cache_location(self) -> dict[str, Any]:
        if self._run_cache_location is not None:
            return self._run_cache_location
        return BasePipeline._cache_location.fget(self)

    def _output_queue_loop(self) -> None:
        self._run_cache_location = BasePipeline._cache_location.fget(self)
        self._pipeline_yaml_saved = self._finalizing = False
        try:
            super()._output_queue_loop()
        finally:
            self._run_cache_location = None

    def _finalize_pipeline_execution(self) -> None:
        self._finalizing = True
        super()._finalize_pipeline_execution()

    def _cache(self) -> None:
        if self._run_cache_location is None or self._finalizing or not self._pipeline_yaml_saved:
            super()._cache()  # everything, pipeline.yaml included
            self._pipeline_yaml_saved = True
            return
        if self._dry_run:
            return
        # after a batch: only what a batch changes (the rest of distilabel's `_cache`)
        if self._batch_manager is not None:
            self._batch_manager.cache(
                path=self._cache_location["batch_manager"],
                steps_data_path=self._cache_location["steps_data"],
            )
        self._save_stages_status()


class FactoryPipeline(FactoryRun, LeanRecoveryCache, Pipeline):
    """distilabel's local `Pipeline` with the lean recovery cache, no Distiset at the end of
    `run()` (which returns None) and signals raised (`reasonembed.factory.pipeline_run`)."""

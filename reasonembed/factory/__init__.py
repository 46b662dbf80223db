"""The run layer: one `reasonembed generate` run and its machinery.

- `generate`: `generate(config, output)`, a FactoryConfig to an output folder; `generate_faults`:
  how a run ends when it cannot finish (a signal, a full disk); `progress`: the progress bars.
- `pipeline`: `build_pipeline(config)`, the ReMixer distilabel pipeline, and the lookups on it
  (`pipeline_steps`, `step_named`); `pipeline_run` (how a run ends), `recovery_cache`
  (`FactoryPipeline`, distilabel's recovery cache at a constant cost per batch), `engine` (this
  machine or a Ray cluster) and `ray_placement`.
- `run_state`: what a run keeps next to the caches between runs of one config; `output_writer`:
  the leaf records streamed into the output folder.
- its `cache_dir`: `cache_lock` (one run per cache), `cache_inventory` (what it holds and how
  big) and `cache_prune` (reclaiming space), which `reasonembed cache` reads.
- before any paid request: `preflight`, `check` (`reasonembed check`), `estimate`
  (`reasonembed estimate`).

May import everything below it: `reasonembed.errors`/`logs`/`interrupts`/`network`, `data`,
`config`, `quality`, `retrieval`, `prompts`, `llms`, `bright` and `steps`; never `train`,
`eval`, `validation`, `hub` or a command. Nothing may import it but the commands and
`reasonembed.quality` (the browser reads the output writer's keys); the steps never do
(tests/test_layers.py). Nothing is imported here: distilabel loads with the modules, not with
the package.
"""

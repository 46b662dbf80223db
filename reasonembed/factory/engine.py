"""Where the pipeline runs: this machine (distilabel's Pipeline) or a Ray cluster (RayPipeline).

    pipeline = build_pipeline(config)          # steps get `config.engine`'s replicas and GPUs
    run_pipeline(pipeline, config, use_cache)  # `engine.kind` local or ray

On Ray every step replica is an actor somewhere on the cluster, with these rules:

- The request cache and the usage ledger (`{cache_dir}/requests.sqlite`, SQLite in WAL mode)
  are one file that only processes of ONE host may open: WAL coordinates its writers through
  shared memory, which a network filesystem does not share between hosts. So the replicas of
  every step that holds an LLM are placed on the driver's node (the machine that runs
  `reasonembed generate`), and the file lives on that machine: budgets, the ledger, the progress
  bars and the cache stay exactly as on one machine. Those replicas are light clients of the
  `vllm serve` processes on the GPU nodes (`openai` backend, `base_url` listing every server);
  with the in-process `vllm` backend, their GPUs must be the driver node's own. The seed step
  and the leaf share the seed gate's SQLite file (`reasonembed.steps.seed_gate`) and run there too.
- Every other step (query filter, mining) may run on any node, so every node
  must see the config's paths (corpora, `cache_dir` with the embedding cache, `bright`) at the
  same absolute path (a shared filesystem), and the driver's working directory must exist on
  every node (relative paths are resolved against it). This is checked on every node before the
  pipeline starts.
- Workers get the run id (the ledger and budgets are per run) and the offline and logging
  settings of the driver's environment; never a secret: an API key must be in the environment
  of `ray start` on the driver's node (checked).
- Steps pass rows through Ray's object store, and the leaf step's files are written by the
  driver under `pipeline._cache_location` exactly as on one machine
  (`reasonembed.factory.output_writer.leaf_files`).

The placement of the LLM steps and the checks of every node are in `reasonembed.factory.ray_placement`.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reasonembed.errors import UserError
from reasonembed.factory.dag import step_named
from reasonembed.factory.ray_placement import check_cluster, host_pinned_ray_pipeline
from reasonembed.logs import BARS_OFF_ENV, PROGRESS_EVERY_ENV

if TYPE_CHECKING:  # this module is imported by every Ray worker (setup_worker): keep it light
    from distilabel.pipeline.base import BasePipeline

    from reasonembed.config import EngineConfig, FactoryConfig

RAY_EXTRA_HINT = "pip install 'reasonembed[ray]'"
# the driver's environment variables its Ray workers get (never a secret)
FORWARDED_ENV = (
    "REASONEMBED_RUN_ID",
    "DISTILABEL_LOG_LEVEL",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "TOKENIZERS_PARALLELISM",
    "HF_ENDPOINT",
    "HF_HUB_DISABLE_XET",
    *BARS_OFF_ENV,  # no tqdm bar in a worker when the driver's stderr is no terminal
    PROGRESS_EVERY_ENV,
)
DRIVER_CWD_ENV = "REASONEMBED_DRIVER_CWD"


def apply_step_resources(pipeline: BasePipeline, engine: EngineConfig) -> None:
    """Set each named step's `StepResources` (replicas, GPUs) from `engine`; UserError naming
    the key when a step does not exist or cannot have replicas (a generator step)."""
    names = list(pipeline.dag)
    for key, table in (
        ("replicas", engine.replicas),
        ("gpus_per_replica", engine.gpus_per_replica),
    ):
        for name in table:
            if name not in names:
                raise UserError(
                    f"engine.{key}.{name}: no such step in this pipeline "
                    f"(steps: {', '.join(names)})"
                )
    for name in dict.fromkeys([*engine.replicas, *engine.gpus_per_replica]):
        step = step_named(pipeline, name)
        replicas = engine.replicas.get(name, step.resources.replicas)
        if replicas > 1 and not step.is_normal:
            raise UserError(
                f"engine.replicas.{name}: {name} runs as one process (it generates or sees "
                "every row); it cannot have replicas"
            )
        update: dict[str, Any] = {"replicas": replicas}
        if name in engine.gpus_per_replica:
            update["gpus"] = engine.gpus_per_replica[name]
        step.resources = step.resources.model_copy(update=update)


def run_pipeline(pipeline: BasePipeline, config: FactoryConfig, use_cache: bool) -> None:
    """Run `pipeline` on `config.engine`: `local` runs it here; `ray` joins the cluster at
    `engine.address` (None: RAY_ADDRESS, else the one `ray start` started here, else a new
    local instance), checks every node (see the module docstring), runs it as a RayPipeline
    and disconnects. The leaf files land where `reasonembed.factory.output_writer.leaf_files(pipeline,
    step)` reads them in both cases."""
    if config.engine.kind == "local":
        pipeline.run(use_cache=use_cache)
        return
    ray = import_ray()
    if ray.is_initialized():
        raise UserError(
            "ray is already initialised in this process: call ray.shutdown() first "
            "(reasonembed connects with its own settings)"
        )
    address = config.engine.address
    if address and address.startswith("ray://"):
        raise UserError(
            f"engine.address: {address}: Ray Client addresses are not supported: run "
            "`reasonembed generate` on a node of the cluster (the request cache lives on the "
            "driver's disk), with the address `ray start --head` printed"
        )
    if address:
        check_reachable(address)
    try:
        ray.init(address=address, runtime_env=worker_runtime_env())
    except ConnectionError as error:
        raise UserError(
            f"engine.address: cannot join the Ray cluster at {address or 'this machine'}: "
            f"{' '.join(str(error).split())[:300]}"
        ) from None
    try:
        ray_pipeline = host_pinned_ray_pipeline(pipeline)
        check_cluster(config, ray_pipeline)
        ray_pipeline.run(use_cache=use_cache)
    finally:
        ray.shutdown()


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """UserError unless something listens at `address` ("host:port"; other forms such as
    "auto" are left to Ray): Ray itself retries an unreachable address for minutes."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise UserError(
            f"engine.address: cannot join the Ray cluster at {address}: {error} (start it with "
            "`ray start --head` and give the address it prints)"
        ) from None


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(f"engine.kind ray needs Ray: {RAY_EXTRA_HINT}") from None
    return ray


def worker_runtime_env() -> dict[str, Any]:
    """Ray's job-level runtime_env: the forwarded variables (FORWARDED_ENV) and the driver's
    working directory, which `setup_worker` makes every worker's."""
    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    env[DRIVER_CWD_ENV] = os.getcwd()
    return {"env_vars": env, "worker_process_setup_hook": f"{__name__}.setup_worker"}


def setup_worker() -> None:
    """Runs in every Ray worker process before its tasks: work in the driver's directory (a
    node without it is reported by `check_cluster` before any step starts)."""
    folder = os.environ.get(DRIVER_CWD_ENV)
    if folder and Path(folder).is_dir():
        os.chdir(folder)
    # distilabel 1.5.3 on pydantic 2.14 warns on every import (as cli.main silences it)
    warnings.filterwarnings("ignore", message="The 'default' attribute with value None")

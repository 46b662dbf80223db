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
  with the in-process `vllm` backend, their GPUs must be the driver node's own.
- Every other step (seeds, query filter, mining, assembly) may run on any node, so every node
  must see the config's paths (corpora, `cache_dir` with the embedding cache, `bright`) at the
  same absolute path (a shared filesystem), and the driver's working directory must exist on
  every node (relative paths are resolved against it). This is checked on every node before the
  pipeline starts.
- Workers get the run id (the ledger and budgets are per run) and the offline and logging
  settings of the driver's environment; never a secret: an API key must be in the environment
  of `ray start` on the driver's node (checked).
- Steps pass rows through Ray's object store, and the leaf step's files are written by the
  driver under `pipeline._cache_location` exactly as on one machine
  (`reasonembed.output_writer.leaf_files`).
"""

from __future__ import annotations

import os
import socket
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reasonembed.errors import UserError

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
)
DRIVER_CWD_ENV = "REASONEMBED_DRIVER_CWD"


def apply_step_resources(pipeline: BasePipeline, engine: EngineConfig) -> None:
    """Set each named step's `StepResources` (replicas, GPUs) from `engine`; UserError naming
    the key when a step does not exist or cannot have replicas (a generator step)."""
    from distilabel.constants import STEP_ATTR_NAME

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
        step = pipeline.dag.get_step(name)[STEP_ATTR_NAME]
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
    and disconnects. The leaf files land where `reasonembed.output_writer.leaf_files(pipeline,
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


def llm_step_names(pipeline: BasePipeline) -> list[str]:
    """Steps that hold a ReasonEmbedLLM (and so open the request cache and the usage ledger)."""
    from distilabel.constants import STEP_ATTR_NAME

    from reasonembed.llms.base import ReasonEmbedLLM

    return [
        name
        for name in pipeline.dag
        if isinstance(
            getattr(pipeline.dag.get_step(name)[STEP_ATTR_NAME], "llm", None), ReasonEmbedLLM
        )
    ]


def host_pinned_ray_pipeline(pipeline: BasePipeline):
    """`pipeline.ray()`, with the replicas of its LLM steps placed on the driver's node."""
    import ray

    ray_pipeline = _pinned_pipeline_class()(
        name=pipeline.name,
        description=pipeline.description,
        cache_dir=pipeline._cache_dir,
        enable_metadata=pipeline._enable_metadata,
        requirements=pipeline.requirements,
    )
    ray_pipeline.dag = pipeline.dag
    ray_pipeline.pinned_steps = frozenset(llm_step_names(pipeline))
    ray_pipeline.pinned_node_id = ray.get_runtime_context().get_node_id()
    return ray_pipeline


_PINNED_CLASS = None


def _pinned_pipeline_class():
    """distilabel's RayPipeline whose `_run_step` places the replicas of `pinned_steps` on the
    node `pinned_node_id` (a hard node affinity). distilabel 1.5.3's own `_run_step` builds the
    actor's options from `StepResources` only, which cannot name a node; this one starts the
    same actor, with the same options, plus the placement. Other steps use distilabel's."""
    global _PINNED_CLASS
    if _PINNED_CLASS is not None:
        return _PINNED_CLASS
    import ray
    from distilabel.pipeline.base import set_pipeline_running_env_variables
    from distilabel.pipeline.ray import RayPipeline
    from distilabel.pipeline.step_wrapper import _StepWrapper
    from distilabel.utils.logging import setup_logging
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote
    class PinnedStepActor:
        def __init__(self, step_wrapper, log_queue, pipeline_name: str, cache_id: str) -> None:
            self.step_wrapper, self.log_queue = step_wrapper, log_queue
            self.pipeline_name, self.cache_id = pipeline_name, cache_id

        def run(self) -> str:
            setup_logging(log_queue=self.log_queue)
            set_pipeline_running_env_variables(self.pipeline_name, self.cache_id)
            return self.step_wrapper.run()

    class HostPinnedRayPipeline(RayPipeline):
        pinned_steps: frozenset[str] = frozenset()
        pinned_node_id: str | None = None

        def _run_step(self, step, input_queue, replica: int) -> None:
            if step.name not in self.pinned_steps:
                super()._run_step(step, input_queue, replica)
                return
            options: dict[str, Any] = {
                "name": f"distilabel-{self.name}-{step.name}-{replica}",
                "scheduling_strategy": NodeAffinitySchedulingStrategy(
                    node_id=self.pinned_node_id, soft=False
                ),
            }
            for key, value in (
                ("num_cpus", step.resources.cpus),
                ("num_gpus", step.resources.gpus),
                ("memory", step.resources.memory),
                ("resources", step.resources.resources),
            ):
                if value is not None:
                    options[key] = value
            self._logger.debug(f"Ray actor of '{step.name}' replica {replica}: {options}")
            actor = PinnedStepActor.options(**options).remote(
                step_wrapper=_StepWrapper(
                    step=step,
                    replica=replica,
                    input_queue=input_queue,
                    output_queue=self._output_queue,
                    load_queue=self._load_queue,
                    dry_run=self._dry_run,
                    ray_pipeline=True,
                ),
                log_queue=self._log_queue,
                pipeline_name=self.name,
                cache_id=self.signature,
            )
            actor.run.remote()

    _PINNED_CLASS = HostPinnedRayPipeline
    return _PINNED_CLASS


def check_cluster(config: FactoryConfig, ray_pipeline) -> None:
    """Before any step starts: the GPUs the steps ask for exist where they must, and every alive
    node sees the driver's directory, `cache_dir` (the same files: a marker written here is read
    there), the local corpora and `bright`; the driver's node has the LLM roles' API keys.
    UserError naming the node and what it lacks."""
    import ray
    from distilabel.constants import STEP_ATTR_NAME
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [node for node in ray.nodes() if node.get("Alive")]
    driver = ray_pipeline.pinned_node_id
    gpus = {node["NodeID"]: node["Resources"].get("GPU", 0) for node in nodes}
    pinned_gpus = 0
    for name in ray_pipeline.dag:
        resources = ray_pipeline.dag.get_step(name)[STEP_ATTR_NAME].resources
        if not resources.gpus:
            continue
        if name in ray_pipeline.pinned_steps:
            pinned_gpus += resources.gpus * resources.replicas
            where, have = "the driver's node (LLM steps run there)", gpus.get(driver, 0)
            need = pinned_gpus
        else:
            where, have = "one node", max(gpus.values(), default=0)
            need = resources.gpus
        if need > have:
            raise UserError(
                f"engine.gpus_per_replica.{name}: {need:g} GPUs needed on {where}, "
                f"{have:g} there: lower replicas or gpus_per_replica, or use `vllm serve` on "
                "the GPU nodes with the openai backend"
            )

    cache_dir = Path(config.cache_dir).resolve()
    token = uuid.uuid4().hex
    marker = cache_dir / "engine" / f"node-check-{token}.txt"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(token)
    paths = {"corpus " + run.domain: run.corpus.path for run in config.domains}
    if config.bright and config.bright != "hub":
        paths["bright"] = config.bright
    paths = {
        label: str(Path(path).expanduser().resolve())
        for label, path in paths.items()
        if Path(path).expanduser().exists()
    }
    keys = sorted(
        {
            role.api_key_env
            for role in (config.generator, config.annotator)
            if role.backend == "openai" and role.api_key_env
        }
    )
    check = ray.remote(num_cpus=0)(node_problems)
    try:
        reports = ray.get(
            [
                check.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                ).remote(
                    os.getcwd(),
                    str(marker),
                    token,
                    paths,
                    keys if node["NodeID"] == driver else [],
                )
                for node in nodes
            ],
            timeout=300,
        )
    finally:
        marker.unlink(missing_ok=True)
    for node, problems in zip(nodes, reports, strict=True):
        if problems:
            raise UserError(
                f"Ray node {node.get('NodeManagerAddress')} ({problems[0]}): {'; '.join(problems[1:])}"
            )


def node_problems(
    cwd: str, marker: str, token: str, paths: dict[str, str], key_names: list[str]
) -> list[str]:
    """Run on a node: [its host name, what it lacks...], or [] when it has everything."""
    problems = []
    if not Path(cwd).is_dir():
        problems.append(f"no directory {cwd} (the driver's working directory)")
    try:
        seen = Path(marker).read_text()
    except OSError:
        seen = None
    if seen != token:
        problems.append(
            f"cache_dir {Path(marker).parent.parent} is not the driver's (put it on a "
            "filesystem every node mounts at the same path)"
        )
    for label, path in paths.items():
        if not Path(path).exists():
            problems.append(f"{label}: no {path}")
    for name in key_names:
        if not os.environ.get(name, "").strip():
            problems.append(
                f"{name} is not set in its Ray workers' environment (export it before "
                "`ray start` on this node)"
            )
    return [socket.gethostname(), *problems] if problems else []

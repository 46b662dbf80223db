"""Ray placement for `reasonembed.factory.engine`: the LLM steps on the driver's node, every node checked.

`host_pinned_ray_pipeline(pipeline)` is distilabel's RayPipeline whose LLM steps (those holding a
ReasonEmbedLLM: they open the request cache and the usage ledger, one SQLite file that only the
processes of one host may open) are placed on the driver's node, and so are the seed step and the
leaf (they share the seed gate's SQLite file, `reasonembed.steps.seed_gate`). `check_cluster(config,
ray_pipeline)` runs `node_problems` on every alive node before any step starts: the GPUs the
steps ask for, the driver's working directory, the same `cache_dir`, the corpora, `bright` and,
on the driver's node, the LLM roles' API keys.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reasonembed.errors import UserError
from reasonembed.factory.dag import step_named

if TYPE_CHECKING:
    from distilabel.pipeline.base import BasePipeline

    from reasonembed.config import FactoryConfig


def llm_step_names(pipeline: BasePipeline) -> list[str]:
    """Steps that hold a ReasonEmbedLLM (and so open the request cache and the usage ledger)."""
    from reasonembed.llms.base import ReasonEmbedLLM

    return [
        name
        for name in pipeline.dag
        if isinstance(getattr(step_named(pipeline, name), "llm", None), ReasonEmbedLLM)
    ]


def paced_step_names(pipeline: BasePipeline) -> list[str]:
    """Steps that open the seed gate's SQLite file (`reasonembed.steps.seed_gate`): the seed step and
    the leaf."""
    return [
        name for name in pipeline.dag if getattr(step_named(pipeline, name), "pacing_file", None)
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
    ray_pipeline.pinned_steps = frozenset(llm_step_names(pipeline) + paced_step_names(pipeline))
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

    from reasonembed.factory.pipeline_run import FactoryRun
    from reasonembed.factory.recovery_cache import LeanRecoveryCache

    @ray.remote
    class PinnedStepActor:
        def __init__(self, step_wrapper, log_queue, pipeline_name: str, cache_id: str) -> None:
            self.step_wrapper, self.log_queue = step_wrapper, log_queue
            self.pipeline_name, self.cache_id = pipeline_name, cache_id

        def run(self) -> str:
            setup_logging(log_queue=self.log_queue)
            set_pipeline_running_env_variables(self.pipeline_name, self.cache_id)
            return self.step_wrapper.run()

    class HostPinnedRayPipeline(FactoryRun, LeanRecoveryCache, RayPipeline):
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
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [node for node in ray.nodes() if node.get("Alive")]
    driver = ray_pipeline.pinned_node_id
    gpus = {node["NodeID"]: node["Resources"].get("GPU", 0) for node in nodes}
    pinned_gpus = 0
    for name in ray_pipeline.dag:
        resources = step_named(ray_pipeline, name).resources
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

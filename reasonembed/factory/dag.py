"""The step objects of a distilabel pipeline's DAG (distilabel keeps each under `STEP_ATTR_NAME`
in its node's attributes): `step_named(pipeline, name)` and `pipeline_steps(pipeline)`."""

from __future__ import annotations

from typing import Any


def step_named(pipeline: Any, name: str) -> Any:
    """The step called `name` in `pipeline` (a distilabel Pipeline or RayPipeline)."""
    from distilabel.constants import STEP_ATTR_NAME

    return pipeline.dag.get_step(name)[STEP_ATTR_NAME]


def pipeline_steps(pipeline: Any) -> list:
    """Every step of `pipeline`, in the DAG's order."""
    return [step_named(pipeline, name) for name in pipeline.dag]

"""FactoryPipeline writes distilabel's recovery cache without recomputing it per batch, and a
finished run is still found in that cache by an exact re-run."""

from pathlib import Path

import pytest
import yaml
from distilabel.pipeline.base import BasePipeline
from distilabel.steps import LoadDataFromDicts, StepInput, step

from reasonembed.factory.output_writer import iter_raw_batches, leaf_files
from reasonembed.factory.recovery_cache import FactoryPipeline

ORIGINAL_CACHE_LOCATION = BasePipeline._cache_location.fget


@step(inputs=["number"], outputs=["square"])
def Square(inputs: StepInput):  # noqa: N802  (a distilabel step; no __future__ annotations
    # in this module: distilabel finds the StepInput parameter by its evaluated type hint)
    for row in inputs:
        row["square"] = row["number"] ** 2
    yield inputs


def run_pipeline(cache_dir: Path, rows: int, batch_size: int, monkeypatch) -> tuple[list, dict]:
    """Runs load -> square; returns the leaf rows and how often the cache paths were computed
    and pipeline.yaml written."""
    counts = {"locations": 0, "pipeline_yaml": 0}

    def counting_location(pipeline):
        counts["locations"] += 1
        return ORIGINAL_CACHE_LOCATION(pipeline)

    original_save = BasePipeline.save

    def counting_save(pipeline, path=None, format="json", dump=None, **kwargs):
        if str(path).endswith("pipeline.yaml"):
            counts["pipeline_yaml"] += 1
        return original_save(pipeline, path=path, format=format, dump=dump, **kwargs)

    monkeypatch.setattr(BasePipeline, "_cache_location", property(counting_location))
    monkeypatch.setattr(BasePipeline, "save", counting_save)
    with FactoryPipeline(name="lean-cache-test", cache_dir=cache_dir) as pipeline:
        load = LoadDataFromDicts(data=[{"number": n} for n in range(rows)], batch_size=batch_size)
        square = Square(input_batch_size=batch_size)
        load >> square
    assert pipeline.run(use_cache=True) is None  # no Distiset: the leaf's files are read
    counted = dict(counts)  # the run's, not the reading's
    files = leaf_files(pipeline, square.name)
    squares = [row["square"] for batch in iter_raw_batches(files) for row in batch]
    return sorted(squares), counted


@pytest.mark.parametrize("batches", [5, 40])
def test_cache_bookkeeping_does_not_grow_with_batches(tmp_path, monkeypatch, batches):
    squares, counts = run_pipeline(tmp_path / "cache", 200, 200 // batches, monkeypatch)
    assert squares == sorted(n * n for n in range(200))
    # paths: a fixed handful at set-up, one computation for the whole output loop, and the
    # end's; distilabel 1.5.3 alone computes them several times per batch
    assert counts["locations"] <= 12, counts
    # pipeline.yaml: written by the first snapshot and the final one, not per batch
    assert counts["pipeline_yaml"] == 2, counts
    executions = list((tmp_path / "cache").glob("lean-cache-test/*/executions/*"))
    assert len(executions) == 1
    assert (executions[0] / "pipeline.yaml").is_file()
    assert (executions[0] / "batch_manager.json").is_file()


def test_exact_rerun_is_served_from_the_recovery_cache(tmp_path, monkeypatch):
    first, _ = run_pipeline(tmp_path / "cache", 60, 10, monkeypatch)
    again, counts = run_pipeline(tmp_path / "cache", 60, 10, monkeypatch)
    assert again == first == sorted(n * n for n in range(60))
    # served from the cache: the output loop never ran, so nothing was snapshotted again
    assert counts["pipeline_yaml"] == 0, counts


def test_old_top_level_module_names_still_import():
    """Modules moved into packages import under their old names too, as the same module."""
    import importlib

    import reasonembed.data.records
    import reasonembed.factory.recovery_cache

    old = importlib.import_module("reasonembed.recovery_cache")
    assert old is reasonembed.factory.recovery_cache
    assert old.__spec__.name == "reasonembed.factory.recovery_cache"
    assert importlib.import_module("reasonembed.records") is reasonembed.data.records
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("reasonembed.no_such_module")


def test_a_pipeline_yaml_naming_the_old_module_path_still_loads():
    """pipeline.yaml files saved before the move name `reasonembed.recovery_cache` as the
    pipeline's type: distilabel's CLI builds its own Pipeline from such a file (the steps'
    paths, unchanged, are what it imports), and the old path still resolves for anyone who
    loads the type itself."""
    from distilabel.pipeline import Pipeline
    from distilabel.utils.serialization import _get_module_attr

    repo = Path(__file__).resolve().parents[2]
    data = yaml.safe_load((repo / "pipelines" / "remixer.yaml").read_text())
    assert data["pipeline"]["type_info"]["module"] == "reasonembed.factory.recovery_cache"
    data["pipeline"]["type_info"]["module"] = "reasonembed.recovery_cache"
    assert list(Pipeline.from_dict(data).dag) == [
        step["name"] for step in data["pipeline"]["steps"]
    ]
    assert _get_module_attr("reasonembed.recovery_cache", "FactoryPipeline") is FactoryPipeline

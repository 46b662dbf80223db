"""The seed gate (reasonembed.steps.seed_gate): the seed step stops emitting while `seeds_in_flight` seeds
are between it and the leaf, and a run through the real pipeline with a tight gate completes."""

from __future__ import annotations

import json
import queue
import threading

import pytest
from distilabel.constants import PIPELINE_NAME_ENV_NAME

from reasonembed.config import parse_config
from reasonembed.factory import pipeline as pipeline_module
from reasonembed.factory.generate import generate
from reasonembed.factory.pipeline import pacing_file_of, pipeline_name
from reasonembed.steps.seed_gate import SeedGate
from reasonembed.steps.seeds import SelectSeeds
from tests.support.factory_inputs import tiny_config, write_corpus
from tests.support.standin_server import StandinServer


def _seed_step(tmp_path, seeds: int, batch: int, window: int | None) -> SelectSeeds:
    seeds_file = tmp_path / "seeds.jsonl"
    seeds_file.write_text(
        "".join(
            json.dumps({"source_doc_id": f"d{n}", "source_text": f"text {n}", "domain": "x"}) + "\n"
            for n in range(seeds)
        )
    )
    step = SelectSeeds(
        name="select_seeds",
        domain_runs=[],
        seeds_file=str(seeds_file),
        pacing_file=str(tmp_path / "pacing.sqlite"),
        seeds_in_flight=window,
        batch_size=batch,
    )
    step.load()
    return step


def test_the_seed_step_waits_while_the_window_is_full(tmp_path, monkeypatch):
    monkeypatch.setenv(PIPELINE_NAME_ENV_NAME, "gate-test")
    step = _seed_step(tmp_path, seeds=20, batch=4, window=8)
    batches: queue.Queue = queue.Queue()

    def consume() -> None:
        for batch, last in step.process():
            batches.put((batch, last))

    threading.Thread(target=consume, daemon=True).start()
    first, second = batches.get(timeout=10), batches.get(timeout=10)
    assert [len(first[0]), len(second[0])] == [4, 4]
    with pytest.raises(queue.Empty):  # 8 in flight: a third batch would make 12 > 8
        batches.get(timeout=1.0)

    gate = SeedGate(tmp_path / "pacing.sqlite")  # the leaf's side of the same file
    gate.finish(4)
    third = batches.get(timeout=10)
    assert [row["source_doc_id"] for row in third[0]] == ["d8", "d9", "d10", "d11"]
    gate.finish(16)
    rest = [batches.get(timeout=10) for _ in range(2)]
    assert rest[-1][1] is True  # the last batch says so
    seen = [row["source_doc_id"] for batch, _ in (first, second, third, *rest) for row in batch]
    assert seen == [f"d{n}" for n in range(20)]


def test_without_a_window_the_seed_step_does_not_wait(tmp_path, monkeypatch):
    monkeypatch.setenv(PIPELINE_NAME_ENV_NAME, "gate-test")
    step = _seed_step(tmp_path, seeds=20, batch=4, window=None)
    assert sum(len(batch) for batch, _ in step.process()) == 20


def test_pacing_is_not_part_of_the_cache_signature(tmp_path):
    paced = _seed_step(tmp_path, seeds=4, batch=2, window=8)
    unpaced = _seed_step(tmp_path, seeds=4, batch=2, window=None)
    unpaced.pacing_file = None
    assert paced.signature == unpaced.signature


def test_a_run_with_a_tight_gate_completes_with_every_seed(tmp_path, monkeypatch):
    """120 seeds through the real pipeline (stand-in server, MiniLM mining) with a window of
    `window_for` over batches of 2 to 8: the gate closes many times, and every seed still ends
    as one leaf record."""
    monkeypatch.setattr(pipeline_module, "MINING_BATCH_QUERIES", 8)
    docs = [
        (f"doc{n}", f"Document {n} explains topic {n} in detail. " + "Sorting and searching " * 12)
        for n in range(130)
    ]
    role = {"backend": "openai", "model": "standin", "batch_size": 2}
    with StandinServer() as server:
        role["base_url"] = server.url
        config = parse_config(
            tiny_config(
                write_corpus(tmp_path, docs),
                tmp_path / "cache",
                domains=[
                    {
                        "domain": "leetcode",
                        "corpus": {"path": str(write_corpus(tmp_path, docs))},
                        "max_seeds": 120,
                    }
                ],
                generator=role,
                annotator={**role, "concurrency": 1},
                mining={"search_top_k": 4, "n_candidates": 2},
                annotation={"score_mode": "tag", "max_reasks": 0},
            )
        )
        built = pipeline_module.build_pipeline(config)
        window = built.dag.get_step("select_seeds")["step"].seeds_in_flight
        assert window < 120  # the gate must close in this run
        stats = generate(config, tmp_path / "out")

    funnel = {stage.stage: stage.count for stage in stats.funnel}
    assert funnel["seeds"] == 120
    assert stats.samples > 0
    gate_file = SeedGate(pacing_file_of(config))
    gate_file.pipeline = pipeline_name(config)
    assert gate_file.finished() == 120  # the leaf counted every seed

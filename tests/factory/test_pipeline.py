"""The distilabel pipeline: serialisation guards, and the factory end to end with the real local
model on a tiny corpus (seconds of generation, a few candidates)."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from reasonembed.config import parse_config
from reasonembed.data.stats import RunStats
from reasonembed.errors import EmptyDataset
from reasonembed.factory.generate import generate
from reasonembed.factory.pipeline import build_pipeline
from tests.support.factory_inputs import tiny_config, write_corpus

REPO = Path(__file__).resolve().parents[2]


def _walk_names(info: list[dict], prefix: str = "") -> set[str]:
    names = set()
    for entry in info:
        name = f"{prefix}{entry['name']}"
        names.add(name)
        if "runtime_parameters_info" in entry:
            names |= _walk_names(entry["runtime_parameters_info"], prefix=f"{name}.")
        if "keys" in entry:
            names |= {f"{name}.{key['name']}" for key in entry["keys"]}
    return names


def _runtime_names(parameters: dict, prefix: str = "") -> set[str]:
    names = set()
    for name, value in parameters.items():
        names.add(f"{prefix}{name}")
        if isinstance(value, dict):
            names |= _runtime_names(value, prefix=f"{prefix}{name}.")
    return names


def _own_fields(model) -> set[str]:
    """The pydantic fields declared by this project's classes (not distilabel's own), except
    those declared `exclude=True` (distilabel's `exclude_from_signature`, re-declared by the
    paced steps)."""
    fields = type(model).model_fields
    return {
        name
        for cls in type(model).__mro__
        if cls.__module__.startswith("reasonembed")
        for name in getattr(cls, "__annotations__", {})
        if name in fields and not fields[name].exclude
    }


def test_every_runtime_parameter_and_field_is_in_the_dump(tmp_path):
    config = parse_config(
        tiny_config(
            write_corpus(tmp_path),
            tmp_path / "cache",
            domain_filter={"enabled": True},
            annotator={
                "backend": "openai",
                "base_url": ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"],
                "api_key_env": "SOME_KEY",
            },
        )
    )
    pipeline = build_pipeline(config)
    dumped = {entry["name"]: entry["step"] for entry in pipeline.dump()["pipeline"]["steps"]}
    assert set(dumped) == {
        "filter_queries",
        "select_seeds",
        "filter_domain",
        "generate_queries",
        "generate_reasoning_queries",
        "mine_candidates",
        "annotate_relevance",
        "assemble_samples",
    }
    for name in pipeline.dag:
        step = pipeline.dag.get_step(name)["step"]
        runtime = _runtime_names(step.runtime_parameters_names)
        assert runtime <= _walk_names(dumped[name]["runtime_parameters_info"]), name
        for field in type(step).model_fields:
            assert len(field) > 1, f"{name}.{field}: one-letter names are dropped by distilabel"
        for field in _own_fields(step):
            assert field in dumped[name], f"{name}.{field} missing from pipeline.dump()"
        if "llm" in dumped[name]:
            for field in _own_fields(step.llm):
                assert len(field) > 1
                assert field in dumped[name]["llm"], (
                    f"{name}.llm.{field} missing from pipeline.dump()"
                )
    assert dumped["annotate_relevance"]["llm"]["api_key_env"] == "SOME_KEY"


def test_unknown_domain_in_config_is_one_clear_line(tmp_path):
    from reasonembed.errors import UserError

    with pytest.raises(UserError, match="unknown domain 'chemistry'"):
        parse_config({"domains": [{"domain": "chemistry", "corpus": {"path": "x.jsonl"}}]})


def assert_funnel_adds_up(stats) -> dict[str, int]:
    """Each funnel stage is the previous one minus the drops counted into it; returns the
    counts by stage."""
    for before, after in zip(stats.funnel, stats.funnel[1:], strict=False):
        assert after.count == before.count - sum(after.drops.values()), (before, after)
    return {stage.stage: stage.count for stage in stats.funnel}


def test_factory_end_to_end_with_the_local_model(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path)
    # 4 seeds x 3 candidates: the 135M model's calibrated scores leave some query with both a
    # positive and a negative (2 x 2 was seen to keep none)
    config = parse_config(
        tiny_config(
            corpus,
            tmp_path / "cache",
            domains=[{"domain": "leetcode", "corpus": {"path": str(corpus)}, "max_seeds": 4}],
            mining={"search_top_k": 6, "n_candidates": 3},
        )
    )
    output = tmp_path / "out"
    # distilabel's step outputs kept (removed by default): the re-run below is served from them
    stats = generate(config, output, keep_step_outputs=True)

    raw = pq.read_table(output / "raw").to_pylist()
    rejections = pq.read_table(output / "quarantine" / "quarantine.parquet").to_pylist()
    funnel = assert_funnel_adds_up(stats)
    # 7 documents: one too short, one a copy of another's text -> 5 eligible, 4 seeds
    assert funnel["corpus documents"] == 7 and funnel["seeds"] == 4
    assert (
        stats.drops["seeds:drop:too_short"] == 1 and stats.drops["seeds:drop:duplicate_text"] == 1
    )
    assert stats.drops["seeds:not_sampled:max_seeds"] == 1
    assert stats.samples >= 1 and len(raw) == stats.samples == funnel["samples"]
    # every annotated query had its 3 candidates judged or quarantined
    assert stats.candidates == funnel["annotated queries"] * 3
    assert stats.judgements == stats.candidates - stats.quarantined.judgements
    assert len(rejections) == (
        sum(count for key, count in stats.drops.items() if not key.startswith("seeds:"))
        + stats.quarantined.judgements
    )
    assert stats.decontamination.performed is False
    assert set(stats.prompt_hashes) == {"query_generation", "reasoning_query", "annotation"}
    for sample in raw:
        assert sample["query"] and sample["reasoning_query"]
        ids = {candidate["doc_id"] for candidate in sample["candidates"]}
        assert sample["source_doc_id"] not in ids
        if sample["source_doc_id"] in {"heap", "heap-copy"}:
            assert not ids & {"heap", "heap-copy"}  # the same text under another id is the source
        assert all(1 <= c["relevance_score"] <= 5 for c in sample["candidates"])
        assert sample["n_positives"] >= 1 and sample["n_negatives"] >= 1
        assert sample["prompt_hashes"] == {"domain_filter": None, **stats.prompt_hashes}
    for row in rejections:
        assert row["stage"] and row["reason"]

    exported = [
        json.loads(line)
        for path in (output / "reasonembed").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert len(exported) == len(raw)
    assert all(
        set(row)
        == {"prompt", "query", "reasoning_query", "pos", "neg", "train_group_size", "batch_size"}
        for row in exported
    )
    pipeline_yaml = yaml.safe_load((output / "pipeline.yaml").read_text())
    assert pipeline_yaml["pipeline"]["name"].startswith("tiny-")

    # a second run of the same config is served from the caches: no new LLM request
    requests = sqlite3.connect(tmp_path / "cache" / "requests.sqlite")
    before = requests.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    again = generate(config, tmp_path / "out2")
    after = requests.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    assert before == after > 0
    assert again.samples == stats.samples
    assert pq.read_table(tmp_path / "out2" / "raw").to_pylist() == raw

    # without distilabel's step cache, every request is answered by the request cache
    rerun = generate(config, tmp_path / "out3", use_cache=False)
    usage = rerun.llm_usage["stages"]
    assert set(usage) >= {"query", "reasoning", "annotation"}
    for stage, counts in usage.items():
        assert counts.get("requests", 0) == 0 and counts["cached"] > 0, stage
    assert rerun.deferred.complete is True
    assert rerun.annotation_prompt_layout["judgements"] > 0
    assert requests.execute("SELECT COUNT(*) FROM completions").fetchone()[0] == before

    # editing a prompt template regenerates its stage and no other: the template's text is part
    # of the step's signature, and the rows carry the hash of the prompt that made them
    from reasonembed.prompts import PromptTemplate, get_template
    from reasonembed.steps import llm_task

    edited = PromptTemplate(
        "annotation", get_template("annotation").text + "\nBe brief in your analysis.\n"
    )
    monkeypatch.setattr(
        llm_task,
        "get_template",
        lambda name: edited if name == "annotation" else get_template(name),
    )
    try:
        rerun = generate(config, tmp_path / "out4")
    except EmptyDataset:  # new analyses, new scores: this check is about requests and hashes
        rerun = RunStats.read(tmp_path / "out4")
    usage = rerun.llm_usage["stages"]
    for stage in ("query", "reasoning"):
        assert usage[stage]["requests"] == 0 and usage[stage]["cached"] > 0, stage
    assert usage["annotation"]["requests"] == rerun.candidates > 0
    assert rerun.prompt_hashes["annotation"] == edited.hash != stats.prompt_hashes["annotation"]
    edited_raw = pq.read_table(tmp_path / "out4" / "raw").to_pylist()
    assert {row["prompt_hashes"]["annotation"] for row in edited_raw} <= {edited.hash}
    monkeypatch.undo()

    # the same pipeline from its YAML through distilabel's own CLI (steps imported by module
    # path); distilabel's step cache ignored, every LLM request answered by the request cache
    before = requests.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    yaml_path = tmp_path / "remixer.yaml"
    yaml_path.write_text(yaml.safe_dump(build_pipeline(config).dump(), sort_keys=False))
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "distilabel"),
            "pipeline",
            "run",
            "--config",
            str(yaml_path),
            "--ignore-cache",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert requests.execute("SELECT COUNT(*) FROM completions").fetchone()[0] == before


def test_the_shipped_demo_config_keeps_samples(tmp_path):
    """pipelines/configs/demo.yaml itself (4 seeds per domain instead of 10), with the bundled
    model: the first thing a new user runs must keep samples."""
    data = yaml.safe_load((REPO / "pipelines" / "configs" / "demo.yaml").read_text())
    for run in data["domains"]:
        run["max_seeds"] = 4
    data["cache_dir"] = str(REPO / ".cache" / "reasonembed")  # the converted model is shared
    stats = generate(parse_config(data), tmp_path / "demo")
    assert stats.samples > 0
    assert stats.stage_count("seeds") == 8
    assert len(pq.read_table(tmp_path / "demo" / "raw").to_pylist()) == stats.samples

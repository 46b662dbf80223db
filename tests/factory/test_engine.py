"""`reasonembed.factory.engine`: the same pipeline on this machine and on a real Ray cluster.

The cluster test starts one real Ray head (`ray start --head`, 2 CPUs, its own temporary dir)
for the module, runs a config through `generate` locally and on the cluster (against the
OpenAI-compatible stand-in on 127.0.0.1: deterministic answers) and asserts the same samples.
"""

from __future__ import annotations

import argparse
import importlib.util
import socket

import pyarrow.parquet as pq
import pytest
from distilabel.constants import STEP_ATTR_NAME

from reasonembed.commands import generate as generate_command
from reasonembed.config import config_hash, parse_config
from reasonembed.errors import UserError
from reasonembed.factory.engine import run_pipeline, worker_runtime_env
from reasonembed.factory.generate import generate
from reasonembed.factory.pipeline import build_pipeline
from reasonembed.factory.ray_placement import _pinned_pipeline_class, llm_step_names, node_problems
from reasonembed.llms.request_cache import RequestCache
from tests.support.factory_inputs import tiny_config, write_corpus
from tests.support.standin_server import StandinServer

HAVE_RAY = importlib.util.find_spec("ray") is not None
# ray_driver: these tests make this process a Ray driver; they run last (tests/conftest.py)
N_CANDIDATES = 4


def _config(folder, cache_dir, server=None, **overrides) -> dict:
    url = server.url if server is not None else "http://127.0.0.1:9/v1"
    role = {"backend": "openai", "model": "standin", "base_url": url, "batch_size": 8}
    return tiny_config(
        write_corpus(folder),
        cache_dir,
        generator=role,
        annotator=role,
        mining={"search_top_k": 6, "n_candidates": N_CANDIDATES},
        annotation={"score_mode": "tag", "max_reasks": 0},
        **overrides,
    )


def _samples(output) -> list[tuple]:
    """Each sample's id, query and candidates (doc id, retrieval score, relevance score)."""
    rows = pq.read_table(output / "raw").to_pylist()
    return sorted(
        (
            row["sample_id"],
            row["query"],
            tuple(
                (c["doc_id"], round(c["retrieval_score"], 5), c["relevance_score"])
                for c in row["candidates"]
            ),
        )
        for row in rows
    )


def test_engine_settings_reach_the_steps_and_leave_the_config_hash(tmp_path):
    engine = {"replicas": {"annotate_relevance": 3}, "gpus_per_replica": {"mine_candidates": 1}}
    config = parse_config(_config(tmp_path, tmp_path / "cache", engine=engine))
    pipeline = build_pipeline(config)
    steps = pipeline.dump()["pipeline"]["steps"]
    resources = {step["name"]: step["step"]["resources"] for step in steps}
    assert resources["annotate_relevance"]["replicas"] == 3
    assert resources["mine_candidates"]["gpus"] == 1
    assert resources["generate_queries"] == {
        "replicas": 1,
        "cpus": None,
        "gpus": None,
        "memory": None,
        "resources": None,
    }
    # where it runs is not what it makes: the hash (lineage, pipeline name) ignores `engine`
    plain = parse_config(_config(tmp_path, tmp_path / "cache"))
    assert config_hash(config) == config_hash(plain)
    assert llm_step_names(pipeline) == [
        "generate_queries",
        "generate_reasoning_queries",
        "annotate_relevance",
    ]


@pytest.mark.parametrize(
    ("engine", "message"),
    [
        (
            {"replicas": {"annotate": 2}},
            r"engine\.replicas\.annotate: no such step .*annotate_relevance",
        ),
        ({"gpus_per_replica": {"filter_domain": 1}}, r"engine\.gpus_per_replica\.filter_domain"),
        (
            {"replicas": {"select_seeds": 2}},
            r"engine\.replicas\.select_seeds: .* cannot have replicas",
        ),
    ],
)
def test_engine_names_unknown_or_unreplicable_steps(tmp_path, engine, message):
    config = parse_config(_config(tmp_path, tmp_path / "cache", engine=engine))
    with pytest.raises(UserError, match=message):
        build_pipeline(config)


def test_engine_rejects_bad_values_by_key(tmp_path):
    with pytest.raises(UserError, match=r"engine\.replicas\.annotate_relevance"):
        parse_config(
            _config(tmp_path, tmp_path / "c", engine={"replicas": {"annotate_relevance": 0}})
        )
    with pytest.raises(UserError, match=r"engine\.kind"):
        parse_config(_config(tmp_path, tmp_path / "c", engine={"kind": "spark"}))


def test_ray_flag_sets_the_engine(tmp_path, monkeypatch):
    seen = {}

    def fake_generate(config, output, use_cache=True, overwrite=False, keep_step_outputs=False):
        seen["engine"] = config.engine
        raise SystemExit(0)

    path = tmp_path / "config.yaml"
    path.write_text(__import__("json").dumps(_config(tmp_path, tmp_path / "cache")))
    monkeypatch.setattr(generate_command, "generate", fake_generate)
    parser = argparse.ArgumentParser()
    generate_command.add_arguments(parser)
    for argv, expected in (
        ([], ("local", None)),
        (["--ray"], ("ray", None)),
        (["--ray", "10.0.0.1:6379"], ("ray", "10.0.0.1:6379")),
    ):
        with pytest.raises(SystemExit):
            generate_command.run(parser.parse_args([str(path), "-o", str(tmp_path / "o"), *argv]))
        assert (seen["engine"].kind, seen["engine"].address) == expected


def test_ray_engine_without_ray_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # import ray fails
    config = parse_config(_config(tmp_path, tmp_path / "cache", engine={"kind": "ray"}))
    with pytest.raises(UserError, match=r"pip install 'reasonembed\[ray\]'"):
        run_pipeline(build_pipeline(config), config, use_cache=True)


def test_workers_get_the_run_id_and_the_driver_directory_but_no_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("REASONEMBED_RUN_ID", "run-1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("HF_TOKEN", "hf-secret")
    monkeypatch.chdir(tmp_path)
    env = worker_runtime_env()["env_vars"]
    assert env["REASONEMBED_RUN_ID"] == "run-1"
    assert env["REASONEMBED_DRIVER_CWD"] == str(tmp_path)
    assert "sk-secret" not in env.values() and "hf-secret" not in env.values()


def test_node_check_names_what_a_node_lacks(tmp_path, monkeypatch):
    marker = tmp_path / "cache" / "engine" / "node-check-x.txt"
    marker.parent.mkdir(parents=True)
    marker.write_text("token")
    monkeypatch.delenv("REMOTE_KEY", raising=False)
    assert node_problems(str(tmp_path), str(marker), "token", {"corpus a": str(marker)}, []) == []
    problems = node_problems(
        str(tmp_path / "gone"),
        str(marker),
        "another token",  # another host's cache_dir under the same path
        {"corpus leetcode": str(tmp_path / "missing.jsonl")},
        ["REMOTE_KEY"],
    )
    assert problems[0] == socket.gethostname()
    text = "; ".join(problems[1:])
    assert "gone (the driver's working directory)" in text
    assert f"cache_dir {tmp_path / 'cache'} is not the driver's" in text
    assert "corpus leetcode: no" in text and "REMOTE_KEY is not set" in text


# ---- a real Ray cluster -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with StandinServer() as running:
        yield running


@pytest.fixture(scope="module")
def ray_head():
    if not HAVE_RAY:
        pytest.skip("ray is not installed (pip install 'reasonembed[ray]')")
    from tests.support.ray_cluster import RayHead

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        with RayHead(num_cpus=2) as head:
            yield head
    import ray

    ray.shutdown()  # this process stops being the cluster's driver


@pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'reasonembed[ray]')")
@pytest.mark.ray_driver
def test_a_config_on_ray_gives_the_local_samples(tmp_path, server, ray_head, monkeypatch):
    local = generate(
        parse_config(_config(tmp_path, tmp_path / "cache-local", server)), tmp_path / "local"
    )
    assert local.samples == 2

    # relative paths: the workers work in the driver's directory, not the cluster's
    monkeypatch.chdir(tmp_path)
    engine = {
        "kind": "ray",
        "address": ray_head.address,
        "replicas": {"annotate_relevance": 2},
    }
    config = parse_config(_config(tmp_path, "cache-ray", server, engine=engine))
    started = []  # (step, placed on the driver's node) of each replica the driver starts
    pinned_class = _pinned_pipeline_class()
    run_step = pinned_class._run_step

    def spy(self, step, input_queue, replica):
        started.append((step.name, step.name in self.pinned_steps and bool(self.pinned_node_id)))
        run_step(self, step, input_queue, replica)

    monkeypatch.setattr(pinned_class, "_run_step", spy)
    on_ray = generate(config, tmp_path / "ray")

    assert _samples(tmp_path / "ray") == _samples(tmp_path / "local")
    # the replicas that open the request cache or the seed gate's file ran on the driver's
    # node, the others anywhere
    assert sorted(started) == [
        ("annotate_relevance", True),
        ("annotate_relevance", True),
        ("assemble_samples", True),
        ("filter_queries", False),
        ("generate_queries", True),
        ("generate_reasoning_queries", True),
        ("mine_candidates", False),
        ("select_seeds", True),
    ]
    # the workers recorded their requests in the driver's ledger, under the driver's run id
    usage = on_ray.llm_usage["stages"]
    assert usage["annotation"]["requests"] == 2 * N_CANDIDATES
    assert usage["query"]["requests"] == usage["reasoning"]["requests"] == 2
    # ... and their answers in the request cache on the driver's disk
    assert len(RequestCache(tmp_path / "cache-ray" / "requests.sqlite")) == 2 + 2 + 2 * N_CANDIDATES
    assert not list((tmp_path / "cache-ray" / "engine").iterdir())  # node-check marker removed


@pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'reasonembed[ray]')")
@pytest.mark.ray_driver
def test_ray_engine_names_an_unreachable_cluster(tmp_path, server):
    config = parse_config(
        _config(
            tmp_path, tmp_path / "cache", server, engine={"kind": "ray", "address": "127.0.0.1:9"}
        )
    )
    with pytest.raises(
        UserError, match=r"engine\.address: cannot join the Ray cluster at 127\.0\.0\.1:9"
    ):
        run_pipeline(build_pipeline(config), config, use_cache=True)


@pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'reasonembed[ray]')")
@pytest.mark.ray_driver
def test_llm_steps_ask_for_gpus_the_driver_node_lacks(tmp_path, server, ray_head):
    engine = {
        "kind": "ray",
        "address": ray_head.address,
        "gpus_per_replica": {"annotate_relevance": 1},
    }
    config = parse_config(_config(tmp_path, tmp_path / "cache", server, engine=engine))
    pipeline = build_pipeline(config)
    assert pipeline.dag.get_step("annotate_relevance")[STEP_ATTR_NAME].resources.gpus == 1
    with pytest.raises(
        UserError,
        match=r"engine\.gpus_per_replica\.annotate_relevance: 1 GPUs needed on the driver's node",
    ):
        run_pipeline(pipeline, config, use_cache=True)

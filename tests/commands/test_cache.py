"""`reasonembed cache`: listing and pruning the cache a real `generate` run left (stand-in
server, MiniLM mining). The tests share that run and go in file order: listing, dry run and the
refusal change nothing; the prunes come last."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import date, timedelta
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest

from reasonembed.cli import main
from reasonembed.config import parse_config
from reasonembed.data.diskspace import folder_bytes
from reasonembed.factory.generate import generate
from reasonembed.factory.pipeline import pipeline_name
from reasonembed.llms.request_cache import RequestCache
from reasonembed.retrieval.cache import EmbeddingCache
from reasonembed.retrieval.models import model_fingerprint
from tests.support.cache_holder import holding_process
from tests.support.factory_inputs import tiny_config, write_corpus
from tests.support.standin_server import StandinServer

RETIRED = f"{model_fingerprint('org/retired-model')}-mean-512-norm"  # a model the config left
TOMORROW = (date.today() + timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def server():
    with StandinServer() as running:
        yield running


@pytest.fixture(scope="module")
def ran(tmp_path_factory, server):
    tmp = tmp_path_factory.mktemp("cache-command")
    role = {"backend": "openai", "model": "standin", "base_url": server.url, "batch_size": 8}
    config = tiny_config(
        write_corpus(tmp),
        tmp / "cache",
        generator=role,
        annotator=role,
        mining={"search_top_k": 6, "n_candidates": 4},
        annotation={"score_mode": "tag", "max_reasks": 0},
    )
    config_file = tmp / "config.yaml"
    config_file.write_text(json.dumps(config))
    generate(parse_config(config), tmp / "out", keep_step_outputs=True)
    # embeddings of a model an earlier config used, written as the encoder writes them
    EmbeddingCache(tmp / "cache" / "embeddings", RETIRED).save_docs("k", np.ones((3, 4)))
    return SimpleNamespace(
        tmp=tmp, config=config, config_file=str(config_file), cache=tmp / "cache", out=tmp / "out"
    )


def _tree(folder) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file()
    }


def _items(listing: dict, section: str) -> dict[str, dict]:
    return {item["name"]: item for item in listing["items"] if item["section"] == section}


def _errors(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]


def test_lists_each_section_of_a_real_cache_with_sizes_that_add_up(ran, capsys):
    assert main(["cache", ran.config_file, "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["cache_dir"] == str(ran.cache) and listing["lock"] == "free"
    for section in ("requests", "embeddings", "step outputs", "seeds"):
        assert listing["sections"][section] > 0, section
    assert listing["total_bytes"] == folder_bytes(ran.cache)  # every file in one item

    answers = {
        name.split(" / ")[1]: item["note"].split(" answers")[0]
        for name, item in _items(listing, "requests").items()
        if " / " in name
    }
    assert answers == {"annotation": "8", "query": "2", "reasoning": "2"}
    steps = _items(listing, "step outputs")
    name = pipeline_name(parse_config(ran.config))
    assert list(steps) == [name] and steps[name]["note"] == "finished"
    assert steps[name]["in_config"] is True and steps[name]["bytes"] > 0
    embeddings = _items(listing, "embeddings")
    assert embeddings.pop(RETIRED)["in_config"] is False
    assert embeddings.pop("corpora")["bytes"] > 0
    [(fingerprint, used)] = embeddings.items()  # the config's retriever, MiniLM
    assert used["in_config"] is True and used["bytes"] > 0 and "corpus shards: 1" in used["note"]

    # the table, reached through the generate output folder: same cache, same total
    assert main(["cache", str(ran.out)]) == 0
    table = capsys.readouterr().out
    assert f"cache_dir {ran.cache} (config tiny)" in table and "lock: free" in table
    for part in ("requests", "embeddings", "step outputs", "seeds", fingerprint, "not in config"):
        assert part in table
    assert table.splitlines()[-1].split()[:1] == ["total"]


def test_a_dry_run_says_what_would_go_and_changes_nothing(ran, capsys):
    before = _tree(ran.cache)
    kinds = ["step-outputs", "seeds", "embeddings-not-in-config", "requests"]
    args = [f"--prune={kind}" for kind in kinds] + ["--before", TOMORROW, "--dry-run"]
    assert main(["cache", ran.config_file, *args]) == 0
    said = capsys.readouterr().out
    assert said.startswith("would remove (dry run: nothing changed):")
    name = pipeline_name(parse_config(ran.config))
    for part in (f"step outputs: {name}", "seeds: ", RETIRED, "8 answers stored before"):
        assert part in said
    assert "would free about" in said
    assert main(["cache", ran.config_file, *args, "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["dry_run"] is True and planned["freed_bytes"] > 0
    assert {item["section"] for item in planned["items"]} == {
        "step outputs",
        "seeds",
        "embeddings",
        "requests",
    }
    assert _tree(ran.cache) == before


def test_pruning_is_refused_while_a_live_run_holds_the_cache(ran, capsys, caplog):
    with holding_process(ran.cache, "generate of tiny into /data/out") as holder:
        before = _tree(ran.cache)
        assert main(["cache", ran.config_file, "--prune", "step-outputs"]) == 1
        assert _tree(ran.cache) == before
        [error] = _errors(caplog)
        assert "is in use by another run" in error and f"PID {holder.pid}" in error
        assert main(["cache", ran.config_file]) == 0  # listing needs no lock: it names the holder
        assert "lock: generate of tiny into /data/out (host" in capsys.readouterr().out


def test_pruned_step_outputs_are_gone_and_a_rerun_sends_no_request(ran, server, capsys):
    assert main(["cache", ran.config_file, "--prune", "step-outputs"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("removed:") and "freed " in said
    assert list((ran.cache / "distilabel").iterdir()) == []
    answered = server.stats()["answered"]

    stats = generate(parse_config(ran.config), ran.tmp / "again")
    assert server.stats()["answered"] == answered  # every answer came from the request cache
    assert stats.llm_usage["total"]["requests"] == 0 and stats.llm_usage["total"]["cached"] == 12
    raw = [_samples(out) for out in (ran.out, ran.tmp / "again")]
    assert raw[0] == raw[1] and len(raw[0]) == 2  # the same samples (served, not asked)


def _samples(output) -> list[dict]:
    """The raw samples of an output folder without their `*_cached_requests` counts."""
    rows = sorted(pq.read_table(output / "raw").to_pylist(), key=lambda row: row["source_doc_id"])
    return [{k: v for k, v in row.items() if not k.endswith("_cached_requests")} for row in rows]


def test_pruning_embeddings_not_in_config_keeps_the_retrievers(ran, capsys):
    kept = [path.name for path in (ran.cache / "embeddings").iterdir() if path.name != RETIRED]
    assert main(["cache", ran.config_file, "--prune", "embeddings-not-in-config"]) == 0
    assert RETIRED in capsys.readouterr().out
    assert sorted(path.name for path in (ran.cache / "embeddings").iterdir()) == sorted(kept)


def test_pruning_requests_before_a_date_deletes_those_and_shrinks_the_file(ran, capsys):
    path = ran.cache / "requests.sqlite"
    cache = RequestCache(path)  # answers of an older run, 2 kB each, stored three days ago
    for index in range(300):
        cache.put(f"old-{index}", "x" * 2000, 500, 500, model="openai:old", stage="annotation")
    three_days_ago = time.time() - 3 * 86400
    sqlite3.connect(path).execute(
        "UPDATE completions SET at = ? WHERE model = 'openai:old'", (three_days_ago,)
    ).connection.commit()
    count = "SELECT model, COUNT(*) FROM completions GROUP BY model ORDER BY model"

    assert main(["cache", str(ran.cache), "--prune", "requests", "--before", "2000-01-01"]) == 0
    assert capsys.readouterr().out.strip() == "nothing to prune"
    size = path.stat().st_size
    assert size > 300 * 2000

    yesterday = (date.today() - timedelta(days=1)).isoformat()
    assert main(["cache", str(ran.cache), "--prune", "requests", "--before", yesterday]) == 0
    said = capsys.readouterr().out
    assert "openai:old / annotation" in said and "300 answers stored before" in said
    rows = sqlite3.connect(path).execute(count).fetchall()
    assert rows == [("openai:standin", 12)]  # this run's answers stay
    assert path.stat().st_size < size - 300 * 2000  # VACUUM gave the pages back


def test_a_request_cache_from_before_models_and_stages_were_recorded_is_listed(tmp_path, capsys):
    old = sqlite3.connect(tmp_path / "requests.sqlite")
    old.execute(
        "CREATE TABLE completions (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
        "prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL)"
    )
    old.executemany("INSERT INTO completions VALUES (?, 'answer', 1, 1)", [("a",), ("b",)])
    old.commit()
    old.close()
    assert main(["cache", str(tmp_path), "--json"]) == 0
    answers = _items(json.loads(capsys.readouterr().out), "requests")
    item = answers["(model not recorded) / (stage not recorded)"]
    assert item["note"] == "2 answers" and item["bytes"] == 2 * (len("answer") + 1)
    assert main(["cache", str(tmp_path), "--prune", "requests", "--before", TOMORROW]) == 0
    assert capsys.readouterr().out.strip() == "nothing to prune"  # undated: kept
    kept = sqlite3.connect(tmp_path / "requests.sqlite").execute("SELECT COUNT(*) FROM completions")
    assert kept.fetchone()[0] == 2


def test_bad_targets_and_options_are_one_line(tmp_path, ran, caplog):
    (tmp_path / "notes").mkdir()
    cases = [
        (["cache", str(tmp_path / "absent")], "no such file or folder"),
        (["cache", str(tmp_path / "notes")], "neither a cache_dir"),
        (["cache", str(ran.cache), "--prune", "embeddings-not-in-config"], "needs a config"),
        (["cache", str(ran.cache), "--prune", "requests"], "go together"),
        (["cache", str(ran.cache), "--prune", "requests", "--before", "soon"], "not a date"),
        (["cache", str(ran.cache), "--dry-run"], "goes with --prune"),
    ]
    for args, fragment in cases:
        caplog.clear()
        assert main(args) == 1, args
        [error] = _errors(caplog)
        assert fragment in error, error

"""Reading reasonembed-format training rows from folders, files and generate outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reasonembed.data.data_source import load_training_rows
from reasonembed.data.output_folder import OutputFolder
from reasonembed.errors import UserError
from tests.support.factory_output import write_output


def row(query: str, **extra) -> dict:
    base = {
        "prompt": "Retrieve documents that help answer the post.",
        "query": query,
        "reasoning_query": f"{query} (expanded)",
        "pos": [f"positive for {query}"],
        "neg": [f"negative for {query}", "another negative"],
        "train_group_size": 4,
        "batch_size": 2,
    }
    base.update(extra)
    return base


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_release_folder_takes_domain_from_file_name(tmp_path):
    write_jsonl(tmp_path / "biology-formatted.jsonl", [row("b1"), row("b2")])
    write_jsonl(tmp_path / "pony-formatted.jsonl", [row("p1")])
    rows = load_training_rows(str(tmp_path))
    assert [(r["domain"], r["query"]) for r in rows] == [
        ("biology", "b1"),
        ("biology", "b2"),
        ("pony", "p1"),
    ]
    assert rows[0]["pos"] == ["positive for b1"]
    assert rows[0]["train_group_size"] == 4 and rows[0]["batch_size"] == 2
    assert load_training_rows(str(tmp_path), domains=["pony"])[0]["query"] == "p1"
    with pytest.raises(UserError, match="leetcode"):
        load_training_rows(str(tmp_path), domains=["leetcode"])


def test_generate_output_folder_reads_only_reasonembed_subfolder(tmp_path):
    folder = OutputFolder(write_output(tmp_path / "out", domains={"economics": 2, "biology": 1}))
    rows = load_training_rows(str(folder.path))
    # the other configs of the same output (flagembedding JSONL, raw and sentence-transformers
    # parquet) are not read as training rows
    exports = folder.domain_files("reasonembed")
    assert sorted({r["source_file"] for r in rows}) == sorted(str(p) for p in exports.values())
    assert [r["domain"] for r in rows] == ["biology", "economics", "economics"]
    assert all(r["query"].startswith(f"[r1] {r['domain']} question") for r in rows)


def test_single_parquet_file(tmp_path):
    path = tmp_path / "robotics-formatted.parquet"
    pq.write_table(pa.Table.from_pylist([row("r1"), row("r2", reasoning_query=None)]), path)
    rows = load_training_rows(str(path))
    assert [r["domain"] for r in rows] == ["robotics", "robotics"]
    assert rows[1]["reasoning_query"] is None
    assert rows[1]["source_row"] == 2


def test_row_without_positive_names_file_row_and_field(tmp_path):
    path = write_jsonl(tmp_path / "biology-formatted.jsonl", [row("ok"), row("bad", pos=[])])
    with pytest.raises(UserError) as error:
        load_training_rows(str(path))
    message = str(error.value)
    assert str(path) in message and "row 2" in message and "'pos'" in message


def test_missing_source_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="neither an existing file"):
        load_training_rows(str(tmp_path / "nothing here"))


def test_hub_repo_at_revision_through_the_loopback_hub(hub_server, tmp_path):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_server.url, token=hub_server.token)
    repo = "lab/reasonembed-demo"
    api.create_repo(repo, repo_type="dataset")
    release = tmp_path / "release"
    write_jsonl(release / "reasonembed" / "biology.jsonl", [row("v1 query")])
    write_jsonl(release / "flagembedding" / "biology.jsonl", [{"query": "other config"}])
    api.upload_folder(folder_path=str(release), repo_id=repo, repo_type="dataset")
    api.create_tag(repo, tag="v1", repo_type="dataset")
    write_jsonl(release / "reasonembed" / "biology.jsonl", [row("v2 query"), row("v2 more")])
    api.upload_folder(folder_path=str(release), repo_id=repo, repo_type="dataset")

    hub_server.request_log.clear()
    assert [r["query"] for r in load_training_rows(f"{repo}@v1")] == ["v1 query"]
    downloaded = [path for _, path in hub_server.request_log if "/resolve/" in path]
    assert any("reasonembed/biology.jsonl" in path for path in downloaded)
    assert not any("flagembedding" in path for path in downloaded)  # only the reasonembed files
    latest = load_training_rows(repo)
    assert [(r["domain"], r["query"]) for r in latest] == [
        ("biology", "v2 query"),
        ("biology", "v2 more"),
    ]
    with pytest.raises(UserError, match="revision 'v9'"):
        load_training_rows(f"{repo}@v9")

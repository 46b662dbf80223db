"""OutputFolder reads what the factory's writer wrote (tests/support/factory_output.py)."""

from __future__ import annotations

import pytest

from reasonembed.data.output_folder import OutputFolder, config_glob, count_rows
from reasonembed.data.records import CONFIG_FILE, PIPELINE_FILE, STATS_FILE, raw_schema
from reasonembed.errors import UserError
from tests.support.factory_output import write_output


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> OutputFolder:
    root = tmp_path_factory.mktemp("output") / "out"
    return OutputFolder(write_output(root, domains={"biology": 3, "leetcode": 2}, raw_shards=2))


def test_metadata_and_files_of_a_written_folder(folder):
    assert folder.require_folder() is folder
    assert folder.stats.samples == 5 and folder.stats.samples_per_domain == {
        "biology": 3,
        "leetcode": 2,
    }
    assert folder.config["name"] == "test" and "annotation" in folder.config
    assert folder.missing_metadata() == []
    assert [path.name for path in folder.raw_files()] == [
        "train-00000-of-00002.parquet",
        "train-00001-of-00002.parquet",
    ]
    assert folder.raw_schema().names == raw_schema().names
    assert sorted(folder.domain_files("reasonembed")) == ["biology", "leetcode"]
    assert folder.domain_files("flagembedding")["leetcode"].name == "leetcode.jsonl"
    assert folder.config_files("sentence-transformers")[0].suffix == ".parquet"
    rows = {"raw": 5, "reasonembed": 5, "flagembedding": 5, "sentence-transformers": 10}
    assert {name: folder.rows(name) for name in rows} == rows  # st: a row per positive
    quarantine = folder.quarantine_file()
    assert quarantine is not None and quarantine == folder.quarantine_path
    assert folder.report_dir.is_dir() and not folder.validation_dir.exists()


def test_iter_raw_streams_only_the_asked_columns(folder):
    batches = list(folder.iter_raw(["n_positives", "domain", "not_a_column"], batch_rows=2))
    assert all(batch.schema.names == ["n_positives", "domain"] for batch in batches)
    assert all(batch.num_rows <= 2 for batch in batches) and len(batches) == 3  # 3 + 2 rows
    domains = [value for batch in batches for value in batch.column("domain").to_pylist()]
    assert domains == ["biology"] * 3 + ["leetcode"] * 2
    everything = next(folder.iter_raw())
    assert everything.schema.names == raw_schema().names


def test_missing_raw_columns_name_the_shard(folder):
    assert folder.raw_columns_missing(["domain", "query", "source_text"]) is None
    shard, missing = folder.raw_columns_missing(["domain", "no_such", "other"])
    assert shard == folder.raw_files()[0] and missing == ["no_such", "other"]


def test_an_empty_folder_reads_as_empty_or_says_what_is_missing(tmp_path):
    missing = OutputFolder(tmp_path / "nothing")
    with pytest.raises(UserError, match="nothing is not a folder: pass the output folder"):
        missing.require_folder()
    empty = OutputFolder(tmp_path)
    assert empty.raw_files() == [] and list(empty.iter_raw(["domain"])) == []
    with pytest.raises(UserError, match=f"no raw parquet files under {tmp_path / 'raw'}"):
        empty.raw_files(required=True)
    with pytest.raises(UserError, match="stats.json: missing"):
        empty.stats  # noqa: B018 (a property that reads the file)
    assert empty.config == {} and empty.quarantine_file() is None
    assert empty.missing_metadata() == [CONFIG_FILE, PIPELINE_FILE, STATS_FILE]
    assert empty.domain_files("reasonembed") == {} and empty.rows("raw") == 0
    (tmp_path / CONFIG_FILE).write_text("name: [unclosed\n")
    with pytest.raises(UserError, match="config.yaml: not valid YAML"):
        empty.config  # noqa: B018
    (tmp_path / CONFIG_FILE).write_text("- a list, not a mapping\n")
    assert empty.config == {}


def test_globs_and_row_counts(tmp_path):
    assert config_glob("raw") == "raw/*.parquet"
    assert config_glob("flagembedding") == "flagembedding/*.jsonl"
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"a": 2}\n')
    assert count_rows(path) == 2

"""Preflight: every input refused in one line before the first request (issue 17's table).

Servers are real: the stand-in OpenAI-compatible server on 127.0.0.1 (it counts every request
it receives), a port nobody listens on, and a socket that accepts but never answers.
"""

from __future__ import annotations

import json
import socket

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reasonembed import network
from reasonembed.config import config_hash, parse_config
from reasonembed.errors import UserError
from reasonembed.factory.preflight import preflight
from tests.support.factory_inputs import tiny_config, write_corpus
from tests.support.standin_server import StandinServer


def _config(tmp_path, **overrides):
    corpus = write_corpus(tmp_path / "corpus")
    return parse_config(tiny_config(corpus, tmp_path / "cache", **overrides))


def _openai(url: str, key_env: str | None = None) -> dict:
    return {"backend": "openai", "base_url": url, "model": "standin", "api_key_env": key_env}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server():
    with StandinServer() as running:
        yield running


def test_a_good_config_passes_and_probes_each_server_once(tmp_path, server, monkeypatch):
    monkeypatch.setenv("PREFLIGHT_TEST_KEY", "secret-value")
    config = _config(
        tmp_path,
        generator=_openai(server.url, "PREFLIGHT_TEST_KEY"),
        annotator=_openai(server.url, "PREFLIGHT_TEST_KEY"),
    )
    report = preflight(config, tmp_path / "out", overwrite=False)
    assert report.documents == {"leetcode": 7}
    assert report.servers == {server.url: ["generator", "annotator"]}
    assert report.output_state == "new"
    stats = server.stats()
    assert stats["requests"] == 1 and stats["answered"] == 0  # one GET /models, no chat


def test_unset_api_key_env_is_one_line_and_no_request(tmp_path, server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = _config(tmp_path, annotator=_openai(server.url, "OPENAI_API_KEY"))
    with pytest.raises(UserError) as raised:
        preflight(config, tmp_path / "out", overwrite=False)
    assert str(raised.value).startswith("annotator: api_key_env OPENAI_API_KEY is not set")
    monkeypatch.setenv("OPENAI_API_KEY", "  ")
    with pytest.raises(UserError, match="api_key_env OPENAI_API_KEY is empty"):
        preflight(config, None, overwrite=False)
    assert server.stats()["requests"] == 0


def test_a_key_shaped_variable_name_is_never_echoed(tmp_path, server):
    secret = "hf_q8ZkLmN3vRt5Yx2WcPa7Bd"  # a valid variable name, but a token
    config = _config(tmp_path, generator=_openai(server.url, secret))
    with pytest.raises(UserError) as raised:
        preflight(config, None, overwrite=False)
    assert "generator: api_key_env holds what looks like an API key" in str(raised.value)
    assert secret not in str(raised.value)
    assert server.stats()["requests"] == 0


def test_server_down_names_role_url_and_error(tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    config = _config(tmp_path, annotator=_openai(url))
    with pytest.raises(UserError) as raised:
        preflight(config, None, overwrite=False)
    assert str(raised.value).startswith(f"annotator: server {url} unreachable: ")
    assert "Connection refused" in str(raised.value)


def test_server_that_never_answers_times_out_in_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(network, "PROBE_TIMEOUT_S", 0.5)
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        config = _config(tmp_path, generator=_openai(url))
        with pytest.raises(UserError, match=f"generator: server {url} unreachable: .*timed out"):
            preflight(config, None, overwrite=False)


def test_output_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("not a folder")
    with pytest.raises(UserError, match="out.txt: --output is a file"):
        preflight(_config(tmp_path), target, overwrite=True)
    with pytest.raises(UserError, match="which is a file"):
        preflight(_config(tmp_path), target / "sub", overwrite=True)


def test_folder_of_another_run_needs_overwrite(tmp_path):
    config = _config(tmp_path)
    out = tmp_path / "out"
    (out / "reasonembed").mkdir(parents=True)
    (out / "reasonembed" / "leetcode.jsonl").write_text("{}\n")
    (out / "stats.json").write_text(json.dumps({"config_hash": "0123456789abcdef"}))
    with pytest.raises(UserError) as raised:
        preflight(config, out, overwrite=False)
    assert str(raised.value) == (
        f"{out}: holds the output of another run (stats.json); pass --overwrite to replace it, "
        "or choose another --output"
    )
    assert preflight(config, out, overwrite=True).output_state == "replace"
    # the same config's earlier output (e.g. a run stopped at its budget) is continued
    (out / "stats.json").write_text(json.dumps({"config_hash": config_hash(config)}))
    assert preflight(config, out, overwrite=False).output_state == "same-run"


def test_non_empty_folder_without_a_run_needs_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    with pytest.raises(UserError, match="folder is not empty .*'notes.md'.*pass --overwrite"):
        preflight(_config(tmp_path), out, overwrite=False)
    (out / "notes.md").unlink()
    assert preflight(_config(tmp_path), out, overwrite=False).output_state == "new"


def test_overwrite_never_replaces_the_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path)
    with pytest.raises(UserError, match="would replace the current folder"):
        preflight(config, tmp_path, overwrite=True)
    with pytest.raises(UserError, match="would replace the corpus of leetcode"):
        preflight(config, tmp_path / "corpus", overwrite=True)


def test_corpus_that_is_not_utf8_names_file_line_and_byte(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    good = json.dumps({"doc_id": "a", "text": "x" * 300}).encode() + b"\n"
    corpus.write_bytes(good + b'{"doc_id": "b", "text": "caf\xe9 au lait"}\n')
    config = parse_config(tiny_config(corpus, tmp_path / "cache"))
    with pytest.raises(UserError) as raised:
        preflight(config, None, overwrite=False)
    assert str(raised.value) == (
        f"{corpus}: line 2, byte offset {len(good) + 28}: not valid UTF-8 (byte 0xe9); "
        "re-encode the file as UTF-8"
    )


def test_parquet_corpus_with_bad_bytes_names_row_and_field(tmp_path):
    corpus = tmp_path / "corpus.parquet"
    texts = pa.array([b"fine text", b"bad \xff text"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"doc_id": ["a", "b"], "text": texts}), corpus)
    config = parse_config(tiny_config(corpus, tmp_path / "cache"))
    with pytest.raises(UserError, match=r"corpus.parquet: row 2: field 'text' is not valid UTF-8"):
        preflight(config, None, overwrite=False)


def test_hub_corpus_offline_is_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    corpus = write_corpus(tmp_path / "corpus")
    data = tiny_config(corpus, tmp_path / "cache")
    data["domains"].append({"domain": "biology", "corpus": {"path": "hub", "format": "bright"}})
    report = preflight(parse_config(data), None, overwrite=False)
    assert report.documents == {"leetcode": 7}
    assert report.warnings == [
        "corpus of biology: xlangai/BRIGHT on the Hub not verified (HF_HUB_OFFLINE is set)"
    ]

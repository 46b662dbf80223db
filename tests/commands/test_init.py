"""`reasonembed init`: a commented config for one domain of your own that `check` and a small
`generate` accept as written, against the OpenAI-compatible stand-in server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reasonembed.cli import main
from reasonembed.config import (
    AnnotationConfig,
    DomainFilterConfig,
    FactoryConfig,
    LLMConfig,
    QueryGenerationConfig,
    SeedConfig,
    load_config,
)
from reasonembed.data.corpus import CorpusSource
from reasonembed.data.domains import Domain
from reasonembed.data.stats import RunStats
from tests.support.standin_server import StandinServer

TOPICS = "congestion window, retransmission timer, sequence number, routing table, checksum".split(
    ", "
)


def _protocol_notes(count: int = 24) -> list[dict]:
    """Distinct documents of 200+ characters, columns `id` and `content` (not doc_id/text)."""
    return [
        {
            "id": f"note-{index}",
            "content": (
                f"Note {index} on the {TOPICS[index % 5]}: a sender adjusts its behaviour when "
                f"acknowledgements arrive late, and after {index + 2} lost segments it halves the "
                f"rate. Receivers reorder segments by the {TOPICS[(index + 2) % 5]} before "
                "delivering them, so applications see an ordered byte stream."
            ),
        }
        for index in range(count)
    ]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _last_line(capsys) -> str:
    return capsys.readouterr().out.splitlines()[-1]


def test_init_then_check_and_generate_on_the_config_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the config's relative cache_dir lands here
    corpus = _write_jsonl(tmp_path / "net-protocols.jsonl", _protocol_notes())
    with StandinServer() as server:
        argv = ["init", "--corpus", str(corpus), "--base-url", server.url, "--model", "standin"]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "domain 'net-protocols'" in out and "id_field 'id', text_field 'content'" in out
        config = tmp_path / "config.yaml"
        assert main(["check", str(config)]) == 0
        assert _last_line(capsys) == "check passed, 0 warning(s)"
        # generate in its own process: distilabel forks its step workers
        result = subprocess.run(
            [sys.executable, "-m", "reasonembed.cli", "generate", "config.yaml", "--output", "out"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert server.stats()["answered"] > 0
    stats = RunStats.model_validate_json((tmp_path / "out" / "stats.json").read_text())
    funnel = {stage.stage: stage.count for stage in stats.funnel}
    assert funnel["seeds"] == 20 and funnel["samples"] > 0


def test_every_key_of_the_custom_domain_and_roles_is_explained(tmp_path):
    corpus = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"doc_id": ["a"], "text": ["x" * 300], "title": ["t"]}), corpus)
    output = tmp_path / "configs" / "mine.yaml"
    argv = ["init", "--corpus", str(corpus), "--base-url", "http://127.0.0.1:8000/v1"]
    argv += ["--model", "Qwen/Qwen3-8B", "--domain", "net", "--api-key-env", "NET_KEY"]
    assert main([*argv, "-o", str(output)]) == 0
    text = output.read_text()
    config = load_config(output)
    assert config.custom_domains[0].name == "net" and config.domains[0].domain == "net"
    assert config.domains[0].corpus.format == "parquet"
    assert (config.domains[0].corpus.id_field, config.domains[0].corpus.text_field) == (
        "doc_id",
        "text",
    )
    assert config.generator.api_key_env == config.annotator.api_key_env == "NET_KEY"
    for model in (
        FactoryConfig,
        Domain,
        CorpusSource,
        LLMConfig,
        SeedConfig,
        QueryGenerationConfig,
        AnnotationConfig,
        DomainFilterConfig,
    ):
        missing = [name for name in model.model_fields if name not in text]
        assert not missing, f"{model.__name__}: {missing} not in the template"
    # every key the file sets is named in a comment
    comments = " ".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    keys = re.findall(r"^ *(?:- )?([a-z_]+):", text, flags=re.MULTILINE)
    assert len(keys) > 40 and not [key for key in keys if f"{key}" not in comments]


def test_init_refuses_to_overwrite_without_force(tmp_path, caplog):
    corpus = _write_jsonl(tmp_path / "c.jsonl", [{"doc_id": "a", "text": "x" * 300}])
    output = tmp_path / "config.yaml"
    output.write_text("mine\n")
    argv = ["init", "--corpus", str(corpus), "--base-url", "http://h/v1", "--model", "m"]
    assert main([*argv, "-o", str(output)]) == 1
    assert f"{output}: exists; pass --force to replace it" in caplog.text
    assert output.read_text() == "mine\n"
    assert main([*argv, "-o", str(output), "--force"]) == 0
    assert load_config(output).domains[0].domain == "c"


@pytest.mark.parametrize(
    "rows, options, message",
    [
        (
            [{"ref": "a", "words": "x" * 300}],
            [],
            "no 'doc_id' column and no usual id column (its columns: ref, words); "
            "pass --id-field COLUMN",
        ),
        ([{"doc_id": "a", "body": "x" * 300}], ["--text-field", "txt"], "no column 'txt'"),
    ],
)
def test_init_names_the_columns_it_cannot_use(tmp_path, caplog, rows, options, message):
    corpus = _write_jsonl(tmp_path / "c.jsonl", rows)
    argv = ["init", "--corpus", str(corpus), "--base-url", "http://h/v1", "--model", "m"]
    assert main([*argv, *options, "-o", str(tmp_path / "config.yaml")]) == 1
    assert message in caplog.text
    assert not (tmp_path / "config.yaml").exists()


def test_init_needs_an_existing_corpus_and_a_usable_domain_name(tmp_path, caplog):
    argv = ["init", "--base-url", "http://h/v1", "--model", "m", "-o", str(tmp_path / "c.yaml")]
    assert main([*argv, "--corpus", str(tmp_path / "missing.jsonl")]) == 1
    assert "missing.jsonl: no such file or folder" in caplog.text
    corpus = _write_jsonl(tmp_path / "biology.jsonl", [{"doc_id": "a", "text": "x" * 300}])
    assert main([*argv, "--corpus", str(corpus)]) == 1
    assert "domain 'biology' is a built-in BRIGHT domain; pass --domain NAME" in caplog.text
    assert main([*argv, "--corpus", str(corpus), "--domain", "bio", "--base-url", "h:80"]) == 1
    assert "init: the values given do not validate: generator.base_url: 'h:80' is not" in (
        caplog.text
    )
    assert not (tmp_path / "c.yaml").exists()

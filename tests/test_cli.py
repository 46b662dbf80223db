"""The `reasonembed` command: help, and bad input stopped with one line before any LLM call."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.factory_inputs import tiny_config, write_corpus

CLI = [sys.executable, "-m", "reasonembed.cli"]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_lists_every_command():
    result = _run("--help")
    assert result.returncode == 0
    for command in (
        "generate",
        "publish",
        "train",
        "eval",
        "eval-run",
        "validate",
        "report",
        "estimate",
    ):
        assert command in result.stdout


def _config_file(tmp_path: Path, corpus: Path, **overrides) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tiny_config(corpus, tmp_path / "cache", **overrides)))
    return path


def _assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]
    assert "Traceback" not in result.stderr


def test_corpus_row_without_text_stops_before_any_llm_call(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        json.dumps({"doc_id": "a", "text": "x" * 300}) + "\n" + json.dumps({"doc_id": "b"}) + "\n"
    )
    result = _run(
        "generate", str(_config_file(tmp_path, corpus)), "--output", str(tmp_path / "out")
    )
    _assert_one_line_error(result, str(corpus), "row 2", "missing field 'text'")
    assert not (tmp_path / "cache" / "requests.sqlite").exists()


def test_duplicate_doc_id_stops_before_any_llm_call(tmp_path):
    corpus = write_corpus(tmp_path, docs=[("a", "x" * 300), ("a", "y" * 300)])
    result = _run(
        "generate", str(_config_file(tmp_path, corpus)), "--output", str(tmp_path / "out")
    )
    _assert_one_line_error(result, "row 2", "duplicate doc_id 'a'")
    assert not (tmp_path / "cache").exists()


def test_unknown_domain_is_one_line(tmp_path):
    corpus = write_corpus(tmp_path)
    config = _config_file(
        tmp_path, corpus, domains=[{"domain": "chemistry", "corpus": {"path": str(corpus)}}]
    )
    result = _run("generate", str(config), "--output", str(tmp_path / "out"))
    _assert_one_line_error(result, str(config), "unknown domain 'chemistry'")


def test_verbose_flag_works_before_or_after_the_command():
    from reasonembed.cli import build_parser

    for argv in (
        ["-v", "check", "c.yaml"],
        ["check", "c.yaml", "-v"],
        ["check", "--verbose", "c.yaml"],
    ):
        assert build_parser(only="check").parse_args(argv).verbose is True
    assert build_parser(only="check").parse_args(["check", "c.yaml"]).verbose is False


def test_bad_config_values_are_one_line_without_traceback(tmp_path):
    corpus = write_corpus(tmp_path)
    config = _config_file(tmp_path, corpus, mining={"pooling": "last"})
    result = _run("check", str(config))
    _assert_one_line_error(result, str(config), "mining.pooling", "(got 'last')")
    domains = [{"domain": "leetcode", "corpus": {"path": str(corpus)}, "max_seeds": -2}]
    result = _run(
        "generate",
        str(_config_file(tmp_path, corpus, domains=domains)),
        "--output",
        str(tmp_path / "out"),
    )
    _assert_one_line_error(result, "domains[0].max_seeds", "greater than or equal to 1")
    assert not (tmp_path / "out").exists()


def test_non_utf8_corpus_is_one_line_naming_file_and_line(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(json.dumps({"doc_id": "a", "text": "x" * 300}).encode() + b"\n\xff\n")
    result = _run("check", str(_config_file(tmp_path, corpus)))
    _assert_one_line_error(result, str(corpus), "line 2, byte offset", "not valid UTF-8")


# a command that fails unexpectedly (registered by the tests below)
def add_arguments(parser):
    parser.add_argument("--message", default="boom")


def run(args):
    raise RuntimeError(f"{args.message}\nsecond line of the message")


def test_unexpected_error_is_one_line_and_traceback_only_with_verbose(monkeypatch, caplog):
    from reasonembed import cli

    monkeypatch.setitem(cli.COMMANDS, "explode", ("tests.test_cli", "fails on purpose"))
    assert cli.main(["explode"]) == 1
    errors = [record for record in caplog.records if record.levelname == "ERROR"]
    assert [record.getMessage() for record in errors] == [
        "RuntimeError: boom second line of the message (run with -v for the traceback)"
    ]
    assert errors[0].exc_info is None
    caplog.clear()
    assert cli.main(["explode", "-v"]) == 1
    errors = [record for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "Traceback" in caplog.text

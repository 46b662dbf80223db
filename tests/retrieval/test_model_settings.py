"""Evaluation settings: explicit options, then a trained folder's reasonembed.json, then defaults."""

from __future__ import annotations

import json

import pytest

from reasonembed.errors import UserError
from reasonembed.eval.instructions import instructions_for
from reasonembed.retrieval.model_settings import (
    SETTINGS_FILE,
    read_model_settings,
    resolve_eval_settings,
    write_model_settings,
)

TEMPLATE = "Instruct: {instruction}\nQuery: {query}"


def test_a_model_without_a_record_gets_the_official_instructions_and_its_own_length():
    settings = resolve_eval_settings("minilm")
    assert (settings.instructions, settings.max_length, settings.source) == (
        "official",
        None,
        "defaults",
    )
    assert resolve_eval_settings("minilm", "none", 128).max_length == 128


def test_a_trained_folder_is_evaluated_as_it_records_unless_told_otherwise(tmp_path):
    path = write_model_settings(tmp_path, "minilm", TEMPLATE, 64, 512)
    assert path == tmp_path / SETTINGS_FILE
    settings = resolve_eval_settings(str(tmp_path))
    assert (settings.instructions, settings.query_template, settings.max_length) == (
        "flagembedding",
        TEMPLATE,
        512,
    )
    assert settings.source == str(tmp_path / SETTINGS_FILE)
    leaderboard = resolve_eval_settings(str(tmp_path), "official", 256)
    assert (leaderboard.instructions, leaderboard.max_length) == ("official", 256)


def test_flagembedding_instructions_follow_the_recorded_template():
    default = instructions_for("biology", "flagembedding")
    assert default.query("q") == (
        "Instruct: Given a Biology post, retrieve relevant passages that help answer the post."
        "\nQuery: q"
    )
    custom = instructions_for(
        "leetcode", "flagembedding", query_template="<{instruction}> {query} [end {instruction}]"
    )
    wording = "Given a Coding problem, retrieve relevant examples that help answer the problem."
    assert custom.query("two {sum}") == f"<{wording}> two {{sum}} [end {wording}]"


@pytest.mark.parametrize(
    "record, message",
    [
        ("not json", "not a reasonembed model settings file"),
        ({"query_template": TEMPLATE}, "not a reasonembed model settings file"),
        (
            {"query_template": TEMPLATE, "evaluation": {"instructions": "x", "max_length": 9}},
            "evaluation.instructions must be one of",
        ),
        (
            {"query_template": "{query}", "evaluation": {"instructions": "none", "max_length": 9}},
            "query_template needs",
        ),
        (
            {"query_template": TEMPLATE, "evaluation": {"instructions": "none", "max_length": 0}},
            "evaluation.max_length must be a positive integer",
        ),
    ],
)
def test_a_malformed_record_is_one_line_naming_the_file(tmp_path, record, message):
    path = tmp_path / SETTINGS_FILE
    path.write_text(record if isinstance(record, str) else json.dumps(record))
    with pytest.raises(UserError, match=message) as error:
        read_model_settings(str(tmp_path))
    assert str(path) in str(error.value) and "\n" not in str(error.value)

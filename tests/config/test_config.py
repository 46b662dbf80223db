"""FactoryConfig validation at load: one line naming the file and the key, values never echoed
where they could be a secret."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
import yaml

from reasonembed.config import MiningConfig, load_config, parse_config
from reasonembed.errors import UserError
from reasonembed.retrieval.pooling import POOLING_MODES
from tests.support.factory_inputs import tiny_config, write_corpus

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "pipelines" / "configs").glob("*.yaml"))


def _load(tmp_path: Path, **overrides):
    corpus = write_corpus(tmp_path / "corpus")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tiny_config(corpus, tmp_path / "cache", **overrides)))
    return path, load_config(path)


def _refused(tmp_path: Path, **overrides) -> str:
    with pytest.raises(UserError) as raised:
        _load(tmp_path, **overrides)
    message = str(raised.value)
    assert "\n" not in message
    assert str(tmp_path / "config.yaml") in message
    return message


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_every_shipped_config_loads(path):
    config = load_config(path)
    assert config.domains


def test_pooling_modes_are_the_encoder_ones():
    assert set(get_args(MiningConfig.model_fields["pooling"].annotation)) == {
        "auto",
        *POOLING_MODES,
    }


def test_unknown_pooling_is_refused_at_load(tmp_path):
    message = _refused(tmp_path, mining={"pooling": "last"})
    assert "mining.pooling" in message and "'last_token'" in message and "(got 'last')" in message


def test_negative_max_seeds_is_refused_at_load(tmp_path):
    corpus = str(write_corpus(tmp_path / "corpus"))
    domains = [{"domain": "leetcode", "corpus": {"path": corpus}, "max_seeds": -2}]
    message = _refused(tmp_path, domains=domains)
    assert "domains[0].max_seeds" in message and "greater than or equal to 1" in message


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"mining": {"dtype": "fp16"}}, "mining.dtype"),
        ({"mining": {"max_length": 0}}, "mining.max_length"),
        ({"generator": {"backend": "openai"}}, "generator: backend openai needs `base_url`"),
        ({"annotator": {"backend": "openai", "base_url": "localhost:8000"}}, "annotator.base_url"),
        ({"generator": {"top_k": 0}}, "generator.top_k"),
        ({"query_generation": {"length_weights": {"100 words": 0}}}, "length_weights"),
        ({"annotation": {"score_mode": "regex"}}, "annotation.score_mode"),
        ({"name": "my run"}, "name"),
    ],
)
def test_bad_settings_name_their_key(tmp_path, overrides, key):
    assert key in _refused(tmp_path, **overrides)


def test_a_pasted_key_is_refused_and_never_echoed(tmp_path):
    secret = "sk-proj-4f9Qx2Lm8Zt1Vb7Nc3Kd"
    message = _refused(
        tmp_path, generator={"backend": "openai", "base_url": "http://x/v1", "api_key_env": secret}
    )
    assert "generator.api_key_env" in message and "looks like an API key" in message
    assert secret not in message and "sk-" not in message


def test_positive_threshold_is_one_setting(tmp_path):
    message = _refused(tmp_path, quality={"min_positive_score": 4})
    assert "quality.min_positive_score (4)" in message
    assert "annotation.positive_threshold (3)" in message
    # repeating the same value is fine; leaving it out makes it follow the annotation setting
    _, config = _load(
        tmp_path, quality={"min_positive_score": 4}, annotation={"positive_threshold": 4}
    )
    assert config.quality.min_positive_score == 4
    _, config = _load(tmp_path, annotation={"positive_threshold": 2})
    assert config.quality.min_positive_score == 2


def test_files_the_config_names_must_exist(tmp_path):
    message = _refused(tmp_path, seeds={"exclude_ids_files": [str(tmp_path / "nope.txt")]})
    assert "seeds.exclude_ids_files[0]" in message and "nope.txt" in message
    message = _refused(tmp_path, bright=str(tmp_path / "no-bright"))
    assert "bright:" in message and "not a BRIGHT folder" in message


def test_config_that_is_not_utf8_names_line_and_byte(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"name: tiny\nseed: 7\n# caf\xe9\n")
    with pytest.raises(UserError) as raised:
        load_config(path)
    assert str(raised.value) == (
        f"{path}: line 3, byte offset 24: not valid UTF-8 (byte 0xe9); re-encode the file as UTF-8"
    )


def test_unknown_key_and_bad_yaml_are_one_line(tmp_path):
    assert "mining.pool" in _refused(tmp_path, mining={"pool": "mean"})
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\nseed: 1\n")
    with pytest.raises(UserError, match="invalid YAML") as raised:
        load_config(path)
    assert "\n" not in str(raised.value)


def test_mining_defaults_keep_earlier_behaviour():
    config = parse_config({"domains": [{"domain": "biology", "corpus": {"path": "x"}}]})
    assert config.mining.pooling == "auto" and config.mining.dtype == "auto"
    assert config.mining.trust_remote_code is False


def test_a_typo_names_the_line_and_the_key_it_probably_meant(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    path = tmp_path / "config.yaml"
    path.write_text(
        f"name: typo\ndomains:\n  - domain: leetcode\n    corpus: {{path: {corpus}, txt_field: t}}\n"
        "annotator:\n  backend: local\n  modle: smollm2-135m\n"
    )
    with pytest.raises(UserError) as raised:
        load_config(path)
    assert str(raised.value) == (
        f"{path}: line 4: domains[0].corpus.txt_field: unknown key, did you mean 'text_field'?; "
        "line 7: annotator.modle: unknown key, did you mean 'model'?"
    )


def test_a_typo_of_a_required_key_is_not_also_reported_missing(tmp_path):
    domain = {
        "name": "net",
        "generaton_task": "Write a question.",
        **dict.fromkeys(("output_name", "query_type", "doc_type", "filter_topic"), "x"),
        "relevance_definition": "x",
        "retrieval_instruction": "x",
    }
    message = _refused(tmp_path, custom_domains=[domain])
    assert "custom_domains[0].generaton_task: unknown key, did you mean 'generation_task'?" in (
        message
    )
    assert "Field required" not in message and message.count("custom_domains[0]") == 1


def test_an_unknown_key_far_from_any_lists_the_valid_ones(tmp_path):
    message = _refused(tmp_path, mining={"zzz": 1})
    assert "line " in message
    assert "mining.zzz: unknown key (valid keys: retriever, pooling," in message

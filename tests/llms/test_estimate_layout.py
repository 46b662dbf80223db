"""`reasonembed estimate` and the annotation prompt layout report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reasonembed.cli import main
from reasonembed.config import load_config, parse_config
from reasonembed.factory.estimate import estimate, expected_words, format_table
from reasonembed.llms.prompt_layout import (
    annotation_prefix_report,
    chars_per_token_counter,
    shared_prefix_report,
    tokenizer_counter,
)
from reasonembed.steps.annotation import AnnotateRelevance
from tests.support.factory_inputs import DOCS, tiny_config, write_corpus
from tests.support.llms import ScriptedLLM

REPO = Path(__file__).resolve().parents[2]


def test_expected_words_of_the_length_mix():
    assert expected_words({"less than 100 words": 1}) == 75
    assert expected_words({"100 to 200 words": 1, "200 to 300 words": 1}) == 200
    assert expected_words({"at least 500 words": 1}) == pytest.approx(550)


def test_estimate_counts_calls_from_the_real_corpus(tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    data = tiny_config(corpus, tmp_path / "cache")
    data["annotator"] = {
        **data["annotator"],
        "price": {"prompt_usd_per_million": 1.0, "completion_usd_per_million": 2.0},
        "budget": {"max_cost_usd": 1e-6},
    }
    result = estimate(parse_config(data), reask_rate=0.0)
    # 2 seeds (max_seeds) x 2 candidates; no corpus assumption needed
    assert result["domains"][0]["seeds"] == 2 and result["domains"][0]["assumed"] == []
    stages = result["expected"]["stages"]
    assert stages["query"]["calls"] == 2 and stages["reasoning"]["calls"] == 2
    assert stages["annotation"]["calls"] == 4
    # completions are capped by max_new_tokens (40 generator, 12 annotator)
    assert stages["query"]["completion_tokens"] == 80
    assert stages["annotation"]["completion_tokens"] == 48
    cost = stages["annotation"]["prompt_tokens"] * 1e-6 + 48 * 2e-6
    assert stages["annotation"]["cost_usd"] == pytest.approx(cost, abs=1e-6)
    upper = result["upper_bound"]["stages"]
    assert upper["query"]["calls"] == 4  # max_reasks 1: every query asked twice
    assert result["budget_warnings"] and "annotator" in result["budget_warnings"][0]
    seed_chars = result["domains"][0]["seed_chars"]
    assert (
        min(len(t) for _, t in DOCS if len(t) >= 200) <= seed_chars <= max(len(t) for _, t in DOCS)
    )


def test_estimate_header_says_assumed_only_when_a_corpus_was_not_read(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "corpus")
    data = tiny_config(corpus, tmp_path / "cache")
    data["generator"] = {**data["generator"], "price": {"prompt_usd_per_million": 0.5}}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    assert main(["estimate", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "domain seeds:" and "[assumed" not in lines[1]
    # the annotator has no price: its 0.00 is said to be unknown; the priced generator is not named
    notes = [line for line in lines if line.startswith("note: no price set")]
    assert notes == [
        "note: no price set for annotator: a cost of 0.00 there means unknown, not free (set the "
        "role's `price: {prompt_usd_per_million: ..., completion_usd_per_million: ...}`)"
    ]

    result = estimate(
        parse_config(
            {
                **data,
                "domains": [
                    {
                        **data["domains"][0],
                        "corpus": {"path": "org/unreadable-corpus", "format": "hub"},
                    }
                ],
            }
        )
    )
    assert result["domains"][0]["assumed"] and result["unpriced_roles"] == ["annotator"]
    table = format_table(result).splitlines()
    assert table[0] == "domain seeds (assumed where the corpus could not be read):"
    assert "[assumed: seeds, seed length, document length]" in table[1]


def test_estimate_cli_on_the_paper_recipe(capsys, tmp_path):
    config = load_config(REPO / "pipelines/configs/bright-paper.yaml")
    assert len(config.domains) == 12 and config.mining.n_candidates == 100
    assert (
        main(
            [
                "estimate",
                str(REPO / "pipelines/configs/bright-paper.yaml"),
                "--json",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "annotation" in out and "shared by the query's judgements" in out
    result = json.loads((tmp_path / "e.json").read_text())
    expected = result["expected"]
    # the paper's scale: ~120k queries, ~12M judgements (+5% re-asks)
    assert expected["stages"]["annotation"]["calls"] == pytest.approx(12_600_000, rel=0.01)
    assert 5e9 < expected["stages"]["annotation"]["prompt_tokens"] < 5e10
    assert 100 < expected["total"]["cost_usd"] < 100_000
    assert 0.3 < result["annotation_prefix"]["shared_prefix_share"] < 0.95


def test_shared_prefix_report_on_real_annotation_prompts(local_model_dir):
    from transformers import AutoTokenizer

    step = AnnotateRelevance(name="annotate", llm=ScriptedLLM(model="none"))
    rows = [
        {
            "domain": "leetcode",
            "query": "Merge k sorted linked lists into one sorted list.",
            "doc_text": text,
        }
        for _, text in DOCS[2:6]
    ] + [{"domain": "biology", "query": "Why do cells divide?", "doc_text": DOCS[0][1]}]
    counter = tokenizer_counter(AutoTokenizer.from_pretrained(local_model_dir))
    report = annotation_prefix_report(rows, step.render, counter)
    assert report["judgements"] == 5
    # 4 leetcode judgements share everything up to the document; the lone biology one nothing
    prompts = [step.render(row) for row in rows[:4]]
    full = sum(counter(p) for p in prompts) + counter(step.render(rows[4]))
    assert report["prompt_tokens_per_judgement"] == round(full / 5, 1)
    assert 0.4 < report["shared_prefix_share"] < 0.9
    assert step.render(rows[0]).index(rows[0]["doc_text"]) > step.render(rows[0]).index(
        rows[0]["query"]
    )


def test_shared_prefix_report_arithmetic():
    count = chars_per_token_counter(1.0)
    report = shared_prefix_report({"q": ["abcX", "abcYY"], "r": ["zz"]}, count)
    assert report == {
        "judgements": 3,
        "prompt_tokens_per_judgement": round((4 + 5 + 2) / 3, 1),
        "shared_prefix_tokens_per_judgement": round((3 + 3) / 3, 1),
        "shared_prefix_share": round(6 / 11, 3),
    }

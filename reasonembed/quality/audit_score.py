"""The human audit's score: how often the LLM judge agrees with the reviewers of an audit sample.

`score_reviews(output_dir, review_paths)` reads DIR/audit/sample.json (`reasonembed audit
sample`, read by reasonembed.quality.audit_sample.read_audit_sample) and the review files the report page exported, and returns the score.json dict;
`write_audit_score` writes it to DIR/audit/score.json with a readable DIR/audit/score.md;
`read_audit_score` reads it back (the dataset card does). The file contract is the one the
sampler and the page share (format names below):

- a review is refused, in one line naming the file and the field, when its format, config_hash,
  seed or sample_digest differs from sample.json's, when it marks a pair the sample lacks or
  with another mark than relevant / not_relevant / unsure, when its reviewer is empty, or when
  another file is by the same reviewer;
- the judge's label of a pair is positive when its score >= the sample's positive_threshold;
  human review is the reference ("relevant" positive, "not_relevant" negative); "unsure" and
  unmarked pairs are left out of the figures and counted;
- "overall" and "per_domain" pool every (reviewer, pair) mark; "per_reviewer" is one reviewer's;
  "inter_reviewer" compares two reviewers on the pairs both marked relevant / not_relevant;
- proportions come with 95% Wilson score intervals (`wilson_interval`); agreement beyond chance
  is Cohen's kappa (`cohen_kappa`). Both are written out here (a few lines each, exact integer
  arithmetic for kappa) rather than imported from scipy / scikit-learn. An empty denominator, or
  a kappa whose expected agreement is 1, is null: the JSON never holds NaN.
"""

from __future__ import annotations

import json
import math
from itertools import combinations
from pathlib import Path

from reasonembed.data.output import write_json, write_text
from reasonembed.data.textio import read_utf8
from reasonembed.errors import UserError
from reasonembed.quality.audit_sample import AUDIT_DIR, SAMPLE_FILE, read_audit_sample
from reasonembed.quality.browse_items import REVIEW_FORMAT

SCORE_FILE = "score.json"
SCORE_MARKDOWN = "score.md"
SCORE_FORMAT = "reasonembed-audit-score/1"
# a review's mark -> the human label (True: relevant, False: not relevant, None: left out)
MARKS = {"relevant": True, "not_relevant": False, "unsure": None}
Z_95 = 1.959963984540054  # the standard normal's 0.975 quantile
# the fields a review copies from sample.json, and what a difference means
SAMPLE_FIELDS = {
    "config_hash": "another dataset",
    "seed": "another sample",
    "sample_digest": "another sample",
}


def audit_dir(output_dir: str | Path) -> Path:
    """DIR/audit: the audit sample, and the score once written."""
    return Path(output_dir) / AUDIT_DIR


# --- the statistics ------------------------------------------------------------------------
def wilson_interval(successes: int, n: int, z: float = Z_95) -> dict:
    """{"value", "low", "high", "n"}: the share successes/n and its Wilson score interval
    (centre (p + z²/2n) / (1 + z²/n), half-width z/(1 + z²/n) * sqrt(p(1-p)/n + z²/4n²));
    value and bounds are None when n is 0."""
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    p = successes / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return {"value": p, "low": max(0.0, centre - half), "high": min(1.0, centre + half), "n": n}


def cohen_kappa(labels: list[tuple[bool, bool]]) -> float | None:
    """Cohen's kappa of two raters' binary labels: (p_o - p_e) / (1 - p_e), with p_o the observed
    agreement and p_e the agreement expected from each rater's own positive rate; None when
    there is no pair or p_e is 1 (both raters gave one and the same label to every pair)."""
    n = len(labels)
    both = sum(1 for a, b in labels if a and b)
    first = sum(1 for a, _ in labels if a)
    second = sum(1 for _, b in labels if b)
    neither = sum(1 for a, b in labels if not a and not b)
    # times n²: p_o·n² = n·(both + neither), p_e·n² = first·second + (n - first)·(n - second)
    expected = first * second + (n - first) * (n - second)
    if n == 0 or expected == n * n:
        return None
    return (n * (both + neither) - expected) / (n * n - expected)


def agreement(labels: list[tuple[bool, bool]], unsure: int = 0, unmarked: int = 0) -> dict:
    """The figures of (judge, human) labels: pairs, agreed, unsure, unmarked, kappa, and the
    precision and recall of the judge's positives and negatives against the human labels."""
    tp = sum(1 for judge, human in labels if judge and human)
    fp = sum(1 for judge, human in labels if judge and not human)
    fn = sum(1 for judge, human in labels if not judge and human)
    tn = sum(1 for judge, human in labels if not judge and not human)
    return {
        "pairs": len(labels),
        "agreed": tp + tn,
        "unsure": unsure,
        "unmarked": unmarked,
        "kappa": cohen_kappa(labels),
        "positive": {
            "precision": wilson_interval(tp, tp + fp),
            "recall": wilson_interval(tp, tp + fn),
        },
        "negative": {
            "precision": wilson_interval(tn, tn + fn),
            "recall": wilson_interval(tn, tn + fp),
        },
    }


# --- the files -----------------------------------------------------------------------------
def _load_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(read_utf8(path, what))
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON ({error}); give the {what} as written") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a {what} (a JSON object was expected)")
    return data


def read_review(path: Path, sample: dict) -> tuple[str, dict[str, bool | None]]:
    """(reviewer, {pair_id: True | False | None}) of one review file, checked against the sample
    (see the module docstring); UserError naming the file and the field otherwise."""
    review = _load_json(path, "review file")
    if review.get("format") != REVIEW_FORMAT:
        raise UserError(
            f"{path}: format {review.get('format')!r} is not {REVIEW_FORMAT!r}: not a review "
            "exported from the report page's audit queue"
        )
    for field, meaning in SAMPLE_FIELDS.items():
        if review.get(field) != sample.get(field):
            raise UserError(
                f"{path}: {field} {review.get(field)!r} differs from the audit sample's "
                f"{sample.get(field)!r}: a review of {meaning}; score it against its own "
                "dataset and sample"
            )
    reviewer = review.get("reviewer")
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise UserError(
            f"{path}: reviewer is empty; set the reviewer's name in the page and export again"
        )
    marks = review.get("marks")
    if not isinstance(marks, dict):
        raise UserError(f"{path}: marks is not an object of pair_id -> mark")
    pairs = {pair["pair_id"] for pair in sample["pairs"]}
    labels = {}
    for pair_id, mark in marks.items():
        if pair_id not in pairs:
            raise UserError(
                f"{path}: marks: pair_id {pair_id!r} is not in the audit sample; "
                "export the review again from the page of this sample"
            )
        if mark not in MARKS:
            raise UserError(
                f"{path}: marks: {pair_id!r} is marked {mark!r}; give one of {', '.join(MARKS)}"
            )
        labels[pair_id] = MARKS[mark]
    return reviewer.strip(), labels


def score_reviews(output_dir: str | Path, review_paths: list[Path]) -> dict:
    """The score.json dict of the reviews against DIR/audit/sample.json (module docstring)."""
    output_dir = Path(output_dir)
    sample = read_audit_sample(output_dir)
    if not review_paths:
        raise UserError("no review file given; pass the file(s) exported from the report page")
    reviews: dict[str, dict[str, bool | None]] = {}
    files: dict[str, Path] = {}
    for path in map(Path, review_paths):
        reviewer, labels = read_review(path, sample)
        if reviewer in reviews:
            raise UserError(
                f"{path}: reviewer {reviewer!r} also wrote {files[reviewer]}: give one file per "
                "reviewer (the page's last export holds all of a reviewer's marks)"
            )
        reviews[reviewer], files[reviewer] = labels, path
    threshold = sample["positive_threshold"]
    reviewers = sorted(reviews)
    domains = sorted({pair["domain"] for pair in sample["pairs"]})
    groups = (
        {("overall", None)}
        | {("domain", d) for d in domains}
        | {("reviewer", r) for r in reviewers}
    )
    labels = {group: [] for group in groups}
    left_out = {group: {"unsure": 0, "unmarked": 0} for group in groups}
    for reviewer in reviewers:
        for pair in sample["pairs"]:
            marked = pair["pair_id"] in reviews[reviewer]
            human = reviews[reviewer].get(pair["pair_id"])
            for key in (("overall", None), ("domain", pair["domain"]), ("reviewer", reviewer)):
                if human is not None:
                    labels[key].append((pair["llm_score"] >= threshold, human))
                else:
                    left_out[key]["unsure" if marked else "unmarked"] += 1

    def figures(key):
        return agreement(labels[key], **left_out[key])

    return {
        "format": SCORE_FORMAT,
        "config_hash": sample["config_hash"],
        "seed": sample["seed"],
        "sample_digest": sample["sample_digest"],
        "reviewers": reviewers,
        "overall": figures(("overall", None)),
        "per_domain": {domain: figures(("domain", domain)) for domain in domains},
        "per_reviewer": {reviewer: figures(("reviewer", reviewer)) for reviewer in reviewers},
        "inter_reviewer": [
            _between(first, second, reviews[first], reviews[second])
            for first, second in combinations(reviewers, 2)
        ],
    }


def _between(first: str, second: str, a: dict, b: dict) -> dict:
    both = [
        (a[pair_id], b[pair_id])
        for pair_id in sorted(set(a) & set(b))
        if a[pair_id] is not None and b[pair_id] is not None
    ]
    return {
        "reviewers": [first, second],
        "pairs": len(both),
        "agreed": sum(1 for x, y in both if x == y),
        "kappa": cohen_kappa(both),
    }


def write_audit_score(output_dir: str | Path, review_paths: list[Path]) -> Path:
    """Score the reviews (`score_reviews`) into DIR/audit/score.json and score.md; the folder."""
    score = score_reviews(output_dir, review_paths)
    threshold = read_audit_sample(output_dir)["positive_threshold"]
    folder = audit_dir(output_dir)
    write_json(score, folder / SCORE_FILE)
    write_text(score_markdown(score, threshold), folder / SCORE_MARKDOWN)
    return folder


def read_audit_score(output_dir: str | Path) -> dict | None:
    """DIR/audit/score.json, or None when there is none; UserError when it is not a score."""
    path = audit_dir(output_dir) / SCORE_FILE
    if not path.is_file():
        return None
    score = _load_json(path, "audit score")
    if score.get("format") != SCORE_FORMAT:
        raise UserError(
            f"{path}: format {score.get('format')!r} is not {SCORE_FORMAT!r}; "
            f"run `reasonembed audit score {output_dir} REVIEW.json ...` again"
        )
    return score


# --- the words -----------------------------------------------------------------------------
def sample_size(score: dict) -> int:
    """The sample's pair count: every reviewer accounts for each pair once (marked, unsure or
    unmarked)."""
    overall = score["overall"]
    return (overall["pairs"] + overall["unsure"] + overall["unmarked"]) // max(
        1, len(score["reviewers"])
    )


def format_kappa(kappa: float | None) -> str:
    return "n/a" if kappa is None else f"{kappa:.3f}"


def format_interval(entry: dict) -> str:
    """'0.833 [0.552, 0.953] (n=12)', or 'n/a (n=0)'."""
    if entry["value"] is None:
        return "n/a (n=0)"
    return f"{entry['value']:.3f} [{entry['low']:.3f}, {entry['high']:.3f}] (n={entry['n']})"


def summary_line(score: dict) -> str:
    overall = score["overall"]
    return (
        f"the judge agreed with human review on {overall['agreed']} of {overall['pairs']} pairs "
        f"(kappa {format_kappa(overall['kappa'])})"
    )


def score_markdown(score: dict, positive_threshold: int) -> str:
    """score.md: the summary line and the figures as tables."""
    overall = score["overall"]
    lines = [
        "# Human audit of the LLM judge",
        "",
        f"Sample: {sample_size(score)} pairs, seed {score['seed']}, digest `{score['sample_digest'][:12]}` "
        f"(`{SAMPLE_FILE}`); config hash `{score['config_hash']}`; "
        f"reviewers: {', '.join(score['reviewers'])}.",
        "",
        f"{summary_line(score)[0].upper()}{summary_line(score)[1:]}; left out: "
        f"{overall['unsure']} marked unsure, {overall['unmarked']} unmarked (a pair counts "
        "once per reviewer). The judge's "
        f"label is positive when its score is {positive_threshold} or more; human review is "
        "the reference. Proportions with 95% Wilson intervals and their denominators.",
        "",
        "| scope | pairs | agreed | kappa | positive precision | positive recall "
        "| negative precision | negative recall | unsure | unmarked |",
        "|---|---:|---:|---:|---|---|---|---|---:|---:|",
    ]
    scopes = [("overall", overall)]
    scopes += [(f"domain {d}", figures) for d, figures in score["per_domain"].items()]
    scopes += [(f"reviewer {r}", figures) for r, figures in score["per_reviewer"].items()]
    for name, figures in scopes:
        cells = [
            format_interval(figures[side][measure])
            for side in ("positive", "negative")
            for measure in ("precision", "recall")
        ]
        lines.append(
            f"| {name} | {figures['pairs']} | {figures['agreed']} | "
            f"{format_kappa(figures['kappa'])} | {' | '.join(cells)} | {figures['unsure']} "
            f"| {figures['unmarked']} |"
        )
    if score["inter_reviewer"]:
        lines += [
            "",
            "Between reviewers (pairs both marked relevant or not relevant):",
            "",
            "| reviewers | pairs | agreed | kappa |",
            "|---|---:|---:|---:|",
        ]
        for entry in score["inter_reviewer"]:
            lines.append(
                f"| {' / '.join(entry['reviewers'])} | {entry['pairs']} | {entry['agreed']} | "
                f"{format_kappa(entry['kappa'])} |"
            )
    return "\n".join(lines) + "\n"

"""The audit score against figures computed by hand, and every refusal of a review file.

The sample (positive_threshold 3) holds eight pairs; the judge's label is positive for scores
3-5 (P) and negative for 1-2 (N):

    pair  domain    score judge   alice          bob
    b1    biology   5     P       relevant       relevant
    b2    biology   4     P       not_relevant   relevant
    b3    biology   3     P       relevant       not_relevant
    b4    biology   1     N       not_relevant   not_relevant
    l1    leetcode  5     P       relevant       relevant
    l2    leetcode  2     N       relevant       not_relevant
    l3    leetcode  1     N       not_relevant   (unmarked)
    l4    leetcode  2     N       unsure         not_relevant

Kappa of a 2x2 table with n pairs: p_o = agreed / n, p_e = (judge P * human P + judge N *
human N) / n², kappa = (p_o - p_e) / (1 - p_e). Wilson 95% bounds, written here in the
textbook form (the module writes it as centre ± half-width):
(2k + z² ± z * sqrt(z² + 4k(n - k)/n)) / (2(n + z²)), z = 1.959963984540054. The decimal
bounds quoted below are scipy.stats.binomtest(k, n).proportion_ci(method="wilson").
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from reasonembed.errors import UserError
from reasonembed.quality.audit_score import score_reviews, write_audit_score
from tests.support.audit_reviews import review_file

Z = 1.959963984540054
PAIRS = {
    "b1": ("biology", 5),
    "b2": ("biology", 4),
    "b3": ("biology", 3),
    "b4": ("biology", 1),
    "l1": ("leetcode", 5),
    "l2": ("leetcode", 2),
    "l3": ("leetcode", 1),
    "l4": ("leetcode", 2),
}
ALICE = {
    "b1": "relevant",
    "b2": "not_relevant",
    "b3": "relevant",
    "b4": "not_relevant",
    "l1": "relevant",
    "l2": "relevant",
    "l3": "not_relevant",
    "l4": "unsure",
}
BOB = {
    "b1": "relevant",
    "b2": "relevant",
    "b3": "not_relevant",
    "b4": "not_relevant",
    "l1": "relevant",
    "l2": "not_relevant",
    "l4": "not_relevant",
}


def wilson(k: int, n: int) -> tuple[float, float]:
    root = Z * math.sqrt(Z * Z + 4 * k * (n - k) / n)
    return (2 * k + Z * Z - root) / (2 * (n + Z * Z)), (2 * k + Z * Z + root) / (2 * (n + Z * Z))


def pid(key: str) -> str:
    domain = PAIRS[key][0]
    return f"{domain}-s{key[1]}/{domain}/doc-{key}"  # doc ids may hold "/" too


def write_sample(folder: Path, seed: int = 0) -> Path:
    """DIR/audit/sample.json as the audit file contract describes it."""
    pairs = [
        {
            "pair_id": pid(key),
            "sample_id": pid(key).split("/", 1)[0],
            "doc_id": pid(key).split("/", 1)[1],
            "domain": domain,
            "llm_score": score,
            "stratum": f"{domain}|{score}",
        }
        for key, (domain, score) in PAIRS.items()
    ]
    digest = hashlib.sha256("\n".join(sorted(p["pair_id"] for p in pairs)).encode()).hexdigest()
    sample = {
        "format": "reasonembed-audit-sample/1",
        "config_hash": "cfg0000000000001",
        "seed": seed,
        "n_requested": 8,
        "positive_threshold": 3,
        "sample_digest": digest,
        "created_at": "2026-12-04T18:00:00Z",
        "pairs": pairs,
    }
    path = folder / "audit" / "sample.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sample))
    return folder


def write_review(folder: Path, reviewer: str, marks: dict[str, str], changes=None) -> Path:
    """A review file as the page exports it; `changes`: fields replaced after that."""
    sample = json.loads((folder / "audit" / "sample.json").read_text())
    marks = {pid(key): mark for key, mark in marks.items()}
    review = {**review_file(sample, reviewer, marks), **(changes or {})}
    path = folder / f"review-{reviewer}-{len(list(folder.glob('review-*')))}.json"
    path.write_text(json.dumps(review))
    return path


def assert_share(entry: dict, k: int, n: int) -> None:
    low, high = wilson(k, n)
    assert entry["n"] == n
    assert entry["value"] == pytest.approx(k / n, abs=1e-6)
    assert entry["low"] == pytest.approx(low, abs=1e-6)
    assert entry["high"] == pytest.approx(high, abs=1e-6)


def test_one_reviewer_matches_the_hand_computed_figures(tmp_path):
    folder = write_sample(tmp_path)
    score = score_reviews(folder, [write_review(folder, "alice", ALICE)])
    overall = score["overall"]
    # alice vs the judge: TP b1 b3 l1 = 3, FP b2 = 1, FN l2 = 1, TN b4 l3 = 2; l4 unsure
    assert (overall["pairs"], overall["agreed"], overall["unsure"], overall["unmarked"]) == (
        7,
        5,
        1,
        0,
    )
    # p_o = 5/7; judge P 4, human P 4: p_e = (4*4 + 3*3)/49 = 25/49
    # kappa = (35/49 - 25/49) / (24/49) = 10/24
    assert overall["kappa"] == pytest.approx(10 / 24, abs=1e-6)
    # precision of positives TP/(TP+FP) = 3/4: Wilson [0.300642, 0.954413]
    assert_share(overall["positive"]["precision"], 3, 4)
    assert overall["positive"]["precision"]["low"] == pytest.approx(0.30064184258, abs=1e-6)
    assert overall["positive"]["precision"]["high"] == pytest.approx(0.95441273919, abs=1e-6)
    assert_share(overall["positive"]["recall"], 3, 4)  # TP/(TP+FN)
    # negatives: precision TN/(TN+FN) = 2/3, recall TN/(TN+FP) = 2/3: [0.207660, 0.938508]
    assert_share(overall["negative"]["precision"], 2, 3)
    assert_share(overall["negative"]["recall"], 2, 3)
    assert overall["negative"]["recall"]["low"] == pytest.approx(0.20765960080, abs=1e-6)
    assert overall["negative"]["recall"]["high"] == pytest.approx(0.93850805528, abs=1e-6)

    # per domain: biology TP b1 b3, FP b2, TN b4: p_o = 3/4, p_e = (3*2 + 1*2)/16 = 1/2,
    # kappa = (3/4 - 1/2) / (1/2) = 1/2
    biology = score["per_domain"]["biology"]
    assert (biology["pairs"], biology["agreed"], biology["unsure"]) == (4, 3, 0)
    assert biology["kappa"] == pytest.approx(0.5, abs=1e-6)
    assert_share(biology["positive"]["precision"], 2, 3)
    assert_share(biology["positive"]["recall"], 2, 2)
    assert_share(biology["negative"]["precision"], 1, 1)
    assert_share(biology["negative"]["recall"], 1, 2)
    # leetcode TP l1, FN l2, TN l3 (l4 unsure): p_o = 2/3, p_e = (1*2 + 2*1)/9 = 4/9,
    # kappa = (6/9 - 4/9) / (5/9) = 2/5
    leetcode = score["per_domain"]["leetcode"]
    assert (leetcode["pairs"], leetcode["agreed"], leetcode["unsure"]) == (3, 2, 1)
    assert leetcode["kappa"] == pytest.approx(0.4, abs=1e-6)
    assert score["per_reviewer"]["alice"] == overall
    assert score["reviewers"] == ["alice"] and score["inter_reviewer"] == []


def test_two_reviewers_pool_and_compare(tmp_path):
    folder = write_sample(tmp_path)
    reviews = [write_review(folder, "bob", BOB), write_review(folder, "alice", ALICE)]
    score = score_reviews(folder, reviews)
    assert score["reviewers"] == ["alice", "bob"]
    # bob: TP b1 b2 l1 = 3, FP b3 = 1, FN 0, TN b4 l2 l4 = 3; l3 unmarked
    # p_o = 6/7, judge P 4, human P 3: p_e = (4*3 + 3*4)/49 = 24/49, kappa = 18/25
    bob = score["per_reviewer"]["bob"]
    assert (bob["pairs"], bob["agreed"], bob["unsure"], bob["unmarked"]) == (7, 6, 0, 1)
    assert bob["kappa"] == pytest.approx(18 / 25, abs=1e-6)
    assert_share(bob["positive"]["recall"], 3, 3)
    assert_share(bob["negative"]["precision"], 3, 3)

    # pooled: TP 6, FP 2, FN 1, TN 5 over 14 marks; one unsure (alice l4), one unmarked (bob l3)
    # p_o = 11/14, judge P 8, human P 7: p_e = (8*7 + 6*7)/196 = 1/2, kappa = 2*11/14 - 1 = 4/7
    overall = score["overall"]
    assert (overall["pairs"], overall["agreed"], overall["unsure"], overall["unmarked"]) == (
        14,
        11,
        1,
        1,
    )
    assert overall["kappa"] == pytest.approx(4 / 7, abs=1e-6)
    assert_share(overall["positive"]["precision"], 6, 8)  # [0.409275, 0.928521]
    assert overall["positive"]["precision"]["low"] == pytest.approx(0.40927543031, abs=1e-6)
    assert_share(overall["positive"]["recall"], 6, 7)  # [0.486872, 0.974320]
    assert overall["positive"]["recall"]["high"] == pytest.approx(0.97432037566, abs=1e-6)
    assert_share(overall["negative"]["precision"], 5, 6)  # [0.436497, 0.969947]
    assert_share(overall["negative"]["recall"], 5, 7)  # [0.358934, 0.917781]
    # biology pooled: TP 4, FP 2, TN 2: p_o = 6/8, p_e = (6*4 + 2*4)/64 = 1/2, kappa = 1/2
    assert score["per_domain"]["biology"]["kappa"] == pytest.approx(0.5, abs=1e-6)
    # leetcode pooled: TP 2, FN 1, TN 3: p_o = 5/6, p_e = (2*3 + 4*3)/36 = 1/2, kappa = 2/3
    leetcode = score["per_domain"]["leetcode"]
    assert (leetcode["pairs"], leetcode["unsure"], leetcode["unmarked"]) == (6, 1, 1)
    assert leetcode["kappa"] == pytest.approx(2 / 3, abs=1e-6)

    # alice vs bob on the pairs both marked: b1 b2 b3 b4 l1 l2 (l3: bob unmarked; l4: alice
    # unsure); agreed b1 b4 l1 = 3; alice P 4, bob P 3: p_o = 1/2, p_e = (4*3 + 2*3)/36 = 1/2,
    # kappa = 0
    assert score["inter_reviewer"] == [
        {"reviewers": ["alice", "bob"], "pairs": 6, "agreed": 3, "kappa": pytest.approx(0.0)}
    ]


def test_empty_denominators_and_undefined_kappa_are_null_not_nan(tmp_path):
    folder = write_sample(tmp_path)
    review = write_review(folder, "carol", {"b1": "relevant", "l4": "unsure"})
    out = write_audit_score(folder, [review])
    text = (out / "score.json").read_text()

    def refuse(constant):
        raise AssertionError(f"{constant} in score.json")

    score = json.loads(text, parse_constant=refuse)
    overall = score["overall"]
    # one pair, both positive: p_e = 1, kappa undefined; no judge negative, no human negative
    assert overall["kappa"] is None and (overall["pairs"], overall["unmarked"]) == (1, 6)
    assert overall["negative"]["precision"] == {"value": None, "low": None, "high": None, "n": 0}
    assert score["per_domain"]["leetcode"]["pairs"] == 0
    assert score["per_domain"]["leetcode"]["positive"]["recall"]["value"] is None
    markdown = (out / "score.md").read_text()
    assert "The judge agreed with human review on 1 of 1 pairs (kappa n/a)" in markdown
    assert "| domain leetcode | 0 | 0 | n/a | n/a (n=0) |" in markdown


def test_markdown_holds_the_tables(tmp_path):
    folder = write_sample(tmp_path)
    out = write_audit_score(
        folder, [write_review(folder, "alice", ALICE), write_review(folder, "bob", BOB)]
    )
    markdown = (out / "score.md").read_text()
    assert "The judge agreed with human review on 11 of 14 pairs (kappa 0.571)" in markdown
    assert "Sample: 8 pairs, seed 0" in markdown and "reviewers: alice, bob" in markdown
    assert "| overall | 14 | 11 | 0.571 | 0.750 [0.409, 0.929] (n=8) |" in markdown
    assert "| alice / bob | 6 | 3 | 0.000 |" in markdown


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"format": "something-else/1"}, "format"),
        ({"config_hash": "cfg9999999999999"}, "config_hash"),
        ({"seed": 7}, "seed"),
        ({"sample_digest": "0" * 64}, "sample_digest"),
        ({"reviewer": "  "}, "reviewer"),
        ({"marks": ["b1"]}, "marks"),
    ],
)
def test_a_review_of_another_sample_is_refused_naming_file_and_field(tmp_path, change, fragment):
    folder = write_sample(tmp_path)
    review = write_review(folder, "alice", ALICE, change)
    with pytest.raises(UserError) as error:
        score_reviews(folder, [review])
    message = str(error.value)
    assert str(review) in message and fragment in message and "\n" not in message


def test_unknown_pairs_bad_marks_and_double_reviewers_are_refused(tmp_path):
    folder = write_sample(tmp_path)
    unknown = write_review(folder, "alice", ALICE)
    data = json.loads(unknown.read_text())
    data["marks"]["biology-s9/biology/doc-b9"] = "relevant"
    unknown.write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"pair_id 'biology-s9/biology/doc-b9' is not in the"):
        score_reviews(folder, [unknown])

    bad_mark = write_review(folder, "alice", {**ALICE, "b1": "maybe"})
    with pytest.raises(UserError, match=r"is marked 'maybe'; give one of relevant, not_relevant"):
        score_reviews(folder, [bad_mark])

    first, second = write_review(folder, "alice", ALICE), write_review(folder, "alice", BOB)
    with pytest.raises(UserError) as error:
        score_reviews(folder, [first, second])
    assert str(second) in str(error.value) and str(first) in str(error.value)

    broken = folder / "broken.json"
    broken.write_text('{"format": ')
    with pytest.raises(UserError, match=r"broken.json: not valid JSON"):
        score_reviews(folder, [broken])


def test_no_sample_is_refused_with_the_command_to_run(tmp_path):
    review = tmp_path / "review.json"
    review.write_text("{}")
    with pytest.raises(UserError, match=r"run `reasonembed audit sample .*` first"):
        score_reviews(tmp_path, [review])

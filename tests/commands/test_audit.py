"""`reasonembed audit sample` and `reasonembed audit score` on a real generate output folder, as
a user runs them (subprocesses): sample, two reviewers' files, score; reviews of another sample
or another dataset refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from reasonembed.quality.audit_sample import read_audit_sample
from tests.support.audit_reviews import expected_agreement, write_reviews
from tests.support.factory_output import write_output

CLI = [sys.executable, "-m", "reasonembed.cli"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


def _one_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


def test_sample_review_and_score_from_the_command_line(tmp_path):
    folder = write_output(tmp_path / "out", domains={"biology": 3, "leetcode": 2})
    sampled = _run("audit", "sample", str(folder), "--n", "16", "--seed", "1")
    assert sampled.returncode == 0, sampled.stderr
    sample = read_audit_sample(folder)
    assert len(sample["pairs"]) == 16 and sample["seed"] == 1

    reviews = write_reviews(
        folder, tmp_path / "downloads", alice={}, bob={"disagree_every": 3, "unsure_every": 5}
    )
    scored = _run("audit", "score", str(folder), *map(str, reviews))
    assert scored.returncode == 0, scored.stderr
    agreed, pairs = expected_agreement(sample, [json.loads(p.read_text()) for p in reviews])
    score = json.loads((folder / "audit" / "score.json").read_text())
    assert (score["overall"]["agreed"], score["overall"]["pairs"]) == (agreed, pairs)
    assert 0 < agreed < pairs  # the reviewers disagree with the judge on some pairs
    kappa = f"{score['overall']['kappa']:.3f}"
    assert (
        f"the judge agreed with human review on {agreed} of {pairs} pairs (kappa {kappa}); "
        f"written to {folder / 'audit'}/" in scored.stderr
    )
    assert score["reviewers"] == ["alice", "bob"] and len(score["inter_reviewer"]) == 1
    assert set(score["per_domain"]) == {"biology", "leetcode"}
    assert "| overall |" in (folder / "audit" / "score.md").read_text()

    # a new sample (another seed): the old reviews are of another sample
    assert _run("audit", "sample", str(folder), "--n", "16", "--seed", "2").returncode == 0
    error = _one_error(_run("audit", "score", str(folder), str(reviews[0])))
    assert str(reviews[0]) in error and "seed 1 differs from the audit sample's 2" in error


def test_a_review_of_another_dataset_is_refused(tmp_path):
    first = write_output(tmp_path / "first", revision=1)
    second = write_output(tmp_path / "second", revision=2)
    for folder in (first, second):
        assert _run("audit", "sample", str(folder), "--n", "8").returncode == 0
    (review,) = write_reviews(second, tmp_path / "downloads", carol={})
    error = _one_error(_run("audit", "score", str(first), str(review)))
    assert str(review) in error and "config_hash 'cfg0000000000002'" in error
    assert "another dataset" in error
    assert not (first / "audit" / "score.json").exists()


def test_score_before_sample_says_what_to_run(tmp_path):
    folder = write_output(tmp_path / "out")
    review = tmp_path / "review.json"
    review.write_text("{}")
    error = _one_error(_run("audit", "score", str(folder), str(review)))
    assert f"run `reasonembed audit sample {folder}` first" in error


def test_help_shows_both_actions_with_examples():
    result = _run("audit", "--help")
    assert result.returncode == 0
    assert "sample" in result.stdout and "score" in result.stdout
    assert "reasonembed audit score out/demo review-alice-1a2b3c4d.json" in result.stdout
    assert "audit" in _run("--help").stdout
    assert _run("audit").returncode == 2  # an action is required (argparse's usage error)


def test_no_review_file_is_a_usage_error(tmp_path):
    result = _run("audit", "score", str(Path(tmp_path)))
    assert result.returncode == 2 and "REVIEW.json" in result.stderr
